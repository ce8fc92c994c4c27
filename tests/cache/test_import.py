"""`aim-engine models import`: model files from a hub repo's config and safetensors headers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from aim_engine.cache import hub_import
from aim_engine.cache.hub_import import Unsupported, figures, logical_parameters, size_label
from aim_engine.catalogue.load import schema_errors
from aim_engine.cli import main

from .conftest import LLAMA_MAIN, LLAMA_V1, MOE, cli, llama_config, llama_parameters, moe_parameters


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
    assert all(
        f"fake-org/tiny-llama at commit {LLAMA_MAIN}" in p["source"]
        for p in doc["provenance"]
        if p["kind"] != "computed"
    )
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
