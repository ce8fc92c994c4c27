"""The committed flag snapshots are real parser dumps with the shape the validator reads."""

from __future__ import annotations

import json
from importlib import resources

import pytest

FLAGS = resources.files("aim_engine.catalogue") / "data" / "flags"


def snapshot(name):
    return json.loads((FLAGS / name).read_text())


def test_engine_files_point_at_existing_snapshots(catalogue):
    for engine in catalogue.engines.values():
        assert engine.flags.options, engine.name
        assert engine.flags.version == engine.version


def test_vllm_snapshot_looks_like_the_real_parser():
    data = snapshot("vllm-0.33.0.json")
    options = data["options"]
    assert data["option_count"] == len(options) > 250
    bools = [o for o in options.values() if o["kind"] == "bool"]
    assert len(bools) > 60 and all(o["negation"].startswith("--no-") for o in bools)
    assert options["--gpu-memory-utilization"]["default"] == 0.92
    assert "-tp" in options["--tensor-parallel-size"]["aliases"]
    assert "fp8" in options["--kv-cache-dtype"]["choices"]
    for removed in (
        "--num-scheduler-steps",
        "--swap-space",
        "--use-v2-block-manager",
        "--device",
        "--task",
        "--max-seq-len-to-capture",
    ):
        assert removed not in options


def test_sglang_snapshot_looks_like_the_real_parser():
    data = snapshot("sglang-0.5.23.json")
    options = data["options"]
    assert data["allow_abbrev"] is True
    assert len(options) > 400
    assert "--tensor-parallel-size" in options["--tp-size"]["aliases"]
    assert "fp8" not in options["--kv-cache-dtype"]["choices"]  # SGLang has no plain fp8
    assert options["--enable-dp-attention"]["deprecated"] is True


@pytest.mark.parametrize("name", ["vllm-0.33.0.json", "sglang-0.5.23.json"])
def test_snapshot_is_stable_json(name):
    text = (FLAGS / name).read_text()
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
