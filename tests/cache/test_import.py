"""`aim-engine models import`: model files from a hub repo's config and safetensors headers."""

from __future__ import annotations

import json
import math
import struct
from types import SimpleNamespace

import pytest
import yaml

from aim_engine.cache import hub_import
from aim_engine.cache.hub_import import Unsupported, figures, logical_parameters, size_label
from aim_engine.catalogue.load import schema_errors
from aim_engine.cli import main

from .conftest import (
    DTYPE_BYTES,
    LLAMA_MAIN,
    LLAMA_V1,
    LLAMA_WEIGHTS,
    MOE,
    cli,
    llama_config,
    llama_parameters,
    moe_parameters,
    safetensors_file,
)


def load(path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.slow
def test_import_writes_a_valid_model_file_the_catalogue_accepts(hub_env, fake_hub, copy_catalogue, capsys):
    out = copy_catalogue / "models"
    result = cli(hub_env, "models", "import", "fake-org/tiny-llama", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out / 'tiny-llama.yaml'}" in result.stdout and LLAMA_MAIN in result.stdout
    doc = load(out / "tiny-llama.yaml")
    assert schema_errors("model", doc) == []
    cfg = llama_config()
    assert doc["architecture_config"] == {k: cfg[k] for k in doc["architecture_config"]}
    assert doc["parameters"] == {"total": llama_parameters(cfg), "active": None}
    assert (doc["architecture"], doc["native_precision"], doc["license"], doc["gated"]) == (
        "LlamaForCausalLM",
        "bf16",
        "llama3.1",
        False,
    )
    assert doc["aim_recipes"] == [] and doc["attention"] == {"kind": "gqa"} and doc["family"] == "Llama"
    assert all(LLAMA_MAIN in p["source"] for p in doc["provenance"] if p["kind"] != "computed")
    assert doc["provenance"][0]["source"].endswith(f"/fake-org/tiny-llama/blob/{LLAMA_MAIN}/config.json")
    tensor_bytes = llama_parameters(cfg) * 2  # every tensor BF16
    assert doc["checkpoint"]["total_bytes"] == tensor_bytes and doc["checkpoint"]["bytes_by_dtype"] == {
        "BF16": tensor_bytes
    }
    assert "left to fill by hand:" in result.stdout and "reasoning_parser" in result.stdout
    assert (out / "tiny-llama.yaml").read_text().startswith("# yaml-language-server: $schema=")
    assert not fake_hub.requests("GET", "/cdn/") or all(r["range"] for r in fake_hub.requests("GET", "/cdn/"))
    assert main(["validate", "--root", str(copy_catalogue)]) == 0  # loads, cross-checks, no recipes needed
    assert "0 error(s)" in capsys.readouterr().out

    result = cli(hub_env, "models", "import", "fake-org/tiny-llama", "--out", str(out))
    assert result.returncode == 1 and "already exists" in result.stderr and "--force" in result.stderr
    result = cli(hub_env, "models", "import", "fake-org/tiny-llama", "--revision", "v1", "--out", str(out), "--force")
    assert result.returncode == 0, result.stderr
    doc = load(out / "tiny-llama.yaml")
    assert doc["architecture_config"]["max_position_embeddings"] == 1024 and LLAMA_V1 in doc["provenance"][0]["source"]


@pytest.mark.slow
def test_packed_and_sharded_checkpoints_count_parameters_not_storage(hub_env, fake_hub, tmp_path):
    result = cli(hub_env, "models", "import", "fake-org/tiny-llama-FP8", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    doc = load(tmp_path / "tiny-llama-fp8.yaml")
    assert doc["native_precision"] == "fp8" and doc["parameters"]["total"] == llama_parameters(llama_config())
    result = cli(hub_env, "models", "import", "fake-org/tiny-moe", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    doc = load(tmp_path / "tiny-moe.yaml")
    total, active = moe_parameters()
    assert doc["parameters"] == {"total": total, "active": active}
    assert doc["moe"] == {
        "num_experts": 4,
        "experts_per_token": 2,
        "moe_intermediate_size": 32,
        "shared_experts": 0,
        "dense_layers": 0,
    }
    assert doc["attention"] == {"kind": "gqa"}  # use_sliding_window: false
    assert doc["rope_scaling"] == MOE["rope_scaling"] and doc["family"] == "Qwen" and schema_errors("model", doc) == []


@pytest.mark.slow
def test_refusals_and_gated_repos(hub_env, fake_hub, tmp_path):
    tmp_path = tmp_path / "models"
    result = cli(hub_env, "models", "import", "fake-org/tiny-bert", "--out", str(tmp_path))
    assert result.returncode == 1 and "BertModel is not a causal language model" in result.stderr
    result = cli(hub_env, "models", "import", "fake-org/nothing-here", "--out", str(tmp_path))
    assert result.returncode == 1 and "no such model repo" in result.stderr
    result = cli(hub_env, "models", "import", "fake-gated/tiny-gated", "--out", str(tmp_path))
    assert result.returncode == 1 and "gated model" in result.stderr and "HF_TOKEN" in result.stderr
    assert not tmp_path.exists()
    env = {**hub_env, "HF_TOKEN": "hf_granted"}
    assert cli(env, "models", "import", "fake-gated/tiny-gated", "--out", str(tmp_path)).returncode == 0
    doc = load(tmp_path / "tiny-gated.yaml")
    assert doc["gated"] is True and doc["license"] == "fake-community"


# --- the figures, without a hub ------------------------------------------------------------


def test_missing_figures_and_unsupported_models_are_refused():
    with pytest.raises(Unsupported, match="lacks intermediate_size, vocab_size"):
        figures({k: v for k, v in llama_config().items() if k not in ("intermediate_size", "vocab_size")}, set(), set())
    with pytest.raises(Unsupported, match="encoder-decoder"):
        figures({"architectures": ["T5ForConditionalGeneration"], "is_encoder_decoder": True}, set(), set())
    with pytest.raises(Unsupported, match="names no architectures"):
        figures({"hidden_size": 4}, set(), set())
    with pytest.raises(Unsupported, match="quantization 'bitsandbytes'"):
        figures(llama_config(quantization_config={"quant_method": "bitsandbytes"}), set(), set())
    with pytest.raises(Unsupported, match="num_experts_per_tok"):
        figures(llama_config(num_local_experts=8), set(), set())


def test_mla_sliding_window_and_derived_figures():
    deepseek = {
        "architectures": ["DeepseekV3ForCausalLM"],
        "model_type": "deepseek_v3",
        "hidden_size": 7168,
        "intermediate_size": 18432,
        "moe_intermediate_size": 2048,
        "num_hidden_layers": 61,
        "num_attention_heads": 128,
        "num_key_value_heads": 128,
        "max_position_embeddings": 163840,
        "vocab_size": 129280,
        "kv_lora_rank": 512,
        "q_lora_rank": 1536,
        "qk_rope_head_dim": 64,
        "qk_nope_head_dim": 128,
        "v_head_dim": 128,
        "n_routed_experts": 256,
        "num_experts_per_tok": 8,
        "n_shared_experts": 1,
        "first_k_dense_replace": 3,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]},
    }
    fig = figures(deepseek, set(), set())
    assert fig["attention"] == {
        "kind": "mla",
        "kv_lora_rank": 512,
        "q_lora_rank": 1536,
        "qk_rope_head_dim": 64,
        "qk_nope_head_dim": 128,
        "v_head_dim": 128,
    }
    assert fig["moe"] == {
        "num_experts": 256,
        "experts_per_token": 8,
        "moe_intermediate_size": 2048,
        "shared_experts": 1,
        "dense_layers": 3,
    }
    assert fig["architecture_config"]["head_dim"] == 56 and fig["derived"] == ["head_dim"]  # as models/deepseek-r1.yaml
    assert fig["native_precision"] == "fp8"
    gpt_oss = {
        "architectures": ["GptOssForCausalLM"],
        "model_type": "gpt_oss",
        "hidden_size": 2880,
        "intermediate_size": 2880,
        "num_hidden_layers": 4,
        "num_attention_heads": 64,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "max_position_embeddings": 131072,
        "vocab_size": 201088,
        "sliding_window": 128,
        "layer_types": ["sliding_attention", "full_attention"] * 2,
        "num_local_experts": 32,
        "experts_per_token": 4,
        "quantization_config": {"quant_method": "mxfp4"},
    }
    fig = figures(gpt_oss, {"model.embed_tokens.weight"}, set())
    assert fig["attention"] == {"kind": "gqa", "sliding_window": 128, "sliding_window_layers": 2}
    assert fig["architecture_config"]["tie_word_embeddings"] is True  # no lm_head.weight tensor
    assert fig["native_precision"] == "mxfp4" and fig["moe"]["moe_intermediate_size"] == 2880
    gemma = {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "tie_word_embeddings": True,
        "text_config": {
            **llama_config(
                model_type="gemma3_text", sliding_window=1024, sliding_window_pattern=6, num_hidden_layers=62
            )
        },
    }
    fig = figures(gemma, set(), set())
    assert fig["attention"]["sliding_window_layers"] == 52 and fig["architecture"] == "Gemma3ForConditionalGeneration"


def tensor(dtype: str, shape: list[int]) -> SimpleNamespace:
    return SimpleNamespace(dtype=dtype, shape=shape)


def test_logical_parameter_counts_unpack_and_skip_scales():
    mxfp4 = {
        "f": SimpleNamespace(
            tensors={
                "model.layers.0.mlp.experts.gate_up_proj_blocks": tensor("U8", [32, 5760, 90, 16]),
                "model.layers.0.mlp.experts.gate_up_proj_scales": tensor("U8", [32, 5760, 90]),
                "model.layers.0.mlp.experts.gate_up_proj_bias": tensor("BF16", [32, 5760]),
                "model.embed_tokens.weight": tensor("BF16", [201088, 2880]),
            }
        )
    }
    assert logical_parameters(mxfp4, 4) == 32 * 5760 * 2880 + 32 * 5760 + 201088 * 2880
    gptq = {
        "f": SimpleNamespace(
            tensors={
                "l.qweight": tensor("I32", [512, 4096]),
                "l.qzeros": tensor("I32", [32, 512]),
                "l.scales": tensor("F16", [32, 4096]),
                "l.g_idx": tensor("I32", [4096]),
                "l.bias": tensor("F16", [4096]),
            }
        )
    }
    assert logical_parameters(gptq, 4) == 4096 * 4096 + 4096
    fp8 = {
        "f": SimpleNamespace(
            tensors={
                "q.weight": tensor("F8_E4M3", [256, 256]),
                "q.weight_scale_inv": tensor("F32", [2, 2]),
                "q.input_scale": tensor("F32", [1]),
            }
        )
    }
    assert logical_parameters(fp8, 8) == 256 * 256


@pytest.mark.parametrize(
    ("total", "active", "label"),
    [
        (8_190_735_360, None, "8.2B"),
        (32_762_123_264, None, "33B"),
        (30_532_122_624, 3_353_032_704, "31B-A3.4B"),
        (598_336, None, "0.00060B"),
    ],
)
def test_size_labels_fit_the_schema(total, active, label):
    assert size_label(total, active) == label
    doc_errors = [e for e in schema_errors("model", {"size": label}) if e[0] == ("size",)]
    assert doc_errors == []


def test_license_falls_back_to_the_repo_tag():
    info = SimpleNamespace(card_data=None, tags=["license:mit"])
    assert hub_import.license_of(info) == ("mit", True)
    assert hub_import.license_of(SimpleNamespace(card_data=None, tags=[])) == ("unknown", False)


@pytest.mark.slow
def test_variants_are_read_from_their_own_checkpoints_and_added_to_an_existing_file(hub_env, fake_hub, tmp_path):
    out = tmp_path / "models"
    result = cli(
        hub_env, "models", "import", "fake-org/tiny-llama", "--out", str(out), "--variant", "fake-org/tiny-llama-FP8"
    )
    assert result.returncode == 0, result.stderr
    assert "variant fake-org/tiny-llama-FP8: fp8 (fp8)" in result.stdout
    doc = load(out / "tiny-llama.yaml")
    (fp8,) = doc["variants"]
    cfg = llama_config()
    linear = (
        llama_parameters(cfg) - 2 * cfg["vocab_size"] * cfg["hidden_size"] - (2 * cfg["num_hidden_layers"] + 1) * 64
    )
    assert fp8["checkpoint"]["bytes_by_dtype"]["F8_E4M3"] == linear  # one byte per linear weight
    assert fp8["checkpoint"]["bytes_by_dtype"]["F32"] == 2 * 7 * 2 * 4  # weight and input scales, 2 layers x 7
    assert fp8["source"].endswith("/config.json (quantization_config)") and fp8["verified"] is True

    # The file exists: --variant alone adds to it, keeping what is there.
    result = cli(
        hub_env,
        "models",
        "import",
        "fake-org/tiny-llama",
        "--out",
        str(out),
        "--variant",
        "fake-amd/tiny-llama-FP8-KV",
        "--variant",
        "fake-org/tiny-llama-mirror",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"updated {out / 'tiny-llama.yaml'}")
    doc = load(out / "tiny-llama.yaml")
    assert schema_errors("model", doc) == []
    by_id = {v["model_id"]: v for v in doc["variants"]}
    assert list(by_id) == ["fake-org/tiny-llama-FP8", "fake-amd/tiny-llama-FP8-KV", "fake-org/tiny-llama-mirror"]
    kv = by_id["fake-amd/tiny-llama-FP8-KV"]
    assert (kv["precision"], kv["quantization"], kv["kv_cache_fp8_scales"]) == ("fp8", "fp8", True)
    mirror = by_id["fake-org/tiny-llama-mirror"]
    assert (mirror["precision"], mirror["quantization"], mirror["alias_of"]) == ("bf16", "none", True)
    result = cli(
        hub_env, "models", "import", "fake-org/tiny-llama", "--out", str(out), "--variant", "fake-org/tiny-llama"
    )
    assert result.returncode == 2 and "not a variant" in result.stderr


# --- offline: a local folder ---------------------------------------------------------------


def hybrid_vlm_config() -> dict:
    """A small Qwen3.5-style model: Gated DeltaNet layers, MoE, a vision tower, thinking by default."""
    return {
        "architectures": ["Qwen3_5MoeForConditionalGeneration"],
        "model_type": "qwen3_5_moe",
        "tie_word_embeddings": False,
        "video_token_id": 9,
        "text_config": {
            "model_type": "qwen3_5_moe_text",
            "hidden_size": 64,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 16,
            "layer_types": ["linear_attention"] * 3 + ["full_attention"],
            "linear_num_key_heads": 2,
            "linear_num_value_heads": 4,
            "linear_key_head_dim": 16,
            "linear_value_head_dim": 16,
            "linear_conv_kernel_dim": 4,
            "num_experts": 4,
            "num_experts_per_tok": 2,
            "moe_intermediate_size": 32,
            "shared_expert_intermediate_size": 32,
            "max_position_embeddings": 4096,
            "vocab_size": 512,
            "dtype": "bfloat16",
        },
        "vision_config": {"depth": 1, "hidden_size": 32},
    }


HYBRID_TENSORS = {
    "model.language_model.embed_tokens.weight": ("BF16", [512, 64]),
    "model.language_model.layers.0.linear_attn.in_proj_qkvz.weight": ("BF16", [192, 64]),
    "model.language_model.layers.3.self_attn.q_proj.weight": ("BF16", [64, 64]),
    "model.language_model.layers.3.mlp.experts.0.down_proj.weight": ("BF16", [64, 32]),
    "mtp.layers.0.mlp.gate.weight": ("BF16", [4, 64]),
    "model.visual.blocks.0.attn.qkv.weight": ("BF16", [96, 32]),
    "model.visual.merger.linear_fc2.weight": ("F32", [64, 32]),
    "lm_head.weight": ("BF16", [512, 64]),
}
CARD = "---\nlicense: other\nlicense_name: tiny-licence\nextra_gated_prompt: accept it\n---\n# Tiny\n"


def test_from_dir_reads_config_headers_and_card_without_a_hub(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = tmp_path / "fake-org--tiny-hybrid-vl"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(hybrid_vlm_config()))
    (folder / "README.md").write_text(CARD)
    names = list(HYBRID_TENSORS)
    first = safetensors_file({n: HYBRID_TENSORS[n] for n in names[:4]}, seed=1)
    (folder / "model-00001-of-00002.safetensors").write_bytes(first)
    second = safetensors_file({n: HYBRID_TENSORS[n] for n in names[4:]}, seed=2)
    length = struct.unpack("<Q", second[:8])[0]
    (folder / "model-00002-of-00002.safetensors").write_bytes(second[: 8 + length])  # the header is enough
    out = tmp_path / "models"
    assert main(["models", "import", "--from-dir", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    doc = load(out / "tiny-hybrid-vl.yaml")
    assert schema_errors("model", doc) == [] and doc["model_id"] == "fake-org/tiny-hybrid-vl"
    assert doc["model_type"] == "qwen3_5_moe" and doc["family"] == "Qwen"
    assert doc["attention"] == {
        "kind": "hybrid",
        "linear": {
            "layers": 3,
            "num_key_heads": 2,
            "num_value_heads": 4,
            "key_head_dim": 16,
            "value_head_dim": 16,
            "conv_kernel": 4,
        },
    }
    assert doc["moe"]["shared_experts"] == 1 and doc["architecture_config"]["intermediate_size"] == 32
    params = {n: math.prod(shape) for n, (_, shape) in HYBRID_TENSORS.items()}
    assert doc["parameters"]["total"] == sum(params.values())
    assert doc["multimodal"] == {
        "encoder_params": params["model.visual.blocks.0.attn.qkv.weight"]
        + params["model.visual.merger.linear_fc2.weight"],
        "modalities": ["image", "video"],
    }
    by_dtype = {}
    for dtype, shape in HYBRID_TENSORS.values():
        by_dtype[dtype] = by_dtype.get(dtype, 0) + math.prod(shape) * DTYPE_BYTES[dtype]
    assert doc["checkpoint"]["bytes_by_dtype"] == by_dtype and doc["checkpoint"]["total_bytes"] == sum(
        by_dtype.values()
    )
    assert doc["serving"] == {
        "vllm": {"text_only_args": {"--language-model-only": True}},
        "sglang": {"text_only_args": {"--language-model-only": True}},
    }
    assert (doc["license"], doc["gated"], doc["unverified"]) == ("tiny-licence", True, ["gated"])
    assert "MTP" in printed and "replace them with the repo + commit" in printed
    assert all("local folder" in p["source"] for p in doc["provenance"] if p["kind"] != "computed")

    # A hub-cache snapshot names the repo and the commit; the sources then point at the hub.
    commit = "ab" * 20
    snap = tmp_path / "hub" / "models--fake-org--tiny-llama" / "snapshots" / commit
    snap.mkdir(parents=True)
    (snap / "config.json").write_text(json.dumps(llama_config()))
    (snap / "model.safetensors").write_bytes(LLAMA_WEIGHTS)
    assert main(["models", "import", "--from-dir", str(snap), "--out", str(out)]) == 0
    doc = load(out / "tiny-llama.yaml")
    assert doc["parameters"]["total"] == llama_parameters(llama_config())
    assert doc["provenance"][0]["source"] == f"https://huggingface.co/fake-org/tiny-llama/blob/{commit}/config.json"
    assert doc["license"] == "unknown" and "license" in doc["unverified"]


def test_from_dir_refusals(tmp_path, capsys):
    out = tmp_path / "models"
    empty = tmp_path / "somewhere"
    empty.mkdir()
    assert main(["models", "import", "--from-dir", str(empty), "--out", str(out)]) == 1
    assert "has no config.json" in capsys.readouterr().err
    (empty / "config.json").write_text(json.dumps(llama_config()))
    assert main(["models", "import", "--from-dir", str(empty), "--out", str(out)]) == 2
    assert "cannot tell which hub id" in capsys.readouterr().err
    assert main(["models", "import", "fake-org/x", "--from-dir", str(empty), "--out", str(out)]) == 1
    assert "no safetensors weights" in capsys.readouterr().err
    (empty / "model.safetensors").write_bytes(b"\xff" * 16)
    assert main(["models", "import", "fake-org/x", "--from-dir", str(empty), "--out", str(out)]) == 1
    assert "header" in capsys.readouterr().err
    (empty / "model.safetensors").unlink()
    (empty / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 10}, "weight_map": {}}))
    assert main(["models", "import", "fake-org/x", "--from-dir", str(empty), "--out", str(out)]) == 1
    assert "cannot be counted" in capsys.readouterr().err
    index = {"metadata": {"total_size": 1000, "total_parameters": 500}, "weight_map": {"lm_head.weight": "a"}}
    (empty / "model.safetensors.index.json").write_text(json.dumps(index))
    assert main(["models", "import", "fake-org/x", "--from-dir", str(empty), "--out", str(out)]) == 0
    assert "bytes per dtype" in capsys.readouterr().out
    doc = load(out / "x.yaml")
    assert doc["parameters"]["total"] == 500 and doc["checkpoint"]["total_bytes"] == 1000
    assert "bytes_by_dtype" not in doc["checkpoint"] and not out.joinpath("tiny-llama.yaml").exists()
    assert main(["models", "import", "--from-dir", str(empty), "--variant", "a/b", "fake-org/x"]) == 2


def test_a_multimodal_config_gives_its_dtype_at_the_top_level(tmp_path):
    """Gemma-, Llama-4- and Kimi-style configs give the dtype beside text_config, not in it; with only
    the index read (no headers to tell the weights' dtype) the import still knows the precision."""
    config = hybrid_vlm_config()
    del config["text_config"]["dtype"]
    config["torch_dtype"] = "float16"
    folder = tmp_path / "fake-org--top-dtype-vl"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    index = {"metadata": {"total_size": 2000, "total_parameters": 1000}, "weight_map": {}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    out = tmp_path / "models"
    assert main(["models", "import", "--from-dir", str(folder), "--out", str(out)]) == 0
    doc = load(out / "top-dtype-vl.yaml")
    assert doc["native_precision"] == "fp16" and schema_errors("model", doc) == []


def test_hybrid_indexer_chunked_and_quantized_configs():
    qwen_next = {
        "architectures": ["Qwen3NextForCausalLM"],
        "model_type": "qwen3_next",
        **{k: v for k, v in hybrid_vlm_config()["text_config"].items() if k != "layer_types"},
        "full_attention_interval": 4,
        "num_hidden_layers": 8,
        "intermediate_size": 128,
    }
    assert figures(qwen_next, set(), set())["attention"]["linear"]["layers"] == 6
    glm5 = {
        "architectures": ["GlmMoeDsaForCausalLM"],
        **{k: v for k, v in llama_config().items() if k != "architectures"},
        "kv_lora_rank": 512,
        "qk_rope_head_dim": 64,
        "index_n_heads": 32,
        "index_head_dim": 128,
        "index_topk": 2048,
    }
    att = figures(glm5, set(), set())["attention"]
    assert att["kind"] == "mla" and att["indexer"] == {"n_heads": 32, "head_dim": 128, "topk": 2048}
    with pytest.raises(Unsupported, match="indexer without MLA"):
        figures({**llama_config(), "index_n_heads": 4, "index_head_dim": 8, "index_topk": 16}, set(), set())
    llama4 = {
        "architectures": ["Llama4ForConditionalGeneration"],
        "vision_config": {"hidden_size": 8},
        "text_config": {
            **llama_config(model_type="llama4_text", num_hidden_layers=8, num_local_experts=4, num_experts_per_tok=1),
            "attention_chunk_size": 8192,
            "no_rope_layers": [1, 1, 1, 0] * 2,
            "interleave_moe_layer_step": 2,
        },
    }
    fig = figures(llama4, set(), set())
    assert fig["attention"] == {"kind": "gqa", "sliding_window": 8192, "sliding_window_layers": 6}
    assert fig["moe"]["shared_experts"] == 1 and fig["moe"]["dense_layers"] == 4 and fig["modalities"] == ["image"]
    gemma4 = {"architectures": ["Gemma4ForCausalLM"], **llama_config(global_head_dim=512, head_dim=256)}
    with pytest.raises(Unsupported, match="one KV head size per model"):
        figures(gemma4, set(), set())
    with pytest.raises(Unsupported, match="block-sparse"):
        figures(llama_config(sparse_attention_config={"use_sparse_attention": True}), set(), set())
    int4 = {
        "quant_method": "compressed-tensors",
        "format": "pack-quantized",
        "config_groups": {"g": {"weights": {"num_bits": 4, "type": "int", "group_size": 32}}},
    }
    kimi = {"architectures": ["KimiK25ForConditionalGeneration"], "text_config": llama_config(quantization_config=int4)}
    quant = figures(kimi, set(), set())["quantization"]
    assert (quant.precision, quant.method, quant.bits) == ("int4", "w4a16", 4)
    mx = {"quant_method": "quark", "global_quant_config": {"weight": {"dtype": "fp4", "qscheme": "per_group"}}}
    assert figures(llama_config(quantization_config=mx), set(), set())["quantization"].method == "mxfp4"
    gemma3 = {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "text_config": {**llama_config(), "model_type": "gemma3_text"},
    }
    del gemma3["text_config"]["vocab_size"]
    fig = figures({**gemma3, "text_config": {**gemma3["text_config"], "sliding_window": 1024}}, set(), set())
    assert fig["architecture_config"]["vocab_size"] == 262208 and "vocab_size" in fig["derived"]
