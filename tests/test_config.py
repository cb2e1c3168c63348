"""Config files and their schema: every key validated and documented."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cinebrain.config import ConfigError, validate_config

from .conftest import REPO

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
CONFIGS = [REPO / "config/config.yaml", REPO / "config/cinebrain.yaml", REPO / "config/cc2017.yaml"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_are_valid(path):
    validate_config(yaml.safe_load(path.read_text()), SCHEMA)
    validate_config(yaml.safe_load(path.read_text()))  # the generated schema, as Snakemake uses it


def test_schema_file_is_generated_from_the_settings(tmp_path):
    """workflow/schemas/config.schema.yaml is `cinebrain schema`'s output for the current settings classes."""
    from cinebrain.config import write_schema

    write_schema(tmp_path / "schema.yaml")
    assert (tmp_path / "schema.yaml").read_text() == SCHEMA.read_text(), "run `cinebrain schema` and commit the file"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_key_is_documented(path):
    """Each key line is preceded by a comment line or carries an inline comment."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z_]+):", line)
        if not m or line.strip().startswith("#"):
            continue
        documented = "#" in line or any(lines[j].strip().startswith("#") for j in range(max(0, i - 3), i)
                                          if lines[j].startswith(m.group(1)) or not lines[j].strip())
        section = line.rstrip().endswith(":")
        assert documented or section, f"{path.name}:{i + 1}: key '{m.group(2)}' has no comment"


def test_unknown_key_and_wrong_type_name_the_key():
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    bad = copy.deepcopy(cfg)
    bad["dataset"]["tr"] = "fast"
    bad["dataset"]["trr"] = 0.8
    bad["split"]["test_episodes"] = -1
    with pytest.raises(ConfigError) as exc:
        validate_config(bad, SCHEMA)
    msg = str(exc.value)
    assert "key 'dataset.tr': 'fast' is not of type 'number'" in msg
    assert "unknown key 'dataset.trr'" in msg
    assert "key 'split.test_episodes'" in msg


@pytest.mark.workflow
def test_snakemake_stops_before_any_job(tmp_path):
    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    cfg["synth"]["subjectz"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(cfg))
    smk = Path(sys.executable).with_name("snakemake")
    res = subprocess.run([str(smk), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--configfile",
                          str(bad), "--cores", "1"], capture_output=True, text=True)  # fmt: skip
    assert res.returncode != 0
    assert "unknown key 'synth.subjectz'" in res.stdout + res.stderr
    assert not (tmp_path / "results").exists()


def _checked(cfg: dict) -> str:
    """The message of check_config (after validation and defaults) for a configuration, '' if none."""
    from cinebrain.config import check_config

    cfg = copy.deepcopy(cfg)
    validate_config(cfg, SCHEMA)
    try:
        check_config(cfg, REPO / "config/launch")
    except ConfigError as e:
        return str(e)
    return ""


@pytest.mark.parametrize("name", ["cinebrain.yaml", "cc2017.yaml"])
def test_real_dataset_configs_pass_the_cross_key_checks(name):
    """config/<name> given with --configfile, as Snakemake merges it over config/config.yaml."""
    from snakemake.utils import update_config

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    update_config(cfg, yaml.safe_load((REPO / "config" / name).read_text()))
    # the shipped launch profiles leave the cluster's partition to the user (README: "Running on a cluster")
    problems = [line for line in _checked(cfg).splitlines()[1:] if "slurm_partition is a placeholder" not in line]
    assert problems == []


def _tiny() -> dict:
    from .tiny_workflow import TINY

    return copy.deepcopy(TINY)


def test_cross_key_checks_name_the_keys_and_the_fix():
    """The checks a schema cannot express (cinebrain.config.check_config), each with its fix; several problems
    are reported together."""
    assert _checked(_tiny()) == ""
    cases = [
        (("stimuli", "clip_seconds"), 4.2, "stimuli.clip_seconds is 4.2 s, which is 5.25 TRs of 0.8 s"),
        (("methods", "cinesync", "encoder", "launch"), "h100", "launch profile 'h100' does not exist"),
        (("methods", "cinesync", "roi_sets"), ["auditory"],
         "methods.cinesync.roi_sets names auditory, which fmri.roi_sets (visual) does not extract; fix:"),
        (("methods", "cinesync", "variants"), ["cinesync_fmri"],
         "methods.cinesync.decoder.variants names cinesync, which methods.cinesync.variants (cinesync_fmri) does "
         "not train; fix:"),
        (("benchmark", "metrics"), ["ssim"], "benchmark.metrics names ssim, which does not exist"),
        (("features", "vae", "model"), "results/models/vae",
         "is not the VAE of methods.cinesync.decoder.model.base (results/models/tiny/cogvideox)"),
        (("dataset", "bids_root"), "data/bids", "synth.enabled is true, so dataset.bids_root must be 'results/synth/bids'"),
        (("features", "action", "model"), None, "methods.cineneuron needs action embeddings: features.action.model is "
         "null; fix:"),
        (("features", "wan_vae", "model"), "results/models/other", "is not the VAE of methods.cineneuron.decoder.model.base"),
        (("methods", "cineneuron", "roi_sets"), ["mpfc"], "methods.cineneuron.roi_sets names mpfc, which fmri.roi_sets"),
        (("methods", "mindanimator", "roi_sets"), ["mpfc"], "methods.mindanimator.roi_sets names mpfc, which fmri.roi_sets"),
        (("methods", "neurocine", "roi_sets"), ["mpfc"], "methods.neurocine.roi_sets names mpfc, which fmri.roi_sets"),
    ]  # fmt: skip
    both = _tiny()
    for keys, value, msg in cases:
        cfg = _tiny()
        node = cfg
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
        assert msg in _checked(cfg), (keys, _checked(cfg))
    both["stimuli"]["clip_seconds"] = 4.2
    both["benchmark"]["metrics"] = ["ssim"]
    msg = _checked(both)
    assert "5.25 TRs" in msg and "benchmark.metrics names ssim" in msg


def test_method_sections_are_typed_and_switchable():
    from cinebrain.methods import enabled

    cfg = _tiny()
    cfg["methods"]["cinesync"]["variants"] = ["cinesink"]
    with pytest.raises(ConfigError, match=r"key 'methods.cinesync.variants\[0\]'"):
        validate_config(cfg, SCHEMA)
    cfg = _tiny()
    cfg["methods"]["cinesync"]["encoder"]["modle"] = {}
    with pytest.raises(ConfigError, match=r"unknown key 'methods.cinesync.encoder.modle'"):
        validate_config(cfg, SCHEMA)
    cfg = _tiny()
    validate_config(cfg, SCHEMA)  # fills every default of the method's typed settings
    assert cfg["methods"]["cinesync"]["encoder"]["train"]["betas"] == [0.9, 0.999]
    assert cfg["methods"]["cinesync"]["decoder"]["train"]["steps"] == 3  # the configured value stays
    s = enabled(cfg)["cinesync"]
    assert s.encoder.train.steps == 3 and s.encoder.model.width == 16 and s.recon_variants() == ("cinesync",)
    assert s.decoder_configs(["01"]) == ["results/methods/cinesync/cinesync/sub-01/decoder/decoder.json"]
    assert "results/methods/cinesync/decoders.csv" in s.extra_outputs(["01"])
    assert s.extra_outputs([]) == []  # no subject with both splits: nothing to build
    # off: disabled, or no section at all
    cfg["methods"]["cinesync"]["enabled"] = False
    assert list(enabled(cfg)) == ["brainflix", "cineneuron", "cinesync_audio", "mindanimator", "neurocine"]
    for name in ("brainflix", "cineneuron", "cinesync_audio", "mindanimator", "neurocine"):
        cfg["methods"][name]["enabled"] = False
    assert enabled(cfg) == {}
    assert enabled({"methods": {}}) == {}


def test_schema_and_settings_agree():
    """The schema is generated from the typed settings: every default the configuration gets is the settings
    class's own default, every default is an allowed value, and a settings object built from the filled
    section equals one built from nothing (for the methods: the paper's defaults)."""
    from cinebrain.config import Config, config_schema
    from cinebrain.methods import available, settings_class
    from cinebrain.settings import build, defaults

    minimal = {"dataset": {"bids_root": "x", "fmriprep_dir": "y", "task": "movie", "tr": 0.8, "volume_marker": "R128"},
               "synth": {"enabled": False}, "split": {"test_episodes": 1},
               "methods": {name: {} for name in available()}}  # fmt: skip
    cfg = copy.deepcopy(minimal)
    validate_config(cfg)
    built = build(Config, {k: v for k, v in cfg.items() if k != "methods"})
    for name in ("fmriprep", "fmri", "eeg", "stimuli", "captions", "models", "features", "data", "benchmark"):
        cls = type(getattr(Config(), name))
        assert cfg[name] == defaults(cls), name
        assert getattr(built, name) == cls(), name
    for name in available():
        cls = settings_class(name)
        assert cfg["methods"][name] == defaults(cls)
        assert build(cls, cfg["methods"][name]) == cls()

    def walk(schema, where):
        for key, sub in schema.get("properties", {}).items():
            if "properties" in sub:
                walk(sub, f"{where}.{key}")
            elif "default" in sub and "enum" in sub:
                default = sub["default"]
                assert all(d in sub["enum"] for d in default) if isinstance(default, list) else default in sub["enum"], key
            elif "default" in sub and sub.get("items", {}).get("enum"):
                assert set(sub["default"]) <= set(sub["items"]["enum"]), f"{where}.{key}"

    walk(config_schema(), "")
    # the training defaults differ by stage, as the paper's do (one place each: the settings classes)
    from cinebrain.methods.cinesync.settings import DecoderTrain, EncoderTrain

    assert (EncoderTrain().steps, DecoderTrain().steps) == (15000, 5000)


# ------------------------------------------------------------------ configuration files and model folders


def test_yaml_error_names_file_line_and_column(tmp_path):
    from cinebrain.cli import main
    from cinebrain.config import ConfigError, load_config_file

    bad = tmp_path / "my.yaml"
    bad.write_text("dataset:\n  task: [movie\n  tr: 0.8\n")
    with pytest.raises(ConfigError, match=r"my.yaml, line 3, column 5: not valid YAML \(while parsing a flow sequence "
                                          r"that starts at line 2, column 9: .*fix: correct the syntax"):  # fmt: skip
        load_config_file(bad)
    assert main(["config", str(bad)]) == 1
    good = tmp_path / "over.yaml"
    good.write_text("fmri:\n  hrf_lag: 5.0\n")
    assert main(["config", str(REPO / "config/config.yaml"), str(good)]) == 0
    good.write_text("fmri:\n  hrf_lagg: 5.0\n")  # a typo of a key: named with the allowed ones
    assert main(["config", str(REPO / "config/config.yaml"), str(good)]) == 1


def test_model_references_and_their_checks(tmp_path):
    from cinebrain.config import config_schema, validate_config
    from cinebrain.models.hub import check_model_references, model_references, offline_environment

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    validate_config(cfg)
    refs = model_references(cfg, config_schema())
    assert refs["features.embedder.model"] == "results/models/tiny/clip"
    assert refs["benchmark.networks.dino"] == "results/models/tiny/dino" and "synth.out" not in refs
    assert offline_environment(refs, tmp_path)["HF_HUB_OFFLINE"] == "1"  # written by the workflow: local
    (tmp_path / "models").mkdir()
    (tmp_path / "models/clip").mkdir()
    refs = {"a": "openai/clip-vit-large-patch14", "b": "models/clip", "c": "models/clipp", "d": "/no/such/model",
            "e": "results/models/tiny/vit"}  # fmt: skip
    problems = check_model_references(refs, tmp_path)
    assert len(problems) == 2
    assert problems[0].startswith("c: 'models/clipp' does not exist, although its folder 'models/' does")
    assert problems[1].startswith("d: '/no/such/model' is no folder (it does not exist) and cannot be a hub id")
    assert offline_environment(refs, tmp_path) == {}  # a hub id: downloads stay possible
    assert offline_environment({k: refs[k] for k in "be"}, tmp_path)["TRANSFORMERS_OFFLINE"] == "1"


def test_offline_environment_makes_no_connection():
    """With the variables the workflow sets, a model missing locally fails at once and nothing connects."""
    import os
    import subprocess
    import sys

    from cinebrain.models.hub import OFFLINE

    code = ("import socket\n"
            "def refuse(*a, **k): raise SystemExit('a network connection was attempted')\n"
            "socket.socket.connect = refuse\n"
            "import transformers\n"
            "try:\n"
            "    transformers.AutoConfig.from_pretrained('openai/clip-vit-base-patch32-not-cached')\n"
            "except OSError as e:\n"
            "    print('refused offline:', type(e).__name__)\n")  # fmt: skip
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **OFFLINE, "HF_HOME": "/nonexistent-hf-home"}, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "refused offline" in res.stdout and "network connection was attempted" not in res.stdout + res.stderr
