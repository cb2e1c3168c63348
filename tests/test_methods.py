"""Methods as plug-ins (cinebrain.methods): the output contract, and a new method picked up with no other change."""

from __future__ import annotations

import json
import sys
import textwrap

import pandas as pd
import pytest

from cinebrain.methods import contract


def _metrics(**over) -> dict:
    m = {"method": "toy", "variant": "toy", "subject": "01", "train_clips": 60, "test_clips": 30, "n_candidates": 30,
         "repeats": 1, "scores": {"brain_to_video_top1": 0.1, "video_to_brain_top1": 0.2, "two_way": 0.7},
         "chance": {"brain_to_video_top1": 1 / 30, "video_to_brain_top1": 1 / 30, "two_way": 0.5}}  # fmt: skip
    return {**m, **over}


def test_metrics_contract_round_trip_and_errors(tmp_path):
    path = tmp_path / "m/metrics.json"
    contract.write_metrics(_metrics(), path)
    assert contract.read_metrics(path) == _metrics()
    assert contract.model_dir("toy", "a", "01") == "results/methods/toy/a/sub-01"
    assert contract.recon_dir("toy", "a", "01") == "results/methods/toy/a/sub-01/recon"
    with pytest.raises(ValueError, match=r"bad.json: breaks the methods' metrics.json contract at 'scores': "
                                         r"'two_way' is a required property"):  # fmt: skip
        contract.write_metrics(_metrics(scores={"brain_to_video_top1": 0.1, "video_to_brain_top1": 0.2}),
                               tmp_path / "bad.json")  # fmt: skip
    assert not (tmp_path / "bad.json").exists()  # nothing written
    (tmp_path / "worse.json").write_text(json.dumps(_metrics(test_clips=0)))
    with pytest.raises(ValueError, match=r"worse.json: .* at 'test_clips'"):
        contract.read_metrics(tmp_path / "worse.json")


TOY = '''
"""A toy method: only what the plug-in interface asks for."""
from dataclasses import dataclass

from cinebrain.settings import setting


@dataclass(frozen=True)
class Settings:
    """Toy."""

    enabled: bool = setting(True, "run it")
    variants: tuple[str, ...] = setting(("toy",), "variants", items={"enum": ["toy", "toy_small"]})
    width: int = setting(8, "a size", minimum=1)

    def model_variants(self):
        return self.variants

    def recon_variants(self):
        return ("toy",)

    def launch_profiles(self):
        return ("debug",)

    def check(self, config):
        return [] if self.width < 100 else ["methods.toy.width is too wide; fix: below 100"]

    def extra_outputs(self, subjects):
        return []
'''


@pytest.fixture
def toy_method(tmp_path, monkeypatch):
    """A method package dropped beside cinebrain.methods.cinesync (and nothing else touched)."""
    import cinebrain.methods as methods

    (tmp_path / "toy").mkdir()
    (tmp_path / "toy/__init__.py").write_text(textwrap.dedent(TOY))
    monkeypatch.setattr(methods, "__path__", [*methods.__path__, str(tmp_path)])
    yield
    sys.modules.pop("cinebrain.methods.toy", None)


def test_a_new_method_is_picked_up_by_schema_config_and_checks(toy_method):
    from cinebrain.config import ConfigError, check_config, config_schema, validate_config
    from cinebrain.methods import available, enabled

    from .conftest import LAUNCH_DIR
    from .tiny_workflow import TINY

    assert available() == ["brainflix", "cineneuron", "cinesync", "cinesync_audio", "mindanimator", "neurocine", "toy"]
    toy = config_schema()["properties"]["methods"]["properties"]["toy"]
    assert toy["properties"]["width"] == {"type": "integer", "minimum": 1, "default": 8, "description": "a size"}
    cfg = json.loads(json.dumps(TINY))
    cfg["methods"]["toy"] = {"variants": ["toy", "toy_small"]}
    validate_config(cfg)
    assert cfg["methods"]["toy"] == {"enabled": True, "variants": ["toy", "toy_small"], "width": 8}
    methods = enabled(cfg)
    assert list(methods) == ["brainflix", "cineneuron", "cinesync", "cinesync_audio", "mindanimator", "neurocine", "toy"] and methods["toy"].model_variants() == ("toy", "toy_small")
    check_config(cfg, LAUNCH_DIR)
    cfg["methods"]["toy"]["width"] = 500
    with pytest.raises(ConfigError, match="methods.toy.width is too wide; fix: below 100"):
        check_config(cfg, LAUNCH_DIR)
    bad = json.loads(json.dumps(TINY))
    bad["methods"]["toy"] = {"variants": ["toy_big"]}
    with pytest.raises(ConfigError, match=r"key 'methods.toy.variants\[0\]'"):
        validate_config(bad)
    cfg["methods"]["toy"]["enabled"] = False
    assert list(enabled(cfg)) == ["brainflix", "cineneuron", "cinesync", "cinesync_audio", "mindanimator", "neurocine"]


def test_the_generic_stages_read_every_enabled_method_through_the_contract(toy_method, tmp_path):
    """The models' summary reads any method's metrics.json (with its training curve beside it)."""
    from cinebrain.methods.report import summarise_models

    files = []
    for method, variant in [("cinesync", "cinesync"), ("toy", "toy"), ("toy", "toy_loso")]:
        d = tmp_path / contract.model_dir(method, variant, "01")
        extra = {"protocol": "leave_one_subject_out"} if variant == "toy_loso" else {}
        contract.write_metrics({**_metrics(method=method, variant=variant), **extra}, d / "metrics.json")
        (d / "metrics.csv").write_text("step,loss\n1,2.0\n2,1.5\n")
        files.append(d / "metrics.json")
    table = summarise_models(files, tmp_path / "summary.csv", tmp_path / "retrieval.png", tmp_path / "protocols.csv")
    assert list(table["method"]) == ["cinesync", "toy", "toy"] and (table["chance_two_way"] == 0.5).all()
    assert list(table["protocol"]) == ["within_subject", "within_subject", "leave_one_subject_out"]
    assert (tmp_path / "retrieval.png").stat().st_size > 0
    # a method that trains one model per subject is "not applicable" to the pooled protocols, not missing
    protocols = pd.read_csv(tmp_path / "protocols.csv").set_index(["method", "protocol"])["status"]
    assert protocols["cinesync", "leave_one_subject_out"] == "not applicable: trains one model per subject"
    assert protocols["toy", "leave_one_subject_out"] == "scored" and protocols["toy", "multi_subject"] == "not configured"


def test_a_method_runs_for_the_subjects_its_section_lists():
    """methods.<name>.subjects: null keeps every subject with both splits, in their order; a list keeps those
    it names; a subject without both splits (or not quoted: 1 for '01') is one error naming the key and the fix."""
    from types import SimpleNamespace

    from cinebrain.methods import method_subjects

    assert method_subjects("toy", SimpleNamespace(subjects=None), ["01", "02", "03"]) == ["01", "02", "03"]
    assert method_subjects("toy", SimpleNamespace(), ["01", "02"]) == ["01", "02"]  # a method without the key
    assert method_subjects("toy", SimpleNamespace(subjects=("03", "01")), ["01", "02", "03"]) == ["01", "03"]
    with pytest.raises(ValueError, match=r"methods.toy.subjects lists 07, 1, which the dataset lacks .* \(subjects "
                                         r"with both: 01, 02\); fix: list some of those, quoted as strings"):
        method_subjects("toy", SimpleNamespace(subjects=("07", 1)), ["01", "02"])
