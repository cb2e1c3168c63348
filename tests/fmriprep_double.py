"""A test double of the fMRIPrep container programs (``fmriprep-docker`` and ``apptainer``).

Docker cannot run on the test machines, so the workflow tests put an executable of this module first on
PATH under the container program's name.  It parses the command line as the real program would, records
it (``<output_dir>/.double_calls.jsonl``), and writes what fMRIPrep would write for the participant:
every BOLD run's 91k dtseries (random data with the run's TR and volume count) and confounds table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def write_script(folder: Path, program: str) -> Path:
    """An executable ``folder/program`` that runs :func:`main` with this Python."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / program
    path.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        f"from tests.fmriprep_double import main\nsys.exit(main({program!r}, sys.argv[1:]))\n"
    )
    path.chmod(0o755)
    return path


def _fmriprep_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fmriprep")
    p.add_argument("bids_dir")
    p.add_argument("output_dir")
    p.add_argument("analysis_level", choices=["participant"])
    p.add_argument("--participant-label", nargs="+", required=True)
    p.add_argument("--output-spaces", nargs="+", required=True)
    p.add_argument("--cifti-output", choices=["91k", "170k"], required=True)
    p.add_argument("--fs-license-file", required=True)
    p.add_argument("--nthreads", type=int, required=True)
    p.add_argument("--omp-nthreads", type=int, required=True)
    p.add_argument("--mem-mb", type=int, required=True)
    p.add_argument("-w", "--work-dir", required=True)
    p.add_argument("--notrack", action="store_true")
    return p


def main(program: str, argv: list[str]) -> int:
    if program == "fmriprep-docker":
        wrapper = argparse.ArgumentParser(prog=program, add_help=False)
        wrapper.add_argument("-i", "--image", required=True)
        wrapper.add_argument("--no-tty", action="store_true")
        wrapped, rest = wrapper.parse_known_args(argv)
        extra = {"image": wrapped.image, "no_tty": wrapped.no_tty}
    elif program == "apptainer":
        if argv[:1] != ["run"]:
            print(f"{program}: only 'run' is supported by the double", file=sys.stderr)
            return 2
        wrapper = argparse.ArgumentParser(prog=program, add_help=False)
        wrapper.add_argument("--cleanenv", action="store_true")
        wrapper.add_argument("--bind", action="append", default=[])
        wrapper.add_argument("image")
        wrapped, rest = wrapper.parse_known_args(argv[1:])
        extra = {"image": wrapped.image, "binds": wrapped.bind, "cleanenv": wrapped.cleanenv}
        for path in [rest[0], rest[1]]:  # the container sees only what is bound
            if not any(path == b.split(":")[0] for b in wrapped.bind):
                print(f"{program}: {path} is not bound into the container", file=sys.stderr)
                return 3
    else:
        raise ValueError(program)
    known, unknown = _fmriprep_parser().parse_known_args(rest)
    if not Path(known.fs_license_file).is_file():
        print(f"fmriprep: license file {known.fs_license_file} not found", file=sys.stderr)
        return 1
    out = Path(known.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".double_calls.jsonl").open("a") as fh:
        fh.write(json.dumps({"program": program, "argv": argv, "extra_args": unknown, **extra}) + "\n")
    write_derivatives(Path(known.bids_dir), out, known.participant_label)
    print(f"fmriprep (double): finished sub-{' '.join(known.participant_label)}")
    return 0


def write_derivatives(bids_dir: Path, out: Path, subjects: list[str]) -> None:
    import nibabel as nib

    from cinebrain.fmri.grayordinates import N_GRAYORDINATES, write_dtseries

    (out / "dataset_description.json").write_text(json.dumps({
        "Name": "fMRIPrep (test double)", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "fMRIPrep", "Version": "test-double"}],
    }))  # fmt: skip
    rng = np.random.default_rng(0)
    for sub in subjects:
        for bold in sorted((bids_dir / f"sub-{sub}" / "func").glob("*_bold.nii.gz")):
            hdr = nib.load(str(bold)).header
            n, tr = int(hdr.get_data_shape()[3]), float(hdr.get_zooms()[3])
            stem = bold.name.removesuffix("_bold.nii.gz")
            func = out / f"sub-{sub}" / "func"
            func.mkdir(parents=True, exist_ok=True)
            write_dtseries(func / f"{stem}_space-fsLR_den-91k_bold.dtseries.nii",
                           10000 + rng.normal(0, 100, (n, N_GRAYORDINATES)), tr)  # fmt: skip
            motion = {c: rng.normal(0, 0.05, n).cumsum() for c in ["trans_x", "trans_y", "trans_z"]}
            motion |= {c: rng.normal(0, 0.001, n).cumsum() for c in ["rot_x", "rot_y", "rot_z"]}
            table = pd.DataFrame(motion)
            table["framewise_displacement"] = np.r_[np.nan, np.abs(np.diff(table.to_numpy(), axis=0)).sum(1)]
            table.to_csv(func / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", index=False, na_rep="n/a")
            (func / f"{stem}_desc-confounds_timeseries.json").write_text(json.dumps({c: {} for c in table}))
