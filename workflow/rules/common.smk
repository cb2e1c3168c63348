# Configuration validation and helpers shared by every stage.

import os
import sys
from pathlib import Path

# The config check below imports the cinebrain library: make the checkout's copy importable even when
# snakemake runs from an environment without the package (jobs get it from .venv or envs/*.yaml).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from cinebrain.config import check_config, validate_config
from cinebrain.methods import enabled as enabled_methods


def checkout_path(*parts) -> str:
    """A file of the checkout (resources/, config/), as params and inputs hold it: relative when the working
    directory is the checkout (or holds it), so that a checkout copied or moved with its results keeps the
    same paths (an absolute one would change, and Snakemake would rerun every job whose params or inputs
    hold it); absolute when the workflow runs elsewhere (snakemake --directory), so that a working directory
    copied or moved on its own keeps them."""
    path = Path(workflow.basedir, *parts)
    rel = os.path.relpath(path)
    return str(path) if rel.startswith("..") else rel


# Types, allowed values and defaults — the schema generated from the library's typed settings
# (cinebrain.config.Config and every method's; written out as workflow/schemas/config.schema.yaml) — then
# the checks across keys (cinebrain.config.check_config): a bad configuration stops here, before any job.
LAUNCH_DIR = checkout_path("config", "launch")  # the launch profiles of the GPU stages
validate_config(config)
check_config(config, LAUNCH_DIR)

SYNTH = config["synth"]
BIDS_ROOT = config["dataset"]["bids_root"]
ADAPTER = config["dataset"]["adapter"]  # the raw data's layout (cinebrain.datasets): bids or cc2017
FMRIPREP_DIR = config["dataset"]["fmriprep_dir"]
TASK = config["dataset"]["task"]
FMRIPREP = config["fmriprep"]
FMRI = config["fmri"]
ROI_DIR = checkout_path("resources", "rois")
PUBLISHED_RESULTS = checkout_path("resources", "published_results.csv")
# the dataset whose published rows the benchmark shows beside ours (that table's "dataset" column)
PUBLISHED_DATASET = "cc2017" if ADAPTER == "cc2017" else "CineBrain"
PROMPT_DIR = Path(checkout_path("resources", "prompts"))
WORDLIST = checkout_path("resources", "categories", "superclasses.yaml")
STIMULI = config["stimuli"]
CAPTIONS = config["captions"]
FEATURES = config["features"]
DATA = config["data"]
TINY_MODELS = config["models"]["tiny"]
from cinebrain.synth.models import TINY_MODELS as ALL_TINY_MODELS
from cinebrain.synth.pretrain import PIPELINE_PARTS as WORLD_PIPELINE_PARTS
from cinebrain.synth.pretrain import world_settings
from cinebrain.synth.pretrain_audio import audio_world_settings
BENCHMARK = config["benchmark"]


def world_cache_input(manifest: str = "world.json", make: str = "make world") -> dict:
    """The shipped world's manifest (``manifest``: world.json, or world_audio.json of its audio models) as a
    named input ({} when models.tiny.world_cache is null or holds no manifest: the models_world_* rules then
    train): a relative path that does not exist in the working directory is the checkout's (resources/world
    when Snakemake runs with --directory elsewhere)."""
    cache = TINY_MODELS["world_cache"]
    if not cache:
        return {}
    if not os.path.isabs(cache) and not os.path.exists(cache):
        cache = checkout_path(cache)
    path = Path(cache) / manifest
    if not path.is_file():
        print(f"{path}: no shipped world; the models_world_* rules train it (slow); fix: run `{make}`, "
              "or set models.tiny.world_cache: null to silence this", file=sys.stderr)  # fmt: skip
        return {}
    return {"shipped": str(path)}

#: {method: its typed settings} of every enabled method (cinebrain.methods); the Snakefile includes
#: workflow/rules/<method>.smk for each, and the generic stages below read their outputs by the contract.
METHODS = enabled_methods(config)

# Every model the enabled stages load, a folder or a hub id (cinebrain.models.hub): a path that is neither
# stops here, not hours later in a job; when every model is a local folder the jobs run offline
# (HF_HUB_OFFLINE=1 and friends, inherited by local jobs and by SLURM jobs, which export the environment).
from cinebrain.atomic import check_writable
from cinebrain.config import ConfigError, config_schema
from cinebrain.fmri.rois import missing_roi_sets
from cinebrain.integrity import check_model_folder
from cinebrain.models.hub import check_model_references, model_references, offline_environment

MODEL_REFS = {k: v for k, v in model_references(config, config_schema()).items()
              if not k.startswith("methods.") or k.split(".")[1] in METHODS}  # fmt: skip
_problems = check_model_references(MODEL_REFS) + missing_roi_sets(FMRI["roi_sets"], ROI_DIR)
if workflow.is_main_process:  # not again in every job's own reading of the Snakefile
    _problems += check_writable("results")  # a read-only or full file system: one message, before any job
    # a model folder's weights cut short (an interrupted copy) are named here, from their headers alone
    for _folder in dict.fromkeys(v for v in MODEL_REFS.values() if os.path.isdir(v)):
        _problems += check_model_folder(_folder)
if _problems:
    raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in _problems))
_offline = offline_environment(MODEL_REFS)
if _offline and workflow.is_main_process:
    print(f"cinebrain: all {len(MODEL_REFS)} models are local folders: the jobs run offline "
          f"({', '.join(f'{k}={v}' for k, v in _offline.items())})", file=sys.stderr)
os.environ.update({k: v for k, v in _offline.items() if k not in os.environ})

# A SLURM profile whose account or partition is still a placeholder (profiles/slurm/config.yaml ships
# CHANGE_ME_*) would have every job refused by sbatch: stop before any job instead.
_defaults = getattr(workflow.resource_settings.default_resources, "_args", None) or {}
for _key in ("slurm_account", "slurm_partition"):
    if "CHANGE_ME" in str(_defaults.get(_key, "")):
        raise ValueError(
            f"profile: default-resources {_key} is the placeholder {_defaults[_key]}; fix: set your cluster's "
            "in the profile's config.yaml (profiles/slurm/, or ~/.config/snakemake/slurm/ after `make profiles`; "
            "README, 'Running on a cluster')"
        )


wildcard_constraints:
    subject="[a-zA-Z0-9]+",
    run="[0-9]+",
    episode="[a-zA-Z0-9]+",
    split="train|test",
    variant="[a-z_]+",
    # the methods by name (and the ceilings): a variant with an underscore (mindanimator's no_motion) must not
    # let "{method}_{variant}" file names split as method "mindanimator_no", variant "motion"
    method="|".join(sorted([*METHODS, "ceiling"])),

def bids_input(wildcards=None):
    """The raw dataset as the inputs of the stages that read it: the synthetic root folder that synth_generate
    writes, or else every file of the existing BIDS root (derivatives/ and hidden files aside) and, with
    precomputed fMRIPrep derivatives, their dense time series, so that a file edited in place (an onset in an
    events.tsv) reruns the inventory; a folder's time stamp does not change when a file in it is edited."""
    if SYNTH["enabled"]:
        return BIDS_ROOT
    from cinebrain.datasets import dataset_files

    return dataset_files(ADAPTER, BIDS_ROOT, FMRIPREP_DIR if FMRIPREP["runner"] == "precomputed" else None,
                         config["dataset"]["cc2017"], config["dataset"]["betas"])


def inventory():
    """The run inventory, read after the bids_inventory checkpoint has run."""
    import pandas as pd

    return pd.read_parquet(checkpoints.bids_inventory.get().output.inventory)


def subjects():
    return sorted(inventory()["subject"].unique())


def subject_runs(subject):
    """The run numbers of a subject, from the inventory."""
    inv = inventory()
    return sorted(int(r) for r in inv.loc[inv["subject"] == subject, "run"])


def first_fmriprep_manifest(wildcards=None):
    """The fMRIPrep manifest of the inventory's first run's subject (the report's run traces read its derivatives);
    with per-clip betas, that subject's beta vectors."""
    sub = inventory()["subject"].iloc[0]
    if ADAPTER == "betas":
        return betas_file(sub)
    return f"results/fmri/sub-{sub}/sub-{sub}_fmriprep.json"


def betas_file(subject):
    """A subject's beta vectors as the dataset ships them (dataset.betas.values; the betas adapter)."""
    return os.path.join(BIDS_ROOT, config["dataset"]["betas"]["values"].format(subject=subject))


def betas_values(wildcards):
    return betas_file(wildcards.subject)


def roi_files(wildcards=None):
    """The YAML files of the configured ROI sets (an input, so that editing a set reruns extraction)."""
    from cinebrain.fmri.rois import roi_path

    return [str(roi_path(name, ROI_DIR)) for name in FMRI["roi_sets"]]


def fmri_outputs(wildcards=None):
    """Every run's ROI time series and QC figure."""
    inv = inventory()
    out = ["results/report/fmri/roi_sets.png"]
    if ADAPTER == "betas":  # a matrix of beta vectors per subject, no per-run series
        return out + [roi_bold(sub, None) for sub in subjects()]
    for sub, run in zip(inv["subject"], inv["run"]):
        out.append(f"results/fmri/sub-{sub}/sub-{sub}_task-{TASK}_run-{int(run)}_desc-roi_bold.npy")
        out.append(f"results/report/fmri/sub-{sub}_run-{int(run)}_qc.png")
    if FMRI["activation"]["enabled"]:
        for sub in model_subjects():
            out += [*activation_file(sub), f"results/report/fmri/sub-{sub}_activation.png"]
    return out


def activation_runs(wildcards):
    """{run: normalised ROI series} of the subject's training runs (the activation's repeats)."""
    return {r: roi_bold(wildcards.subject, r) for r, _ in split_runs(wildcards.subject, "train")}


def activation_inputs(wildcards):
    """The training runs' normalised series and their sidecars (fmri_activation reads both)."""
    files = activation_runs(wildcards).values()
    return [*files, *(f.removesuffix(".npy") + ".json" for f in files)]


def activation_file(subject):
    """The subject's activated columns (fmri_activation), or nothing when fmri.activation is off or the subject
    has no training run to select them from."""
    if not FMRI["activation"]["enabled"] or not split_runs(subject, "train"):
        return []
    return [f"results/fmri/sub-{subject}/sub-{subject}_desc-activated_columns.json"]


def normalise_inputs(wildcards):
    """The extracted runs the z-score statistics come from: this run, or all the subject's (normalise: subject)."""
    sub = wildcards.subject
    runs = subject_runs(sub) if FMRI["normalise"] == "subject" else [int(wildcards.run)]
    return [f"results/fmri/sub-{sub}/sub-{sub}_task-{TASK}_run-{r}_desc-extracted_bold.npy" for r in runs]


def run_row(wildcards):
    inv = inventory()
    row = inv[(inv["subject"] == wildcards.subject) & (inv["run"] == int(wildcards.run))]
    if row.empty:
        raise ValueError(f"no run {wildcards.run} of sub-{wildcards.subject} in the inventory")
    return row.iloc[0]


def raw_eeg_name(wildcards):
    """The run's raw EEG header (.vhdr), relative to the BIDS root."""
    return run_row(wildcards)["eeg"]


def truth_input(wildcards=None):
    """The synthetic dataset's ground truth folder (an input of the QC's SNR); nothing for real data."""
    return os.path.join(SYNTH["out"], "truth") if SYNTH["enabled"] else []


def eeg_truth_name(wildcards):
    """The run's EEG truth (clean EEG) inside truth_input()."""
    sub, run = wildcards.subject, wildcards.run
    return os.path.join(f"sub-{sub}", f"sub-{sub}_task-{TASK}_run-{run}_eeg.npz")


def eeg_runs():
    """(subject, run) of every run with EEG (none in an fMRI-only dataset: dataset.modalities, the adapter)."""
    inv = inventory()
    has = inv["eeg"].fillna("").astype(str) != ""
    return list(zip(inv.loc[has, "subject"], inv.loc[has, "run"].astype(int)))


def eeg_outputs(wildcards=None):
    """Every EEG run's clean EEG and its QC figures."""
    out = []
    for sub, run in eeg_runs():
        out.append(f"results/eeg/sub-{sub}/sub-{sub}_task-{TASK}_run-{int(run)}_desc-clean_eeg.fif")
        out += [f"results/report/eeg/sub-{sub}_run-{int(run)}_{kind}.png" for kind in ("psd", "locked", "ica")]
    return out


def episodes():
    return sorted(inventory()["episode"].unique())


def stimulus_file(wildcards):
    """The film of an episode, from the inventory."""
    inv = inventory()
    rows = inv[inv["episode"] == wildcards.episode]
    if rows.empty:
        raise ValueError(f"episode {wildcards.episode} is not in the inventory")
    return os.path.join(BIDS_ROOT, rows["stimulus"].iloc[0])


def model_input(path, subfolder=None):
    """A model folder as an input: the tiny-model folder when models_tiny writes it, the parts of a world
    model the models_world_* rules write (of a pipeline: only ``subfolder`` when given), the folder when it
    exists locally, nothing for a hub id (downloaded by from_pretrained)."""
    norm = os.path.normpath(path)
    if TINY_MODELS["enabled"] and norm.startswith(os.path.normpath(TINY_MODELS["out"])):
        return TINY_MODELS["out"]
    world = os.path.normpath(TINY_MODELS["world_out"])
    if TINY_MODELS["enabled"] and norm.startswith(world):
        if os.path.relpath(norm, world) != "cogvideox":
            return path
        parts = [subfolder] if subfolder else ["vae", *WORLD_PIPELINE_PARTS, "model_index.json"]
        return [os.path.join(path, p) for p in parts]
    return path if os.path.exists(path) else []


def caption_inputs(wildcards=None):
    """Caption models and prompt files (editing a prompt reruns the captions)."""
    out = []
    for src in CAPTIONS["sources"]:
        if src.get("model"):
            out.append(model_input(src["model"]))
        if src.get("prompt"):
            p = Path(src["prompt"])
            out.append(str(p if p.exists() else PROMPT_DIR / p))
    cat = CAPTIONS["categories"]
    if cat["backend"] == "vlm":
        out += [model_input(cat["model"]), str(PROMPT_DIR / cat["prompt"])]
    else:  # the word list (editing it reruns the categories)
        out.append(cat["wordlist"] or WORDLIST)
    return [o for o in out if o]


def split_runs(subject, split):
    inv = inventory()
    rows = inv[(inv["subject"] == subject) & (inv["split"] == split)]
    return [(int(r), e) for r, e in zip(rows["run"], rows["episode"])]


def roi_bold(subject, run):
    """A run's normalised ROI series; with per-clip betas, the subject's beta vectors (every run: a row of them)."""
    if ADAPTER == "betas":
        return f"results/fmri/sub-{subject}/sub-{subject}_desc-betas_bold.npy"
    return f"results/fmri/sub-{subject}/sub-{subject}_task-{TASK}_run-{run}_desc-roi_bold.npy"


def clean_eeg(subject, run):
    return f"results/eeg/sub-{subject}/sub-{subject}_task-{TASK}_run-{run}_desc-clean_eeg.fif"


def data_files(wildcards):
    """The files one subject's split is built from: run -> ROI series / clean EEG, episode -> captions,
    categories and each kind of features."""
    runs = split_runs(wildcards.subject, wildcards.split)
    eps = sorted({e for _, e in runs})
    with_eeg = set(eeg_runs())  # an fMRI-only dataset has none
    return {
        "fmri_runs": {r: roi_bold(wildcards.subject, r) for r, _ in runs},
        "eeg_runs": {r: clean_eeg(wildcards.subject, r) for r, _ in runs if (wildcards.subject, r) in with_eeg},
        "captions": {e: f"results/captions/{e}.parquet" for e in eps},
        "categories": {e: f"results/captions/{e}_categories.parquet" for e in eps},
        "features": {kind: {e: f"results/features/{name}/{e}.safetensors" for e in eps}
                     for kind, name in feature_kinds().items()},
    }


def feature_kinds():
    """{kind: features folder name} of the features every clip gets: frame/caption embeddings, VAE latents,
    and action embeddings and Wan latents when their models are set (features.action, features.wan_vae)."""
    kinds = {"embed": FEATURES["embedder"]["name"], "latents": FEATURES["vae"]["name"]}
    if FEATURES["action"]["model"]:
        kinds["action"] = FEATURES["action"]["name"]
    if FEATURES["wan_vae"]["model"]:
        kinds["wan_latents"] = FEATURES["wan_vae"]["name"]
    return kinds


def data_inputs(wildcards):
    """Everything one subject's split is built from (the values of data_files, as input lists)."""
    files = data_files(wildcards)
    return {
        "inventory": "results/bids/inventory.parquet",
        "clips": "results/stimuli/clips.parquet",
        "columns": "results/fmri/roi_columns.json",
        "activation": activation_file(wildcards.subject),
        "fmri": list(files["fmri_runs"].values()),
        "eeg": list(files["eeg_runs"].values()),
        "captions": list(files["captions"].values()),
        "categories": list(files["categories"].values()),
        **{kind: list(f.values()) for kind, f in files["features"].items()},
    }


def subject_datasets(wildcards):
    return [f"results/dataset/sub-{wildcards.subject}/{s}" for s in ("train", "test") if split_runs(wildcards.subject, s)]


def clip_outputs(wildcards=None):
    """Clips, captions, features, and every subject's datasets."""
    inv = inventory()
    out = ["results/stimuli/clips.parquet", "results/report/stimuli/clips.png"]
    for e in episodes():
        out += [f"results/captions/{e}.parquet"]
        out += [f"results/features/{name}/{e}.safetensors" for name in feature_kinds().values()]
    for sub in subjects():
        for split in sorted(set(inv.loc[inv["subject"] == sub, "split"])):
            out.append(f"results/dataset/sub-{sub}/{split}")
        out.append(f"results/report/data/sub-{sub}_windows.png")
    return out


def model_subjects():
    """The subjects with both a training and a test split: the ones models are trained and scored for."""
    inv = inventory()
    return [s for s in subjects() if set(inv.loc[inv["subject"] == s, "split"]) >= {"train", "test"}]


def subjects_of(method):
    """The subjects with both splits that ``method`` runs for (its ``subjects`` setting; null: all)."""
    from cinebrain.methods import method_subjects

    return method_subjects(method, METHODS[method], model_subjects())


def ceiling_subjects():
    """The subjects any enabled method runs for, in the inventory's order: those the ceilings are scored for."""
    from cinebrain.methods import method_subjects

    candidates = model_subjects()  # read once, not once per method
    wanted = {s for m, st in METHODS.items() for s in method_subjects(m, st, candidates)}
    return [s for s in candidates if s in wanted]


def model_dirs(wildcards=None):
    """The contract's model folder of every enabled method's model variant and subject it runs for."""
    from cinebrain.methods.contract import model_dir

    return [model_dir(m, v, s) for m, st in METHODS.items() for v in st.model_variants() for s in subjects_of(m)]


def recon_runs(wildcards=None):
    """(method, variant, subject) of every reconstruction the benchmark scores: the methods', then (when
    there are any and benchmark.ceiling is enabled) the ceilings' (method "ceiling")."""
    from cinebrain.benchmark.ceiling import VARIANTS as CEILINGS

    runs = [(m, v, s) for m, st in METHODS.items() for v in st.recon_variants() for s in subjects_of(m)]
    if runs and BENCHMARK["ceiling"]["enabled"]:
        runs += [("ceiling", v, s) for v in CEILINGS for s in ceiling_subjects()]
    return runs


def recon_path(method, variant, subject):
    """The folder of reconstructions a benchmark run scores: the methods' contract, or the ceiling's."""
    from cinebrain.methods.contract import recon_dir

    if method == "ceiling":  # one folder for every subject (cinebrain.benchmark.ceiling)
        return f"results/ceiling/{variant}/recon"
    return recon_dir(method, variant, subject)


def model_test_sets(wildcards=None):
    """The test split of every subject models are trained for (what the ceilings are made for)."""
    return [f"results/dataset/sub-{s}/test" for s in ceiling_subjects()]


def score_input(wildcards):
    return recon_path(wildcards.method, wildcards.variant, wildcards.subject)


def ceiling_reference(wildcards):
    """For a ceiling's scores: the first model subject before this one with the same test episodes (its
    scores and test split; the job copies them when the clips match), else nothing. The ceilings'
    videos are the same for every subject, so a shared test set is scored once."""
    if wildcards.method != "ceiling":
        return {"reference": [], "reference_test": []}
    inv = inventory()

    def episodes(sub):
        return sorted(inv.loc[(inv["subject"] == sub) & (inv["split"] == "test"), "episode"].astype(str))

    for sub in ceiling_subjects():
        if sub == wildcards.subject:
            break
        if episodes(sub) == episodes(wildcards.subject):
            return {"reference": [f"results/benchmark/ceiling/{wildcards.variant}/sub-{sub}"],
                    "reference_test": [f"results/dataset/sub-{sub}/test"]}
    return {"reference": [], "reference_test": []}


def ceiling_input(wildcards):
    """The caption ceiling of the subject's test clips, for the figure of a run (none when disabled)."""
    return [recon_path("ceiling", "caption", wildcards.subject)] if BENCHMARK["ceiling"]["enabled"] else []


def recon_dirs(wildcards=None):
    return [recon_path(*r) for r in recon_runs()]


def score_dirs(wildcards=None):
    return [f"results/benchmark/{m}/{v}/sub-{s}" for m, v, s in recon_runs()]


def model_outputs(wildcards=None):
    """Every model's metrics.json, and the summary of all methods' models with its figure."""
    out = [f"{d}/metrics.json" for d in model_dirs()]
    extra = ["results/methods/summary.csv", "results/methods/protocols.csv", "results/report/methods/retrieval.png"]
    return out + extra if out else out


def method_outputs(name):
    """What rule all builds of one method beyond the contract's outputs (its Settings.extra_outputs)."""
    return METHODS[name].extra_outputs(subjects_of(name))


def benchmark_networks(wildcards=None):
    """The metric networks' folders as inputs (the tiny-model folder in the demo; nothing for hub ids), and
    the RAFT weights of the motion metrics when they use RAFT."""
    raft = [BENCHMARK["motion"]["raft"]] if BENCHMARK["motion"]["flow"] != "farneback" else []
    return sorted({str(p) for p in map(model_input, filter(None, BENCHMARK["networks"].values())) if p} | set(raft))


def benchmark_outputs(wildcards=None):
    """Every reconstruction's scores (results/benchmark/<method>/<variant>/sub-XX), the summary and figures."""
    out = score_dirs()
    extra = ["results/benchmark/summary.csv", "results/benchmark/summary.md", "results/benchmark/published.md",
             "results/report/benchmark/benchmark.png", "results/report/benchmark/clips.png"]
    figures = [f"results/report/benchmark/{m}_{v}_sub-{s}_clips.png" for m, v, s in recon_runs() if m != "ceiling"]
    return out + extra + figures if out else out


def audio_runs(wildcards=None):
    """(method, variant, subject) of every audio reconstruction the audio benchmark scores (the methods'
    audio_variants(): CineSync's audio configuration)."""
    return [(m, v, s) for m, st in METHODS.items() for v in getattr(st, "audio_variants", tuple)()
            for s in subjects_of(m)]


def audio_score_input(wildcards):
    from cinebrain.methods.contract import recon_dir

    return recon_dir(wildcards.method, wildcards.variant, wildcards.subject)


def audio_score_dirs(wildcards=None):
    return [f"results/audio_benchmark/{m}/{v}/sub-{s}" for m, v, s in audio_runs()]


def audio_benchmark_networks(wildcards=None):
    """The audio benchmark's Whisper and EnCodec as inputs when they are folders (the demo's tiny ones)."""
    audio = BENCHMARK["audio"]
    return sorted({str(p) for p in map(model_input, (audio["whisper"], audio["fad_model"])) if p})


def audio_benchmark_outputs(wildcards=None):
    """Every audio reconstruction's scores, the audio summary and its figure (nothing without audio runs)."""
    out = audio_score_dirs()
    extra = ["results/audio_benchmark/summary.csv", "results/audio_benchmark/summary.md",
             "results/report/benchmark/audio.png"]
    return out + extra if out else out


def final_outputs(wildcards=None):
    """What `snakemake` builds by default (an input function: the runs come from the inventory)."""
    return [
        "results/bids/inventory.parquet",
        "results/report/inventory.csv",
        "results/report/stimulus_frames.png",
        "results/report/run_traces.png",
        *fmri_outputs(),
        *eeg_outputs(),
        *clip_outputs(),
        *model_outputs(),
        *[f for name in METHODS for f in method_outputs(name)],
        *benchmark_outputs(),
        *audio_benchmark_outputs(),
    ]


# --- Brain Netflix's pools of subjects (workflow/rules/brainflix.smk; cinebrain.methods.brainflix.settings): a pool
# is sub-XX (one subject's data), all (every subject's of the method) or loso-XX (every subject's but XX's) ---

from cinebrain.methods.brainflix.settings import MODEL_OF as BRAINFLIX_MODEL_OF
from cinebrain.methods.brainflix.settings import pool_name as brainflix_pool_name
from cinebrain.methods.brainflix.settings import pool_subjects as brainflix_pool_subjects_of

BRAINFLIX_MODELS = "results/methods/brainflix/models/{pool}"
BRAINFLIX_TARGETS = "results/methods/brainflix/targets/sub-{subject}_{split}"


def brainflix_pool_subjects(wildcards):
    """The subjects whose data trains the models of the pool wildcard (sub-XX, all, loso-XX)."""
    return brainflix_pool_subjects_of(wildcards.pool, subjects_of("brainflix"))


def brainflix_held_out(wildcards):
    """The subject a loso-XX pool leaves out (None for the others)."""
    return wildcards.pool.partition("-")[2] if wildcards.pool.startswith("loso-") else None


def brainflix_runs(wildcards):
    """The MBM pool's runs: every run of the pool's subjects that is not a test run (the inventory's)."""
    inv = inventory()
    rows = inv[inv["subject"].isin(brainflix_pool_subjects(wildcards)) & (inv["split"] != "test")]
    runs = [[str(s), roi_bold(s, int(r))] for s, r in zip(rows["subject"], rows["run"])]
    return list({tuple(r): r for r in runs}.values())  # per-clip betas: one matrix per subject


def brainflix_train_dirs(wildcards):
    """{subject: training split} of the pool's subjects."""
    return {s: f"results/dataset/sub-{s}/train" for s in brainflix_pool_subjects(wildcards)}


def brainflix_targets(kind, split="train"):
    """Input function: {subject: the pool's training targets file} of kind z (latents) or b (BLIP)."""
    name = {"z": "latents.safetensors", "b": "blip.safetensors"}[kind]
    return lambda wildcards: {s: f"{BRAINFLIX_TARGETS}_{name}".format(subject=s, split=split)
                              for s in brainflix_pool_subjects(wildcards)}


def brainflix_pool(wildcards):
    """The pool folder of a model variant's subject."""
    return BRAINFLIX_MODELS.format(pool=brainflix_pool_name(wildcards.variant, wildcards.subject))


def brainflix_pool_inputs(wildcards):
    """A model variant's subject's pool: its stage-1 and stage-2 files and its subjects' training splits."""
    pool = brainflix_pool(wildcards)
    subs = brainflix_pool_subjects_of(Path(pool).name, subjects_of("brainflix"))
    return {"stage1": f"{pool}/stage1.safetensors", "stage1_config": f"{pool}/stage1.json",
            "curves": [f"{pool}/mbm.csv", f"{pool}/align.csv"], "regress": f"{pool}/regress.json",
            "regressors": [f"{pool}/regress_{b}_{t}.safetensors" for b in BRAINFLIX["regression"]["backbones"]
                           for t in ("z", "b")],
            "train": [f"results/dataset/sub-{s}/train" for s in subs]}
