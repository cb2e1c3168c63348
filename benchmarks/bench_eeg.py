"""Print the speed and memory of the EEG cleaning chain on a CineBrain-size run.

    python benchmarks/bench_eeg.py                    # 64 EEG + ECG, 18 minutes (1,350 volumes) at 1,000 Hz
    python benchmarks/bench_eeg.py --seconds 120      # a shorter run
    python benchmarks/bench_eeg.py --dataset DIR      # reuse a dataset written by `cinebrain synth`

Generates the run with `cinebrain synth` (1 subject, 1 episode), then runs the chain end-to-end at a
1,000 Hz output, as the workflow does (eeg_preprocess, then eeg_clean, each writing its files), in a fresh
process so that the peak memory is the chain's own.  Target (issue 4): at most 30 s and 2.5 GB on the
project's 2-core machine.  Also prints the per-step times and the figures against the synthetic truth.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The checkout's ROI sets (the workflow passes its resources/rois the same way).
ROI_DIR = Path(__file__).resolve().parents[1] / "resources" / "rois"

CHILD = r"""
import json, sys, time
from types import SimpleNamespace
t0 = time.perf_counter()
from cinebrain.eeg.preprocess import preprocess_run, write_outputs
from cinebrain.eeg.clean import clean_run
t_import = time.perf_counter() - t0
bids, out, n_vol = sys.argv[1], sys.argv[2], int(sys.argv[3])
o = f"{out}/sub-01_task-movie_run-1"
t0 = time.perf_counter()
raw, ica, comp, qc, arrays = preprocess_run(bids, "01", "movie", 1, n_volumes=n_vol, tr=0.8, marker="R128", n_jobs=2,
                                            settings={}, progress=False)
write_outputs(raw, ica, comp, qc, arrays, fif=o + "_desc-preica_eeg.fif", ica_fif=o + "_ica.fif",
              components_tsv=o + "_desc-components.tsv", qc_json=o + "_desc-preica_qc.json", qc_npz=o + "_desc-qc.npz")
t_pre = time.perf_counter() - t0
del raw, ica
t0 = time.perf_counter()
q = clean_run(o + "_desc-preica_eeg.fif", o + "_ica.fif", o + "_desc-components.tsv", o + "_desc-preica_qc.json",
              out_fif=o + "_desc-clean_eeg.fif", qc_json=o + "_desc-qc.json")
t_clean = time.perf_counter() - t0
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1e6
print(json.dumps({"import_s": t_import, "preprocess_s": t_pre, "clean_s": t_clean, "peak_gb": hwm,
                  "steps": q["timings_s"], "excluded": q["ica"]["excluded"], "beats": q["bcg"]["heartbeats"]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1078.4, help="episode length (1078.4 s -> 1,350 volumes)")
    ap.add_argument("--dataset", type=Path, help="an existing `cinebrain synth` output (1 subject, run 1)")
    args = ap.parse_args()

    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        ds = args.dataset
        if ds is None:
            from cinebrain.synth import SynthConfig, generate

            ds = Path(tmp) / "ds"
            t0 = time.perf_counter()
            generate(ds, SynthConfig(subjects=1, episodes=1, episode_seconds=args.seconds, height=32, width=48,
                                     fps=8), progress=False, roi_dir=ROI_DIR)  # fmt: skip
            print(f"eeg bench: synthetic run generated in {time.perf_counter() - t0:.0f} s (not counted)")
        n_vol = json.loads((ds / "truth/synth.json").read_text())["n_volumes"]
        out = Path(tmp) / "out"
        out.mkdir()
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", CHILD, str(ds / "bids"), str(out), str(n_vol)],
                             capture_output=True, text=True)  # fmt: skip
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            sys.exit(res.stderr[-3000:])
        r = json.loads(res.stdout.strip().splitlines()[-1])
        # figures against the truth and the detected beats, outside the timed part
        import mne

        from cinebrain.eeg.clean import snr_against_truth
        from cinebrain.eeg.settings import EEGSettings

        o = out / "sub-01_task-movie_run-1"
        clean = mne.io.read_raw_fif(f"{o}_desc-clean_eeg.fif", preload=True, verbose="error")
        orig = mne.io.read_raw_brainvision(ds / "bids/sub-01/eeg/sub-01_task-movie_run-1_eeg.vhdr", preload=True,
                                           verbose="error")  # fmt: skip
        truth = ds / "truth/sub-01/sub-01_task-movie_run-1_eeg.npz"
        snr = snr_against_truth(clean, orig.get_data(picks=orig.ch_names[:64]), orig.info["sfreq"], truth,
                                EEGSettings())  # fmt: skip
        true_beats = np.load(truth)["r_peaks"] * orig.info["sfreq"]
        found = np.load(f"{o}_desc-qc.npz")["r_peaks"]
        hit = (np.abs(true_beats[:, None] - found[None, :]).min(1) <= 0.03 * orig.info["sfreq"]).mean()
    minutes = n_vol * 0.8 / 60
    print(f"eeg bench: 64 EEG + ECG channels, {minutes:.0f} min at 1,000 Hz ({n_vol} volumes), output 1,000 Hz")
    print(f"eeg bench: end-to-end {r['preprocess_s'] + r['clean_s']:.1f} s (eeg_preprocess {r['preprocess_s']:.1f} s "
          f"+ eeg_clean {r['clean_s']:.1f} s; + {r['import_s']:.1f} s imports; process wall {wall:.1f} s), "
          f"peak memory {r['peak_gb']:.2f} GB")
    print("eeg bench: steps " + ", ".join(f"{k} {v:.1f} s" for k, v in r["steps"].items()))
    print(f"eeg bench: SNR vs truth {snr['snr_raw_db']:.1f} dB raw -> {snr['snr_clean_db']:.1f} dB clean "
          f"(+{snr['improvement_db']:.1f} dB; band-passed raw {snr['snr_raw_filtered_db']:.1f} dB)")
    print(f"eeg bench: R-peaks within 30 ms: {hit:.1%} of {len(true_beats)} beats; ICA removed {r['excluded']}")


if __name__ == "__main__":
    main()
