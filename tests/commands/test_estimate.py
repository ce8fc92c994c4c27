"""`aim-engine estimate`: the VRAM calculator, through the CLI as a user runs it.

Its figures are the planner's (one implementation): the tests compare them with what the planner
computes for the same recipe entry, and with arithmetic a user can redo from the model's config."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from aim_engine.cli import main
from aim_engine.engines import backends_for
from aim_engine.planning.entry import analyse_entry
from aim_engine.planning.estimate import FIELDS, parse_size
from aim_pick.contract.units import GIB
from tests.conftest import REPO

STABLE = ("weights_gib_per_gpu", "available_kv_gib", "kv_tokens", "max_concurrency", "max_model_len_that_fits", "fits")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["estimate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv: str) -> tuple[int, dict]:
    code, out, err = run(capsys, *argv, "--json")
    assert err == ""
    return code, json.loads(out)


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_json_fields_are_the_documented_ones(capsys, catalogue):
    code, data = run_json(capsys, "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--max-model-len", "32768")
    assert code == 0 and list(data) == list(FIELDS)
    assert set(STABLE) <= set(data)
    docs = (REPO / "docs" / "reference" / "memory.md").read_text("utf-8")
    for name in FIELDS:
        assert f"`{name}`" in docs, f"{name} is not documented in docs/reference/memory.md"


@pytest.mark.slow
def test_figures_follow_from_the_config_and_the_checkpoint(capsys, catalogue):
    model = catalogue.find_model("meta-llama/Llama-3.1-8B-Instruct")
    cfg = model.config
    code, one = run_json(capsys, model.model_id, "--gpu", "MI300X", "--max-model-len", "32768")
    assert code == 0 and one["fits"] is True and one["weights_source"] == "checkpoint"
    # Weights: the checkpoint's stored bytes on one GPU.
    assert one["bytes"]["weights_per_gpu"] == model.checkpoint.total_bytes
    assert one["weights_gib_per_gpu"] == round(model.checkpoint.total_bytes / GIB, 3)
    # KV per token: K and V for every layer and KV head, 2 bytes each (bf16 cache).
    per_token = cfg.num_hidden_layers * 2 * cfg.num_key_value_heads * cfg.head_dim * 2
    assert one["kv_bytes_per_token_per_gpu"] == per_token
    available = one["bytes"]["available_kv"]
    assert one["kv_tokens"] == available // per_token
    assert one["max_concurrency"] == available // (per_token * 32768)
    assert one["bytes"]["budget_per_gpu"] == math.floor(one["bytes"]["gpu_memory"] * one["utilization"])
    assert one["max_model_len_that_fits"] == cfg.max_position_embeddings  # 8B on 192 GiB: the whole context

    # TP 2: half the weights and half the KV heads on each GPU.
    code, two = run_json(capsys, model.model_id, "--gpu", "MI300X", "--max-model-len", "32768", "--tp", "2")
    assert code == 0 and two["gpus"] == 2
    assert two["bytes"]["weights_per_gpu"] == pytest.approx(one["bytes"]["weights_per_gpu"] / 2, rel=1e-6)
    assert two["kv_bytes_per_token_per_gpu"] == per_token // 2

    # An fp8 KV cache halves the bytes per token.
    code, fp8 = run_json(
        capsys, model.model_id, "--gpu", "MI300X", "--max-model-len", "32768", "--kv-cache-dtype", "fp8"
    )
    assert fp8["kv_bytes_per_token_per_gpu"] == per_token // 2 and fp8["kv_tokens"] >= 2 * one["kv_tokens"] - 1


@pytest.mark.slow
def test_same_numbers_as_the_planner(capsys, catalogue):
    """The calculator and the planner size an entry through one implementation."""
    backends = backends_for(catalogue.engines)
    cases = [
        ("llama-3.1-70b-instruct-mi300x-fp8", "vllm", "2_gpu"),
        ("qwen3-32b-mi300x-fp8", "sglang", "1_gpu"),
        ("deepseek-r1-mi300x-fp8", "vllm", "8_gpu"),
    ]
    for recipe_id, backend, key in cases:
        recipe = catalogue.recipes[recipe_id]
        entry = next(e for e in recipe.entries_for(backend) if e.key == key)
        model = catalogue.models[recipe.model_id]
        hardware = catalogue.hardware[recipe.hardware]
        planned = analyse_entry(backends[backend], entry, recipe, model, hardware)
        s = planned.settings
        argv = [model.model_id, "--gpu", recipe.hardware, "--backend", backend, "--checkpoint", s.checkpoint]
        argv += ["--tp", str(s.tp), "--max-model-len", str(s.max_model_len)]
        argv += ["--gpu-memory-utilization", str(s.utilization), "--kv-cache-dtype", s.kv_cache_dtype]
        argv += ["--max-num-batched-tokens", str(s.max_num_batched_tokens), "--max-num-seqs", str(s.max_num_seqs)]
        if s.expert_parallel:
            continue  # not a calculator flag; the weights would differ only in replication
        code, data = run_json(capsys, *argv)
        m = planned.memory
        assert (data["fits"], code) == (m.fits, 0 if m.fits else 3), recipe_id
        assert data["bytes"]["weights_per_gpu"] == m.weights_bytes_per_gpu, recipe_id
        assert data["bytes"]["available_kv"] == m.kv_budget_bytes_per_gpu, recipe_id
        assert data["bytes"]["kv_per_request"] == m.kv_bytes_per_request, recipe_id
        assert data["max_concurrency"] == m.max_concurrency and data["kv_tokens"] == m.kv_tokens, recipe_id
        assert data["max_model_len_that_fits"] == m.max_model_len_that_fits, recipe_id


@pytest.mark.slow
def test_any_memory_size_and_the_longest_context_that_fits(capsys):
    """--gpu-memory sizes a GPU the catalogue does not know; a context that does not fit exits 3
    and names the longest one that would, which then fits."""
    model = "meta-llama/Llama-3.1-8B-Instruct"
    code, small = run_json(capsys, model, "--gpu-memory", "24GiB", "--platform", "cuda", "--max-model-len", "131072")
    assert code == 3 and small["fits"] is False and small["gpu"] == "custom" and small["platform"] == "cuda"
    assert small["gpu_memory_gib"] == 24.0 and small["max_num_batched_tokens"] == 2048  # vLLM's small-GPU default
    longest = small["max_model_len_that_fits"]
    assert 0 < longest < 131072
    code, fits = run_json(capsys, model, "--gpu-memory", "24GiB", "--platform", "cuda", "--max-model-len", str(longest))
    assert code == 0 and fits["fits"] and fits["max_concurrency"] >= 1
    code, over = run_json(
        capsys, model, "--gpu-memory", "24GiB", "--platform", "cuda", "--max-model-len", str(longest + 16)
    )
    assert code == 3 and not over["fits"]

    code, rocm = run_json(capsys, model, "--gpu-memory", "24GiB", "--max-model-len", "131072")
    code, out, err = run(capsys, model, "--gpu-memory", "24GiB", "--max-model-len", "131072")
    assert code == 3 and err == "" and "does not fit" in out
    assert f"longest context that fits: {rocm['max_model_len_that_fits']:,} tokens" in out
    assert f"{rocm['weights_gib_per_gpu']:,.2f} GiB" in out


def test_sglang_sizes_its_static_pool(capsys):
    code, data = run_json(
        capsys, "Qwen/Qwen3-32B", "--gpu", "MI300X", "--backend", "sglang", "--max-model-len", "32768"
    )
    assert code == 0 and data["backend"] == "sglang"
    # SGLang keeps runtime and activations outside --mem-fraction-static: weights + KV pool stay inside it.
    assert data["bytes"]["weights_per_gpu"] + data["bytes"]["available_kv"] <= data["bytes"]["budget_per_gpu"]
    assert data["bytes"]["overhead_per_gpu"] > 0


@pytest.mark.slow
def test_a_checkpoint_variant_uses_its_own_stored_size(capsys, copy_catalogue):
    """--checkpoint serves a variant: its recorded stored bytes when it has them, else its
    parameters at the variant's format (here block FP8: about half the bf16 checkpoint)."""
    base = ["Qwen/Qwen3-8B", "--gpu", "MI300X", "--max-model-len", "32768", "--root", str(copy_catalogue)]
    path = copy_catalogue / "models" / "qwen3-8b.yaml"
    model = yaml.safe_load(path.read_text("utf-8"))
    variant = next(v for v in model["variants"] if v["model_id"] == "Qwen/Qwen3-8B-FP8")
    recorded = variant["checkpoint"]["total_bytes"]
    code, main_ckpt = run_json(capsys, *base)
    code, fp8 = run_json(capsys, *base, "--checkpoint", "Qwen/Qwen3-8B-FP8")
    assert code == 0 and fp8["checkpoint"] == "Qwen/Qwen3-8B-FP8" and fp8["weight_format"] == "fp8_block"
    assert fp8["weights_source"] == "checkpoint" and fp8["checkpoint_bytes"] == recorded
    assert fp8["bytes"]["weights_per_gpu"] == recorded
    assert fp8["available_kv_gib"] > main_ckpt["available_kv_gib"]

    del variant["checkpoint"]  # a variant with no recorded size: its parameters at its format
    path.write_text(yaml.safe_dump(model, sort_keys=False), "utf-8")
    code, unsized = run_json(capsys, *base, "--checkpoint", "Qwen/Qwen3-8B-FP8")
    assert code == 0 and unsized["weights_source"] == "parameters" and unsized["checkpoint_bytes"] is None
    assert 0.5 < unsized["bytes"]["weights_per_gpu"] / main_ckpt["bytes"]["weights_per_gpu"] < 0.65


def test_notes_say_what_the_figures_do_not(capsys):
    code, long = run_json(capsys, "meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--max-model-len", "500000")
    assert long["fits"] and any("beyond the model's maximum context (131,072)" in n for n in long["notes"])
    code, sglang = run_json(capsys, "openai/gpt-oss-20b", "--gpu", "MI300X", "--backend", "sglang")
    assert any("SGLang 0.5.23 has no mxfp4 kernels on MI300X" in n for n in sglang["notes"])
    code, native = run_json(capsys, "openai/gpt-oss-20b", "--gpu", "MI355X", "--max-model-len", "32768")
    assert native["notes"] == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["no-such-model", "--gpu", "MI300X"], "unknown model 'no-such-model'"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI999X"], "unknown GPU 'MI999X'"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--tp", "3"], "--tp 3: TP 3 does not divide"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--tp", "0"], "--tp must be at least 1"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--pp", "33"], "--pp 33: more pipeline stages"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu-memory", "12XB"], "'12XB' is not a size"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu-memory", "100MiB"], "outside 1 GiB to 64 TiB"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--checkpoint", "x/y"], "--checkpoint 'x/y'"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--kv-cache-dtype", "fp3"], "--kv-cache-dtype"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--gpu-memory-utilization", "1.5"], "1.5"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--gpu-memory-utilization", "nan"], "non-finite"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--gpu-memory-utilization", "inf"], "non-finite"),
        (["meta-llama/Llama-3.1-8B-Instruct", "--gpu", "MI300X", "--platform", "cuda"], "--platform goes with"),
        (["--gpu", "MI300X"], "name one MODEL"),
    ],
)
def test_bad_requests_are_one_clear_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


def test_a_checkpoint_folder_with_config(capsys, tmp_path, monkeypatch):
    """--config sizes any checkpoint folder (config.json and safetensors headers), no catalogue entry needed."""
    from tests.cache.conftest import llama_config, llama_tensors, safetensors_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "someone--tiny"
    folder.mkdir()
    cfg = llama_config()
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "model.safetensors").write_bytes(safetensors_file(llama_tensors(cfg), seed=3))
    code, data = run_json(capsys, "--config", str(folder), "--gpu-memory", "16GiB", "--max-model-len", "2048")
    assert code == 0 and data["fits"] and data["weights_source"] == "checkpoint"
    header = int.from_bytes((folder / "model.safetensors").read_bytes()[:8], "little")
    stored = (folder / "model.safetensors").stat().st_size - 8 - header
    assert data["bytes"]["weights_per_gpu"] == stored
    assert data["kv_bytes_per_token_per_gpu"] == cfg["num_hidden_layers"] * 2 * 2 * cfg["head_dim"] * 2
    assert data["max_model_len_that_fits"] == cfg["max_position_embeddings"]

    code, out, err = run(capsys, "--config", str(tmp_path / "nowhere"), "--gpu-memory", "16GiB")
    assert code == 2 and "has no config.json" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("80GiB", 80 * GIB),
        ("192GB", 192 * 10**9),
        ("64G", 64 * GIB),
        ("1.5 TiB", int(1.5 * 1024 * GIB)),
        (str(20 * GIB), 20 * GIB),
    ],
)
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.slow
def test_the_readme_example_is_what_the_command_prints(capsys):
    readme = (REPO / "README.md").read_text("utf-8")
    block = readme[readme.index("$ aim-engine estimate ") :].split("```")[0].strip().splitlines()
    argv = block[0].removeprefix("$ aim-engine estimate ").split()
    code, out, err = run(capsys, *argv)
    assert code == 3 and out.strip().splitlines() == block[1:]
