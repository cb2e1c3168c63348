"""fMRIPrep: the command line for each runner, the derivatives it must leave, and their check.

Runners (config ``fmriprep.runner``):

``docker``
    ``fmriprep-docker`` (PyPI), the official wrapper that maps paths into the ``nipreps/fmriprep`` image.
``apptainer``
    ``apptainer run --cleanenv`` of a configured ``.sif`` image, binding the dataset, output, work
    directory and licence at their own paths, so that the arguments read the same inside and out.
``precomputed``
    nothing runs: the derivatives already exist (the demo, or a dataset released preprocessed).

Whatever the runner, the derivatives are then checked (:func:`check_derivatives`): for every run, the
91k-grayordinate CIFTI with the run's TR and volume count, and the confounds table with one row per
volume.  Every problem is listed in one :class:`FmriprepError`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..settings import setting

RUNNERS = ("docker", "apptainer", "precomputed")
#: The output space fMRIPrep needs for --cifti-output 91k (the subcortical voxels of the grayordinates).
CIFTI_SPACE = "MNI152NLin6Asym:res-2"


class FmriprepError(RuntimeError):
    """fMRIPrep could not run, or its derivatives are missing or wrong; lists (file, problem, fix)."""

    def __init__(self, subject: str, problems: list[tuple[str, str, str]]):
        self.subject = subject
        self.problems = problems
        lines = [f"fMRIPrep derivatives of sub-{subject}: {len(problems)} problem(s)"]
        lines += [f"  - {f}: {p}; fix: {x}" for f, p, x in problems]
        super().__init__("\n".join(lines))


@dataclass
class FmriprepSettings:
    """How the fMRIPrep derivatives come about (rule fmriprep_run)."""

    runner: str = setting("precomputed", "docker (fmriprep-docker), apptainer (apptainer run of image), or "
                          "precomputed (check only)", enum=RUNNERS)  # fmt: skip
    image: str = setting("nipreps/fmriprep:25.2.7", "docker image name (runner docker) or path of the .sif file "
                         "(runner apptainer)")  # fmt: skip
    fs_license: str | None = setting(None, "FreeSurfer license.txt; required by the docker and apptainer runners")
    output_spaces: tuple[str, ...] = setting((CIFTI_SPACE, "T1w"), "fMRIPrep --output-spaces; must include "
                                             f"{CIFTI_SPACE} for --cifti-output 91k", minItems=1,
                                             contains={"const": CIFTI_SPACE})  # fmt: skip
    work_dir: str | None = setting(None, "fMRIPrep work directory (scratch); null puts it under the job's tmpdir")
    extra_args: tuple[str, ...] = setting((), "further fMRIPrep arguments, passed through as given")
    threads: int = setting(8, "threads of the fMRIPrep job (--nthreads); profiles may override with set-threads",
                           minimum=1)  # fmt: skip
    mem_mb: int = setting(32000, "memory of the fMRIPrep job in MB (--mem-mb is this less mem_headroom); profiles "
                          "may override with set-resources", minimum=1000)  # fmt: skip
    mem_headroom: float = setting(0.15, "fraction of the job's memory kept out of fMRIPrep's --mem-mb: nipype's "
                                  "estimates are no cap, and a job above its SLURM memory is killed whole",
                                  minimum=0, exclusiveMaximum=1)  # fmt: skip
    omp_nthreads_max: int = 8  # not a configuration key: --omp-nthreads is min(threads, 8)

    __schema__ = {"if": {"properties": {"runner": {"enum": ["docker", "apptainer"]}}, "required": ["runner"]},
                  "then": {"properties": {"fs_license": {"type": "string"}}, "required": ["fs_license"]}}

    def __post_init__(self):
        if self.runner not in RUNNERS:
            raise ValueError(f"fmriprep.runner is '{self.runner}'; fix: use one of {', '.join(RUNNERS)}")
        if CIFTI_SPACE not in self.output_spaces:
            # --cifti-output 91k resamples subcortical voxels from this space; fMRIPrep adds it silently, we
            # say so instead, so that the config shows what is computed.
            raise ValueError(f"fmriprep.output_spaces must include {CIFTI_SPACE} (needed by --cifti-output 91k); "
                             f"got {self.output_spaces}; fix: add it to the list")  # fmt: skip

    @classmethod
    def from_config(cls, section: dict) -> FmriprepSettings:
        from ..settings import build

        return build(cls, section, "fmriprep")


def build_command(
    settings: FmriprepSettings,
    *,
    bids_dir,
    output_dir,
    subject: str,
    work_dir,
    threads: int,
    mem_mb: int,
) -> list[str]:
    """The fMRIPrep command line for one subject, as a list of arguments (no shell).

    ``threads`` and ``mem_mb`` are the rule's; ``--omp-nthreads`` is ``min(threads, omp_nthreads_max)``
    (fMRIPrep's advice: per-process parallelism beyond 8 threads does not pay).
    """
    if settings.runner == "precomputed":
        raise ValueError("fmriprep.runner is 'precomputed': nothing to run")
    if not settings.fs_license:
        raise ValueError("fmriprep.fs_license is not set: fMRIPrep needs a FreeSurfer licence; fix: set it to the "
                         "path of your license.txt (free from https://surfer.nmr.mgh.harvard.edu/registration.html)")  # fmt: skip
    bids_dir, output_dir, work_dir = (str(Path(p).absolute()) for p in (bids_dir, output_dir, work_dir))
    license_file = str(Path(settings.fs_license).absolute())
    threads = max(1, int(threads))
    fmriprep_args = [
        bids_dir, output_dir, "participant",
        "--participant-label", subject,
        "--output-spaces", *settings.output_spaces,
        "--cifti-output", "91k",
        "--fs-license-file", license_file,
        "--nthreads", str(threads),
        "--omp-nthreads", str(min(threads, settings.omp_nthreads_max)),
        "--mem-mb", str(int(mem_mb)),
        "-w", work_dir,
        "--notrack",
    ]  # fmt: skip
    if settings.runner == "docker":
        # fmriprep-docker maps every path argument into the container itself.
        return ["fmriprep-docker", "--image", settings.image, "--no-tty", *fmriprep_args, *settings.extra_args]
    binds = [f"{bids_dir}:{bids_dir}:ro", output_dir, work_dir, f"{license_file}:{license_file}:ro"]
    bind_args = [a for b in binds for a in ("--bind", b)]
    return ["apptainer", "run", "--cleanenv", *bind_args, settings.image, *fmriprep_args, *settings.extra_args]


def derivative_paths(bold: str, fmriprep_dir) -> dict[str, Path]:
    """The derivatives fMRIPrep writes for a raw BOLD run (path relative to the BIDS root, as inventoried).

    ``sub-01/func/sub-01_task-movie_run-1_bold.nii.gz`` gives, under ``fmriprep_dir``,
    ``sub-01/func/sub-01_task-movie_run-1_space-fsLR_den-91k_bold.dtseries.nii`` and
    ``..._desc-confounds_timeseries.tsv``.
    """
    rel = Path(bold)
    stem = rel.name.split(".")[0].removesuffix("_bold")
    folder = Path(fmriprep_dir) / rel.parent
    return {
        "dtseries": folder / f"{stem}_space-fsLR_den-91k_bold.dtseries.nii",
        "confounds": folder / f"{stem}_desc-confounds_timeseries.tsv",
    }


def confounds_of(dtseries) -> Path:
    """The confounds table fMRIPrep writes next to a run's dtseries (same entities up to ``_space-``)."""
    dtseries = Path(dtseries)
    return dtseries.parent / (dtseries.name.split("_space-")[0] + "_desc-confounds_timeseries.tsv")


def check_derivatives(subject: str, runs: list[dict], fmriprep_dir, root=None) -> list[dict]:
    """Check every run's derivatives; return one record per run, or raise :class:`FmriprepError`.

    ``runs``: dicts with ``run``, ``bold`` (relative to the BIDS root), ``TR`` and ``n_volumes``, and
    ``dtseries``: a grayordinate series the dataset itself ships (relative to ``root``: the cc2017 adapter's;
    it has no confounds table), or empty (fMRIPrep's under ``fmriprep_dir``).
    """
    import pandas as pd

    from .grayordinates import LayoutError, check_layout, open_dtseries

    problems, records = [], []
    for r in runs:
        if r.get("dtseries"):
            dts, conf = Path(root or ".") / r["dtseries"], None
        else:
            paths = derivative_paths(r["bold"], fmriprep_dir)
            dts, conf = paths["dtseries"], paths["confounds"]
        n_problems = len(problems)
        if not dts.exists():
            problems.append((str(dts), "missing", f"run fMRIPrep with --cifti-output 91k for sub-{subject}, or "
                             "point dataset.fmriprep_dir at the derivatives"))  # fmt: skip
        else:
            try:
                data, tr, axis = open_dtseries(dts)
                check_layout(axis, dts)
                if abs(tr - float(r["TR"])) > 1e-3:
                    problems.append((str(dts), f"TR is {tr:g} s but the raw BOLD {r['bold']} has {float(r['TR']):g} s",
                                     "re-run fMRIPrep for this run; check that the file belongs to it"))  # fmt: skip
                if data.shape[0] != int(r["n_volumes"]):
                    problems.append((str(dts), f"{data.shape[0]} volumes but the raw BOLD {r['bold']} has "
                                     f"{int(r['n_volumes'])}", "re-run fMRIPrep for this run (interrupted or "
                                     "mismatched output)"))  # fmt: skip
            except (LayoutError, ValueError) as exc:
                what, _, fix = str(exc).split(": ", 1)[-1].partition("; fix: ")
                problems.append((str(dts), what, fix or "use fMRIPrep's --cifti-output 91k output for this run"))
        if conf is None:
            pass  # the dataset's own series (cc2017): no confounds table
        elif not conf.exists():
            problems.append((str(conf), "missing", f"re-run fMRIPrep for sub-{subject}; it writes the confounds "
                             "table of every run"))  # fmt: skip
        else:
            try:
                n_rows = len(pd.read_csv(conf, sep="\t", usecols=[0]))
            except (ValueError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
                problems.append((str(conf), f"cannot be read as a table ({exc})", "re-run fMRIPrep for this run"))
                n_rows = int(r["n_volumes"])
            if n_rows != int(r["n_volumes"]):
                problems.append((str(conf), f"{n_rows} rows but the run has {int(r['n_volumes'])} volumes",
                                 "re-run fMRIPrep for this run"))  # fmt: skip
        if len(problems) == n_problems:
            records.append({"run": int(r["run"]), "bold": r["bold"], "dtseries": str(dts),
                            "confounds": str(conf) if conf else None,
                            "TR": float(r["TR"]), "n_volumes": int(r["n_volumes"]),
                            "size": dts.stat().st_size, "mtime": dts.stat().st_mtime})  # fmt: skip
    if problems:
        raise FmriprepError(subject, problems)
    return records


#: MB for fMRIPrep's anatomical workflow (FreeSurfer recon-all, ANTs registration) beside the BOLD runs
ANAT_MB = 4000


def memory_needed_mb(bold_shapes) -> int:
    """Our sizing rule for one subject's fMRIPrep job (not fMRIPrep's own): the anatomical workflow's
    :data:`ANAT_MB` plus two float64 copies of the longest run, in its own grid and in MNI152NLin6Asym at 2 mm
    (91 x 109 x 91), which is how fMRIPrep's MemoryCalculator counts a series and what its resampling nodes
    hold at once.  A CineBrain run (1,350 volumes) needs ~35 GB: users report fMRIPrep jobs killed at 850."""
    need = 0.0
    for shape in bold_shapes:
        t = shape[3] if len(shape) > 3 else 1
        need = max(need, 2 * (int(np.prod(shape[:3])) + 91 * 109 * 91) * t * 8 / 2**20)
    return int(ANAT_MB + need)


def fmriprep_mem_mb(job_mem_mb: int, settings: FmriprepSettings, bold_shapes, subject: str) -> int:
    """fMRIPrep's ``--mem-mb`` for a job of ``job_mem_mb``: the job's memory less the headroom; raises
    :class:`FmriprepError` before the container starts when that is below :func:`memory_needed_mb`."""
    mem = int(job_mem_mb * (1 - settings.mem_headroom))
    need = memory_needed_mb(bold_shapes)
    if mem < need:
        longest = max((s[3] if len(s) > 3 else 1) for s in bold_shapes)
        raise FmriprepError(subject, [("resources: fmriprep_run mem_mb", f"{job_mem_mb} MB for the job leaves "
                                       f"{mem} MB to fMRIPrep after the {settings.mem_headroom:.0%} headroom; its "
                                       f"longest run ({longest} volumes) needs about {need} MB",
                                       f"give the job at least {int(np.ceil(need / (1 - settings.mem_headroom)))} MB "
                                       "(fmriprep.mem_mb, or set-resources fmriprep_run: mem_mb in the profile)")])  # fmt: skip
    return mem


def run_fmriprep(command: list[str], log, subject: str, stream=None) -> None:
    """Run the command with its output going to ``stream`` (the rule's log); a failure names both.

    ``stream`` defaults to ``sys.stderr``, which rule scripts point at their log: the child writes through
    the same open file, so its output and ours interleave in order.
    """
    stream = stream or sys.stderr
    print(f"$ {shlex.join(command)}", file=stream, flush=True)
    try:
        proc = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, env=os.environ.copy())
    except FileNotFoundError as exc:
        raise FmriprepError(subject, [(command[0], "not found on PATH", "install it (fmriprep-docker: pip install "
                                       "fmriprep-docker; apptainer: your cluster's module) or use runner "
                                       "'precomputed'")]) from exc  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"fMRIPrep for sub-{subject} failed with exit status {proc.returncode}: "
                           f"{shlex.join(command)}; see {log}")  # fmt: skip


def write_manifest(path, subject: str, settings: FmriprepSettings, records: list[dict], command=None) -> None:
    """The rule's output: which derivatives were checked (and how they were made), written atomically."""
    from ..atomic import atomic_files

    doc = {"subject": subject, "runner": settings.runner, "command": command, "runs": records}
    with atomic_files(path) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))


def fmriprep_subject(
    subject: str,
    *,
    inventory,
    bids_dir,
    fmriprep_dir,
    settings: dict | FmriprepSettings,
    threads: int,
    mem_mb: int,
    tmpdir,
    manifest,
    log,
) -> None:
    """Rule ``fmriprep_run``: run fMRIPrep for ``subject`` unless precomputed, check, write the manifest."""
    import pandas as pd

    if not isinstance(settings, FmriprepSettings):
        settings = FmriprepSettings.from_config(dict(settings))
    inv = pd.read_parquet(inventory)
    runs = inv[inv["subject"] == subject].to_dict("records")
    if not runs:
        raise FmriprepError(subject, [(str(inventory), f"has no run of sub-{subject}", "check the BIDS dataset")])
    command = None
    if settings.runner != "precomputed":
        import nibabel as nib

        shapes = [nib.load(str(Path(bids_dir) / r["bold"])).shape for r in runs]
        mem_mb = fmriprep_mem_mb(mem_mb, settings, shapes, subject)
        work_dir = Path(settings.work_dir or Path(tmpdir) / "fmriprep_work") / f"sub-{subject}"
        work_dir.mkdir(parents=True, exist_ok=True)
        Path(fmriprep_dir).mkdir(parents=True, exist_ok=True)
        command = build_command(settings, bids_dir=bids_dir, output_dir=fmriprep_dir, subject=subject,
                                work_dir=work_dir, threads=threads, mem_mb=mem_mb)  # fmt: skip
        print(f"fMRIPrep ({settings.runner}) for sub-{subject}: {shlex.join(command)}", file=sys.stderr)
        run_fmriprep(command, log, subject)
    records = check_derivatives(subject, runs, fmriprep_dir, root=bids_dir)
    print(f"sub-{subject}: {len(records)} run(s) checked in {fmriprep_dir}", file=sys.stderr)
    write_manifest(manifest, subject, settings, records, command)
