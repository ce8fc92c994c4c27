"""`aim-engine models import`: a catalogue model file from a hub repo's own metadata.

Everything comes through huggingface_hub at one pinned commit: `config.json` (the
figures the memory model needs), the safetensors headers (parameter counts, read with
range requests, no weights downloaded) and the repo's card and settings (license,
gating). The result is a model YAML that passes the model schema, with no recipes yet
and provenance naming the repo and commit. Models the planner cannot describe are
refused with the reason, rather than written with guessed figures.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aim_engine.cache import CacheError
from aim_engine.cache.hub import hub_error, offline
from aim_engine.cache.names import printable
from aim_engine.catalogue.load import schema_errors
from aim_pick.contract.files import write_atomic

if TYPE_CHECKING:
    from huggingface_hub import ModelInfo
    from huggingface_hub.utils import SafetensorsRepoMetadata

SCHEMA_HEADER = "# yaml-language-server: $schema=../compiler/aim_engine/schemas/model.schema.json\n"
FAMILIES = {
    "llama": "Llama",
    "mistral": "Mistral",
    "mixtral": "Mistral",
    "qwen2": "Qwen",
    "qwen2_moe": "Qwen",
    "qwen3": "Qwen",
    "qwen3_moe": "Qwen",
    "gemma": "Gemma",
    "gemma2": "Gemma",
    "gemma3": "Gemma",
    "gemma3_text": "Gemma",
    "deepseek_v2": "DeepSeek",
    "deepseek_v3": "DeepSeek",
    "gpt_oss": "gpt-oss",
    "phi3": "Phi",
    "granite": "Granite",
    "olmo2": "OLMo",
}
REQUIRED = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "vocab_size",
)
DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp16"}  # vLLM's --dtype auto serves fp32 as fp16
# Quantization side tensors: scales, zero points, group indices - not model parameters.
AUX_TENSOR = re.compile(
    r"(^|_)(scale|scales|scale_inv|zero_point|zeros|qzeros|g_idx|inv_freq)$|^(input|output|k|v)_scale$"
)


class Unsupported(CacheError):
    """The repo is not a model the planner can describe; the message says why."""


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def text_config(config: dict) -> tuple[str, dict]:
    """(architecture, the config holding the language model's figures)."""
    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    if arch is None:
        raise Unsupported("config.json names no architectures, so the model cannot be planned")
    if config.get("is_encoder_decoder"):
        raise Unsupported(f"{arch} is an encoder-decoder model; only decoder-only causal LMs are planned")
    if arch.endswith("ForCausalLM"):
        return arch, config
    if arch.endswith("ForConditionalGeneration") and isinstance(config.get("text_config"), dict):
        return arch, {**config["text_config"], "quantization_config": config.get("quantization_config")}
    raise Unsupported(
        f"{arch} is not a causal language model the planner can serve "
        "(expected *ForCausalLM, or *ForConditionalGeneration with a text_config)"
    )


def _precision(cfg: dict, weight_dtypes: set[str]) -> tuple[str, int]:
    """(native precision, bits per packed value) from quantization_config / dtype."""
    qc = cfg.get("quantization_config")
    if isinstance(qc, dict):
        method, bits = qc.get("quant_method"), qc.get("bits")
        if method == "fp8":
            return "fp8", 8
        if method == "mxfp4":
            return "mxfp4", 4
        if method in ("gptq", "awq") and bits in (4, 8):
            return ("int4" if bits == 4 else "int8"), bits
        raise Unsupported(
            f"quantization {method!r}{f' ({bits}-bit)' if bits else ''} is not one the planner models "
            "(fp8, mxfp4, 4/8-bit gptq or awq)"
        )
    dtype = cfg.get("torch_dtype") or cfg.get("dtype")
    if dtype in DTYPES:
        return DTYPES[dtype], 16
    if "BF16" in weight_dtypes or "F16" in weight_dtypes:  # no dtype in config.json: the weights tell
        return ("bf16" if "BF16" in weight_dtypes else "fp16"), 0
    raise Unsupported(f"cannot tell the checkpoint's precision (dtype {dtype!r})")


def logical_parameters(files_metadata: dict, bits: int) -> int:
    """Parameters, not storage elements: packed ints and MXFP4 blocks unpacked, scales left out."""
    total = 0
    for file in files_metadata.values():
        for name, tensor in file.tensors.items():
            leaf = name.rsplit(".", 1)[-1]
            if AUX_TENSOR.search(leaf):
                continue
            count = math.prod(tensor.shape)
            if tensor.dtype == "I32" and leaf == "qweight":
                count *= 32 // bits  # GPTQ/AWQ pack 32/bits values per int32
            elif tensor.dtype == "U8" and leaf.endswith("blocks"):
                count *= 2  # MXFP4 packs two 4-bit values per byte
            total += count
    return total


def _sliding(cfg: dict, layers: int) -> dict:
    window = cfg.get("sliding_window")
    if not _int(window) or cfg.get("use_sliding_window") is False:
        return {}
    types = cfg.get("layer_types")
    if isinstance(types, list) and types:
        count = sum(1 for t in types if t == "sliding_attention")
    elif _int(cfg.get("sliding_window_pattern")):
        count = sum(1 for i in range(layers) if (i + 1) % cfg["sliding_window_pattern"] != 0)
    else:
        count = layers  # Mistral-style: every layer uses the window
    return {"sliding_window": window, "sliding_window_layers": count} if count else {}


def _moe(cfg: dict, layers: int, intermediate: int) -> dict | None:
    experts = next((cfg[k] for k in ("num_local_experts", "num_experts", "n_routed_experts") if _int(cfg.get(k))), None)
    if experts is None or experts < 2:
        return None
    per_token = next((cfg[k] for k in ("num_experts_per_tok", "experts_per_token") if _int(cfg.get(k))), None)
    if per_token is None:
        raise Unsupported("config.json has experts but no num_experts_per_tok, which the memory model needs")
    dense = cfg.get("first_k_dense_replace") or 0
    if isinstance(cfg.get("mlp_only_layers"), list):
        dense += len(cfg["mlp_only_layers"])
    step = cfg.get("decoder_sparse_step") or cfg.get("interleave_moe_layer_step") or 1
    if _int(step) and step > 1:  # only every step-th layer has experts
        dense += layers - layers // step
    shared = cfg.get("n_shared_experts") or (1 if _int(cfg.get("shared_expert_intermediate_size")) else 0)
    return {
        "num_experts": experts,
        "experts_per_token": per_token,
        "moe_intermediate_size": cfg.get("moe_intermediate_size") or intermediate,
        "shared_experts": int(shared),
        "dense_layers": int(min(dense, layers)),
    }


def figures(config: dict, weight_names: set[str], weight_dtypes: set[str]) -> dict:
    """The planning figures of a config.json, with which of them were derived rather than read."""
    arch, cfg = text_config(config)
    missing = [k for k in REQUIRED if not _int(cfg.get(k))]
    if missing:
        raise Unsupported(f"{arch}: config.json lacks {', '.join(missing)}, which the memory model needs")
    derived = []
    heads = cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads")
    if not _int(kv_heads):
        kv_heads = heads
        derived.append("num_key_value_heads")
    head_dim = cfg.get("head_dim")
    if not _int(head_dim):
        if cfg["hidden_size"] % heads:
            raise Unsupported(f"{arch}: no head_dim, and hidden_size is not a multiple of the attention heads")
        head_dim = cfg["hidden_size"] // heads
        derived.append("head_dim")
    tie = cfg.get("tie_word_embeddings", config.get("tie_word_embeddings"))
    if not isinstance(tie, bool):
        tie = not any(name.endswith("lm_head.weight") for name in weight_names)
        derived.append("tie_word_embeddings")
    attention: dict = {"kind": "gqa"}
    if _int(cfg.get("kv_lora_rank")):
        if not _int(cfg.get("qk_rope_head_dim")):
            raise Unsupported(f"{arch}: MLA attention without qk_rope_head_dim, which the memory model needs")
        attention = {
            "kind": "mla",
            **{
                k: cfg[k]
                for k in ("kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim")
                if _int(cfg.get(k))
            },
        }
    attention.update(_sliding(cfg, cfg["num_hidden_layers"]))
    precision, bits = _precision(cfg, weight_dtypes)
    if not bits:
        derived.append("native_precision")
        bits = 16
    rope = cfg.get("rope_scaling")
    return {
        "architecture": arch,
        "model_type": cfg.get("model_type") or config.get("model_type"),
        "native_precision": precision,
        "bits": bits,
        "derived": derived,
        "architecture_config": {
            "hidden_size": cfg["hidden_size"],
            "num_hidden_layers": cfg["num_hidden_layers"],
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": head_dim,
            "intermediate_size": cfg["intermediate_size"],
            "max_position_embeddings": cfg["max_position_embeddings"],
            "vocab_size": cfg["vocab_size"],
            "tie_word_embeddings": tie,
        },
        "attention": attention,
        "moe": _moe(cfg, cfg["num_hidden_layers"], cfg["intermediate_size"]),
        "rope_scaling": rope if isinstance(rope, dict) else None,
    }


def active_parameters(total: int, fig: dict) -> int | None:
    moe = fig["moe"]
    if moe is None:
        return None
    cfg = fig["architecture_config"]
    idle = moe["num_experts"] - moe["experts_per_token"]
    per_expert = 3 * cfg["hidden_size"] * moe["moe_intermediate_size"]
    return max(1, total - (cfg["num_hidden_layers"] - moe["dense_layers"]) * idle * per_expert)


def size_label(total: int, active: int | None) -> str:
    def label(count: int) -> str:
        b = count / 1e9
        if b >= 10:
            return f"{round(b)}"
        if b >= 1:
            return f"{b:.1f}".rstrip("0").rstrip(".")
        digits = max(1, 1 - math.floor(math.log10(b)))  # two significant figures below 1 B
        return f"{b:.{digits}f}"

    return f"{label(total)}B" + (f"-A{label(active)}B" if active else "")


def license_of(info: ModelInfo) -> tuple[str, bool]:
    """(license, read from the hub?) from the card metadata, else the repo's license tag."""
    card = info.card_data
    value = getattr(card, "license", None) if card is not None else None
    if value == "other" and getattr(card, "license_name", None):
        value = getattr(card, "license_name", None)
    if isinstance(value, list):
        value = value[0] if value else None
    if not value:
        value = next((t.split(":", 1)[1] for t in info.tags or [] if t.startswith("license:")), None)
    return (str(value), True) if value else ("unknown", False)


def model_document(
    repo_id: str, commit: str, endpoint: str, info: ModelInfo, config: dict, safetensors: SafetensorsRepoMetadata
) -> dict:
    names = set(safetensors.weight_map)
    dtypes: set[str] = {t.dtype for f in safetensors.files_metadata.values() for t in f.tensors.values()}
    fig = figures(config, names, dtypes)
    total = logical_parameters(safetensors.files_metadata, fig["bits"])
    active = active_parameters(total, fig)
    license, from_hub = license_of(info)
    name = repo_id.split("/", 1)[1]
    read = [k for k in (*fig["architecture_config"], "native_precision") if k not in fig["derived"]] + ["architecture"]
    read += [f"attention.{k}" for k in fig["attention"] if k != "kind"] + [f"moe.{k}" for k in fig["moe"] or {}]
    read.append("rope_scaling")
    where = f"{repo_id} at commit {commit} (huggingface_hub, {endpoint})"
    provenance = [
        {"source": f"{where}: config.json", "kind": "config", "figures": read},
        {
            "source": f"{where}: safetensors headers of {len(safetensors.files_metadata)} file(s), quantization scales "
            "left out and packed values unpacked",
            "kind": "parameter-count",
            "figures": ["parameters.total"],
        },
    ]
    computed = fig["derived"] + (["parameters.active"] if active else [])
    if computed:
        provenance.append(
            {
                "source": "derived: KV heads = attention heads, head_dim = hidden / heads, tied "
                "embeddings = no lm_head.weight tensor, precision = the weights' dtype, "
                "active = total - idle experts' weights",
                "kind": "computed",
                "figures": computed,
            }
        )
    provenance.append(
        {
            "source": f"{where}: model card and repo settings",
            "kind": "model-card",
            "figures": ["license", "gated"] if from_hub else ["gated"],
        }
    )
    kind = "mixture-of-experts" if fig["moe"] else "dense"
    doc = {
        "model_id": repo_id,
        "name": name,
        "family": FAMILIES.get(fig["model_type"] or "", repo_id.split("/")[0]),
        "size": size_label(total, active),
        "readiness_level": "experimental",
        "description": f"{name}: a {kind} {fig['architecture']} model of {total:,} parameters, imported from the "
        f"Hugging Face Hub ({repo_id} at commit {commit[:12]}); no recipes yet.",
        "license": license,
        "gated": info.gated in ("auto", "manual", True),
        "architecture": fig["architecture"],
        "native_precision": fig["native_precision"],
        "parameters": {"total": total, "active": active},
        "architecture_config": fig["architecture_config"],
        "attention": fig["attention"],
    }
    if fig["moe"]:
        doc["moe"] = fig["moe"]
    doc.update(
        {
            "rope_scaling": fig["rope_scaling"],
            "aim_recipes": [],
            "variants": [],
            "provenance": provenance,
            "unverified": [] if from_hub else ["license"],
        }
    )
    return doc


class _Dumper(yaml.SafeDumper):
    """Lists of plain values inline, as the catalogue writes them (`figures: [a, b]`, `aim_recipes: []`)."""

    def represent_list(self, data: Iterable[Any]) -> yaml.SequenceNode:
        inline = all(isinstance(item, (str, int, float, bool)) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


_Dumper.add_representer(list, _Dumper.represent_list)


def _existing_file(out_dir: Path, repo_id: str) -> Path | None:
    for path in sorted(out_dir.glob("*.yaml")):
        match = re.search(r"^model_id:\s*['\"]?([^'\"\s]+)", path.read_text(encoding="utf-8", errors="replace"), re.M)
        if match and match.group(1) == repo_id:
            return path
    return None


def import_model(repo_id: str, revision: str | None, out_dir: Path, force: bool = False) -> tuple[Path, dict, str]:
    """Write `<out_dir>/<name>.yaml` for `repo_id`; (path, document, commit)."""
    if offline():
        raise CacheError(
            f"importing {repo_id} reads its metadata from the hub and needs the network, but HF_HUB_OFFLINE=1 is set"
        )
    existing = _existing_file(out_dir, repo_id) if out_dir.is_dir() else None
    target = existing or out_dir / f"{repo_id.split('/', 1)[1].lower()}.yaml"
    if target.exists() and not force:
        raise CacheError(
            f"{target} already exists{f' and describes {repo_id}' if existing else ''}; pass --force to overwrite it"
        )
    from huggingface_hub import HfApi, constants, errors, hf_hub_download

    api = HfApi()
    try:
        info = api.model_info(repo_id, revision=revision)
        commit = info.sha
        with open(hf_hub_download(repo_id, "config.json", revision=commit), encoding="utf-8") as handle:
            config = json.load(handle)
        safetensors = api.get_safetensors_metadata(repo_id, revision=commit)
    except errors.NotASafetensorsRepoError:
        raise Unsupported(
            f"{repo_id} has no safetensors weights; parameter counts are read from safetensors headers"
        ) from None
    except errors.RemoteEntryNotFoundError:
        raise Unsupported(
            f"{repo_id} has no config.json at {revision or 'main'}, so it is not a model the planner can describe"
        ) from None
    except (ValueError, RecursionError, errors.SafetensorsParsingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Unsupported(f"{repo_id}: unreadable metadata ({printable(first)})") from None
    except Exception as exc:
        raise hub_error(exc, repo_id, revision) from None
    if not isinstance(config, dict):
        raise Unsupported(f"{repo_id}: config.json is not a JSON object")
    if commit is None:
        raise CacheError(f"the hub named no commit for {repo_id} at {revision or 'main'}")
    doc = model_document(repo_id, commit, constants.ENDPOINT, info, config, safetensors)
    problems = schema_errors("model", doc)
    if problems:  # a bug here, not in the repo: never write a file the catalogue would reject
        raise CacheError(
            f"the model file for {repo_id} would not pass the schema: "
            + "; ".join(f"{'.'.join(map(str, where)) or '(top)'}: {text}" for where, text in problems[:3])
        )
    text = SCHEMA_HEADER + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    write_atomic(target, text.encode("utf-8"), parents=True)
    return target, doc, commit
