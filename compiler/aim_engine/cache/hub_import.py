"""`aim-engine models import`: a catalogue model file from a checkpoint's own metadata.

Two routes, one document:

- **online** (`import ORG/NAME`): everything comes through huggingface_hub at one pinned
  commit: `config.json` (the figures the memory model needs), the safetensors headers
  (parameter counts and stored bytes per dtype, read with range requests, no weights
  downloaded) and the repo's card and settings (license, gating). `--variant ORG/NAME`
  reads another checkpoint of the same model the same way and lists it under `variants`
  with its quantization and stored size.
- **offline** (`import --from-dir PATH`): the same files from a local folder (a download,
  a hub-cache snapshot): `config.json`, and if present the safetensors files (only their
  headers are read: 8-byte little-endian length + JSON, so a file cut after its header
  is enough), `model.safetensors.index.json` and the model card `README.md`.

The result is a model YAML that passes the model schema, with no recipes yet and
provenance naming what was read. What the files cannot say (serving parsers, a public
source for a local folder, ...) is listed as left to fill by hand. Models the planner
cannot describe are refused with the reason, rather than written with guessed figures.
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aim_engine.cache import CacheError
from aim_engine.cache.hub import hub_error, offline
from aim_engine.cache.names import printable
from aim_engine.catalogue.load import schema_errors
from aim_pick.contract import cache_state
from aim_pick.contract.files import write_atomic

if TYPE_CHECKING:
    from huggingface_hub import ModelInfo
    from huggingface_hub.utils import SafetensorsRepoMetadata

SCHEMA_HEADER = "# yaml-language-server: $schema=../compiler/aim_engine/schemas/model.schema.json\n"
FAMILIES = {
    "llama": "Llama",
    "llama4": "Llama",
    "llama4_text": "Llama",
    "mistral": "Mistral",
    "mistral3": "Mistral",
    "mixtral": "Mistral",
    "qwen2": "Qwen",
    "qwen2_moe": "Qwen",
    "qwen3": "Qwen",
    "qwen3_moe": "Qwen",
    "qwen3_next": "Qwen",
    "qwen3_5": "Qwen",
    "qwen3_5_moe": "Qwen",
    "qwen3_5_moe_text": "Qwen",
    "gemma": "Gemma",
    "gemma2": "Gemma",
    "gemma3": "Gemma",
    "gemma3_text": "Gemma",
    "deepseek_v2": "DeepSeek",
    "deepseek_v3": "DeepSeek",
    "deepseek_v32": "DeepSeek",
    "kimi_k2": "Kimi",
    "kimi_k25": "Kimi",
    "glm4_moe": "GLM",
    "glm_moe_dsa": "GLM",
    "minimax_m2": "MiniMax",
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
DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2}
# Quantization side tensors: scales, zero points, group indices - not model parameters.
AUX_TENSOR = re.compile(
    r"(^|_)(scale|scales|scale_inv|zero_point|zeros|qzeros|g_idx|inv_freq|weight_shape)$|^(input|output|k|v)_scale$"
)
# Multimodal encoders and projectors, by the top-level module names the model families use
# (vision_tower / multi_modal_projector: Gemma 3, Mistral 3, Kimi; visual: Qwen-VL and Qwen3.5;
# vision_model: Llama 4; mm_projector: Kimi; audio_tower: audio models).
ENCODER = re.compile(
    r"^(?:model\.)?(?:vision_tower|vision_model|visual|vision_encoder|vision_embed\w*|embed_vision|multi_modal_projector"
    r"|mm_projector|audio_tower|audio_model|embed_audio|image_newline)\."
)
# Next-token-prediction (MTP) weights: loaded only for speculative decoding.
MTP = re.compile(r"(^|\.)mtp[._]")
LAYER = re.compile(r"^(?:model\.)?(?:language_model\.)?(?:model\.)?layers\.(\d+)\.")
CARD_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", re.S)


class Unsupported(CacheError):
    """The repo is not a model the planner can describe; the message says why."""


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# --- what the weights say ---------------------------------------------------------------


@dataclass(frozen=True)
class Tensor:
    dtype: str
    shape: tuple[int, ...]
    nbytes: int


@dataclass(frozen=True)
class Weights:
    """A checkpoint's safetensors headers (every tensor), or only its index when no header was read."""

    tensors: Mapping[str, Tensor]
    files: int
    index_total_size: int | None = None  # model.safetensors.index.json metadata.total_size
    index_total_parameters: int | None = None  # its metadata.total_parameters (newer transformers write it)
    index_names: frozenset[str] = frozenset()

    @property
    def names(self) -> set[str]:
        return set(self.tensors) | set(self.index_names)

    @property
    def dtypes(self) -> set[str]:
        return {t.dtype for t in self.tensors.values()}


def weights_from_hub(meta: SafetensorsRepoMetadata) -> Weights:
    tensors = {
        name: Tensor(t.dtype, tuple(t.shape), int(t.data_offsets[1]) - int(t.data_offsets[0]))
        for f in meta.files_metadata.values()
        for name, t in f.tensors.items()
    }
    total = (meta.metadata or {}).get("total_size")
    return Weights(tensors, len(meta.files_metadata), total if _int(total) else None, None, frozenset(meta.weight_map))


MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header


def read_header(path: Path) -> dict[str, Tensor]:
    """The tensors of one safetensors file from its header (8-byte little-endian length, then JSON)."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            raise Unsupported(f"{printable(path.name)} is not a safetensors file (shorter than its 8-byte length)")
        (length,) = struct.unpack("<Q", head)
        if length > MAX_HEADER:
            raise Unsupported(f"{printable(path.name)}: a safetensors header of {length:,} bytes is not believable")
        raw = handle.read(length)
    if len(raw) < length:
        raise Unsupported(f"{printable(path.name)}: the safetensors header is cut short")
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise Unsupported(f"{printable(path.name)}: the safetensors header is not JSON") from None
    if not isinstance(header, dict):
        raise Unsupported(f"{printable(path.name)}: the safetensors header is not a JSON object")
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            ok = isinstance(dtype, str) and all(_int(d) or d == 0 for d in shape) and 0 <= start <= end
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise Unsupported(f"{printable(path.name)}: tensor {printable(str(name))} has an unreadable header entry")
        tensors[str(name)] = Tensor(dtype, tuple(shape), end - start)
    return tensors


def _json_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Unsupported(f"{printable(str(path))} is not readable JSON ({type(exc).__name__})") from None


def weights_from_dir(folder: Path) -> Weights | None:
    """Headers of every *.safetensors file in `folder` (weights under subfolders such as
    original/ are another format's copy), else the index alone; None when neither is there."""
    files = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    index_path = folder / "model.safetensors.index.json"
    index = _json_file(index_path) if index_path.is_file() else None
    meta: dict = index["metadata"] if isinstance(index, dict) and isinstance(index.get("metadata"), dict) else {}
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    names = frozenset(weight_map) if isinstance(weight_map, dict) else frozenset()
    total_size = meta.get("total_size") if _int(meta.get("total_size")) else None
    total_params = meta.get("total_parameters") if _int(meta.get("total_parameters")) else None
    if not files and index is None:
        return None
    tensors: dict[str, Tensor] = {}
    for path in files:
        tensors.update(read_header(path))
    return Weights(tensors, len(files), total_size, total_params, names)


@dataclass(frozen=True)
class Inventory:
    """What the weights hold: logical parameters and stored bytes."""

    parameters: int | None  # scales left out, packed values unpacked; None: not countable
    encoder: int  # of which multimodal encoder and projector
    mtp: int  # of which next-token-prediction layers
    bytes_by_dtype: dict[str, int]
    total_bytes: int | None
    counted: str  # how the parameters were counted


def _logical(name: str, tensor: Tensor, bits: int) -> int:
    leaf = name.rsplit(".", 1)[-1]
    if AUX_TENSOR.search(leaf):
        return 0
    count = math.prod(tensor.shape)
    if tensor.dtype == "I32" and leaf in ("qweight", "weight_packed"):
        count *= 32 // bits  # GPTQ/AWQ/compressed-tensors pack 32/bits values per int32
    elif tensor.dtype == "U8" and (leaf.endswith("blocks") or leaf == "weight_packed" or bits == 4):
        count *= 2  # MXFP4 packs two 4-bit values per byte
    return count


def logical_parameters(tensors: Mapping[str, Any], bits: int) -> int:
    """Parameters, not storage elements: packed ints and MXFP4 blocks unpacked, scales left out.

    `tensors` maps file -> object with `.tensors` (huggingface_hub's files_metadata) or
    name -> Tensor."""
    total = 0
    for key, value in tensors.items():
        if hasattr(value, "tensors"):
            total += logical_parameters(value.tensors, bits)
        else:
            total += _logical(key, Tensor(value.dtype, tuple(value.shape), 0), bits)
    return total


def inventory(weights: Weights, bits: int, layers: int) -> Inventory:
    if not weights.tensors:
        by_dtype: dict[str, int] = {}
        if weights.index_total_parameters:
            params, counted = weights.index_total_parameters, "model.safetensors.index.json metadata.total_parameters"
        else:
            params, counted = None, ""
        return Inventory(params, 0, 0, by_dtype, weights.index_total_size, counted)
    params = encoder = mtp = 0
    by_dtype = {}
    for name, tensor in weights.tensors.items():
        by_dtype[tensor.dtype] = by_dtype.get(tensor.dtype, 0) + tensor.nbytes
        count = _logical(name, tensor, bits)
        params += count
        if ENCODER.search(name):
            encoder += count
        layer = LAYER.match(name)
        if MTP.search(name) or (layer and int(layer.group(1)) >= layers):
            mtp += count
    counted = f"safetensors headers of {weights.files} file(s), quantization scales left out and packed values unpacked"
    return Inventory(params, encoder, mtp, by_dtype, sum(by_dtype.values()), counted)


# --- what config.json says ----------------------------------------------------------------


def text_config(config: dict) -> tuple[str, dict]:
    """(architecture, the config holding the language model's figures)."""
    archs = config.get("architectures")
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    if arch is None:
        raise Unsupported("config.json names no architectures, so the model cannot be planned")
    if config.get("is_encoder_decoder"):
        raise Unsupported(f"{arch} is an encoder-decoder model; only decoder-only causal LMs are planned")
    if arch.endswith("ForCausalLM") and not isinstance(config.get("text_config"), dict):
        return arch, config
    if arch.endswith(("ForConditionalGeneration", "ForCausalLM")) and isinstance(config.get("text_config"), dict):
        text = config["text_config"]
        qc = text.get("quantization_config") or config.get("quantization_config")
        dtype = text.get("torch_dtype") or text.get("dtype") or config.get("torch_dtype") or config.get("dtype")
        return arch, {**text, "quantization_config": qc, "torch_dtype": dtype}
    raise Unsupported(
        f"{arch} is not a causal language model the planner can serve "
        "(expected *ForCausalLM, or *ForConditionalGeneration with a text_config)"
    )


@dataclass(frozen=True)
class Quantization:
    precision: str  # the catalogue precision
    method: str  # the variants' quantization enum
    bits: int  # bits per packed value (16 for unquantized)
    kv_cache_fp8_scales: bool = False


def quantization_of(qc: dict) -> Quantization:
    """A quantization_config in the catalogue's terms, or Unsupported."""
    method, bits = qc.get("quant_method"), qc.get("bits")
    kv = bool(qc.get("kv_cache_scheme") or qc.get("kv_cache_quant_config") or qc.get("kv_cache_group"))
    if method == "fp8":
        return Quantization("fp8", "fp8_block" if qc.get("weight_block_size") else "fp8", 8, kv)
    if method == "mxfp4":
        return Quantization("mxfp4", "mxfp4", 4, kv)
    if method in ("gptq", "awq") and bits in (4, 8):
        return Quantization("int4" if bits == 4 else "int8", f"int4_{method}" if bits == 4 else "int8", bits, kv)
    if method == "compressed-tensors":
        groups = [g for g in (qc.get("config_groups") or {}).values() if isinstance(g, dict)]
        w: dict = groups[0]["weights"] if groups and isinstance(groups[0].get("weights"), dict) else {}
        fmt = str(qc.get("format") or (groups[0].get("format") if groups else "") or "")
        num, kind = w.get("num_bits"), w.get("type")
        if kind == "float" and num == 8:
            return Quantization("fp8", "fp8_block" if w.get("strategy") == "block" else "fp8", 8, kv)
        if kind == "float" and num == 4 and ("mxfp4" in fmt or w.get("group_size") == 32):
            return Quantization("mxfp4", "mxfp4", 4, kv)
        if kind == "int" and num == 4:
            return Quantization("int4", "w4a16", 4, kv)
        if kind == "int" and num == 8:
            return Quantization("int8", "int8", 8, kv)
        raise Unsupported(f"compressed-tensors {kind}{num} ({fmt or 'no format'}) is not one the planner models")
    if method == "quark":
        g: dict = qc["global_quant_config"] if isinstance(qc.get("global_quant_config"), dict) else {}
        w = g["weight"] if isinstance(g.get("weight"), dict) else {}
        dtype = str(w.get("dtype") or "")
        if dtype.startswith("fp8"):
            return Quantization("fp8", "fp8", 8, kv)
        if dtype in ("fp4", "mxfp4", "fp4_e2m1") or "mx" in str(w.get("qscheme") or ""):
            return Quantization("mxfp4", "mxfp4", 4, kv)
        raise Unsupported(f"AMD Quark weights of dtype {dtype or 'unknown'} are not a format the planner models")
    raise Unsupported(
        f"quantization {method!r}{f' ({bits}-bit)' if bits else ''} is not one the planner models "
        "(fp8, mxfp4, 4/8-bit gptq or awq, compressed-tensors fp8/int4/mxfp4, AMD Quark fp8/mxfp4)"
    )


def _precision(cfg: dict, weight_dtypes: set[str]) -> tuple[Quantization, bool]:
    """(the checkpoint's quantization, read from config.json rather than the weights)."""
    qc = cfg.get("quantization_config")
    if isinstance(qc, dict):
        return quantization_of(qc), True
    dtype = cfg.get("torch_dtype") or cfg.get("dtype")
    if dtype in DTYPES:
        return Quantization(DTYPES[dtype], "none", 16), True
    if "BF16" in weight_dtypes or "F16" in weight_dtypes:  # no dtype in config.json: the weights tell
        return Quantization("bf16" if "BF16" in weight_dtypes else "fp16", "none", 16), False
    raise Unsupported(f"cannot tell the checkpoint's precision (dtype {dtype!r})")


def _sliding(cfg: dict, layers: int) -> tuple[dict, list[str]]:
    """Sliding-window (or chunked local) attention: (attention fields, notes on how they were read)."""
    chunk = cfg.get("attention_chunk_size")
    types = cfg.get("layer_types") if isinstance(cfg.get("layer_types"), list) else None
    if _int(chunk):  # Llama 4: chunked local attention on the RoPE layers, global attention on the NoPE ones
        if types:
            count = sum(1 for t in types if t == "chunked_attention")
        elif isinstance(cfg.get("no_rope_layers"), list) and cfg["no_rope_layers"]:
            count = sum(1 for flag in cfg["no_rope_layers"] if flag)  # 1 = the layer uses RoPE = chunked
        else:
            count = sum(1 for i in range(layers) if (i + 1) % 4 != 0)  # transformers' default interval
        note = f"chunked local attention ({chunk}-token chunks on {count} layers) sized as a {chunk}-token window"
        return ({"sliding_window": chunk, "sliding_window_layers": count} if count else {}), [note]
    window = cfg.get("sliding_window")
    if not _int(window) or cfg.get("use_sliding_window") is False:
        return {}, []
    if types:
        count = sum(1 for t in types if t == "sliding_attention")
    elif _int(cfg.get("sliding_window_pattern")):
        count = sum(1 for i in range(layers) if (i + 1) % cfg["sliding_window_pattern"] != 0)
    elif cfg.get("max_window_layers") is not None and cfg.get("use_sliding_window"):
        count = max(0, layers - int(cfg["max_window_layers"]))  # Qwen2: layers from max_window_layers on
    else:
        count = layers  # Mistral-style: every layer uses the window
    return ({"sliding_window": window, "sliding_window_layers": count} if count else {}), []


def _linear(cfg: dict, layers: int) -> dict | None:
    """Hybrid linear-attention layers (Gated DeltaNet in Qwen3-Next/3.5, Kimi Delta Attention)."""
    types = cfg.get("layer_types") if isinstance(cfg.get("layer_types"), list) else None
    if _int(cfg.get("linear_num_value_heads")):
        if types:
            count = sum(1 for t in types if t == "linear_attention")
        elif _int(cfg.get("full_attention_interval")):
            count = layers - layers // cfg["full_attention_interval"]
        else:
            raise Unsupported(
                "linear attention without layer_types or full_attention_interval: which layers is unknown"
            )
        keys = ("linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim")
        missing = [k for k in (*keys, "linear_conv_kernel_dim") if not _int(cfg.get(k))]
        if missing:
            raise Unsupported(f"linear attention without {', '.join(missing)}, which the memory model needs")
        return {
            "layers": count,
            "num_key_heads": cfg["linear_num_key_heads"],
            "num_value_heads": cfg["linear_num_value_heads"],
            "key_head_dim": cfg["linear_key_head_dim"],
            "value_head_dim": cfg["linear_value_head_dim"],
            "conv_kernel": cfg["linear_conv_kernel_dim"],
        }
    lac = cfg.get("linear_attn_config")
    if isinstance(lac, dict) and isinstance(lac.get("kda_layers"), list):
        heads, dim, conv = lac.get("num_heads"), lac.get("head_dim"), lac.get("short_conv_kernel_size")
        if not (_int(heads) and _int(dim) and _int(conv)):
            raise Unsupported("linear_attn_config without num_heads, head_dim or short_conv_kernel_size")
        return {
            "layers": len(lac["kda_layers"]),
            "num_key_heads": heads,
            "num_value_heads": heads,
            "key_head_dim": dim,
            "value_head_dim": dim,
            "conv_kernel": conv,
        }
    return None


def _refuse_unmodelled(arch: str, cfg: dict) -> None:
    """Attention the memory model has no figures for: refused rather than sized wrongly."""
    if _int(cfg.get("global_head_dim")) and cfg.get("global_head_dim") != cfg.get("head_dim"):
        raise Unsupported(
            f"{arch}: full-attention layers with their own head size (global_head_dim {cfg['global_head_dim']}, "
            f"{cfg.get('num_global_key_value_heads')} KV heads) differ from the sliding ones; the memory model has "
            "one KV head size per model"
        )
    sparse = cfg.get("sparse_attention_config")
    if isinstance(sparse, dict) and sparse.get("use_sparse_attention"):
        raise Unsupported(f"{arch}: block-sparse attention with its own index cache is not modelled")
    if isinstance(cfg.get("compress_ratios"), list):
        raise Unsupported(f"{arch}: compressed sparse attention (compress_ratios) is not modelled")


def _moe(cfg: dict, layers: int, intermediate: int) -> dict | None:
    experts = next(
        (cfg[k] for k in ("num_local_experts", "num_experts", "n_routed_experts") if _int(cfg.get(k))),
        None,
    )
    if experts is None or experts < 2:
        return None
    per_token = next(
        (cfg[k] for k in ("num_experts_per_tok", "experts_per_token", "num_experts_per_token") if _int(cfg.get(k))),
        None,
    )
    if per_token is None:
        raise Unsupported("config.json has experts but no num_experts_per_tok, which the memory model needs")
    dense = cfg.get("first_k_dense_replace") or 0
    if isinstance(cfg.get("mlp_only_layers"), list):
        dense += len(cfg["mlp_only_layers"])
    if isinstance(cfg.get("moe_layer_freq"), list):
        dense = sum(1 for flag in cfg["moe_layer_freq"] if not flag)
    step = cfg.get("decoder_sparse_step") or cfg.get("interleave_moe_layer_step") or 1
    if _int(step) and step > 1:  # only every step-th layer has experts
        dense += layers - layers // step
    shared = cfg.get("n_shared_experts") or cfg.get("num_shared_experts")
    if not shared:
        shared = 1 if _int(cfg.get("shared_expert_intermediate_size")) else 0
    if not shared and str(cfg.get("model_type", "")).startswith("llama4"):
        shared = 1  # every Llama 4 MoE layer has one shared expert of intermediate_size
    return {
        "num_experts": experts,
        "experts_per_token": per_token,
        "moe_intermediate_size": cfg.get("moe_intermediate_size") or intermediate,
        "shared_experts": int(shared),
        "dense_layers": int(min(dense, layers)),
    }


def _multimodal(config: dict) -> list[str]:
    """The modalities a checkpoint's encoders take (empty for a text-only model)."""
    out = []
    if isinstance(config.get("vision_config"), dict):
        out.append("image")
        if any(k in config for k in ("video_token_id", "video_token_index")):
            out.append("video")
    if isinstance(config.get("audio_config"), dict):
        out.append("audio")
    return out


# Figures config.json may leave out because transformers' config class has a default for them
# (transformers src/transformers/models/gemma3/configuration_gemma3.py, Gemma3TextConfig).
CONFIG_DEFAULTS = {
    "gemma3_text": {"vocab_size": 262208, "max_position_embeddings": 131072, "sliding_window_pattern": 6},
}


def figures(config: dict, weight_names: set[str], weight_dtypes: set[str]) -> dict:
    """The planning figures of a config.json, with which of them were derived rather than read."""
    arch, cfg = text_config(config)
    derived, notes = [], []
    for key, value in CONFIG_DEFAULTS.get(str(cfg.get("model_type")), {}).items():
        if key not in cfg:
            cfg = {**cfg, key: value}
            derived.append("attention.sliding_window_layers" if key == "sliding_window_pattern" else key)
            notes.append(f"{key} {value}: transformers' default for {cfg.get('model_type')} (absent from config.json)")
    if not _int(cfg.get("intermediate_size")) and _int(cfg.get("moe_intermediate_size")):
        # MoE models without dense layers (Qwen3.5) give only the experts' width.
        cfg = {**cfg, "intermediate_size": cfg.get("shared_expert_intermediate_size") or cfg["moe_intermediate_size"]}
        derived.append("intermediate_size")
        notes.append("intermediate_size: no dense MLP, the shared (else routed) expert's width")
    missing = [k for k in REQUIRED if not _int(cfg.get(k))]
    if missing:
        raise Unsupported(f"{arch}: config.json lacks {', '.join(missing)}, which the memory model needs")
    _refuse_unmodelled(arch, cfg)
    layers = cfg["num_hidden_layers"]
    heads = cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads")
    if not _int(kv_heads):
        kv_heads = heads
        derived.append("num_key_value_heads")
    head_dim = cfg.get("head_dim")
    if not _int(head_dim) and _int(cfg.get("kv_lora_rank")) and cfg["hidden_size"] % heads:
        # MLA caches the latent, not per-head keys; the query/key head is nope + rope dims.
        head_dim = int(cfg.get("qk_nope_head_dim") or 0) + int(cfg.get("qk_rope_head_dim") or 0)
        derived.append("head_dim")
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
    if all(_int(cfg.get(k)) for k in ("index_n_heads", "index_head_dim", "index_topk")):
        if attention["kind"] != "mla":
            raise Unsupported(f"{arch}: a sparse-attention indexer without MLA is not modelled")
        attention["indexer"] = {
            "n_heads": cfg["index_n_heads"],
            "head_dim": cfg["index_head_dim"],
            "topk": cfg["index_topk"],
        }
    linear = _linear(cfg, layers)
    if linear:
        attention = {**attention, "kind": "hybrid", "linear": linear}
    sliding, sliding_notes = _sliding(cfg, layers)
    attention.update(sliding)
    notes += sliding_notes
    quant, from_config = _precision(cfg, weight_dtypes)
    if not from_config:
        derived.append("native_precision")
    rope = cfg.get("rope_scaling")
    if not isinstance(rope, dict) and isinstance(cfg.get("rope_parameters"), dict):
        params = cfg["rope_parameters"]
        rope = params if params.get("rope_type") not in (None, "default") else None
    return {
        "architecture": arch,
        "model_type": cfg.get("model_type") or config.get("model_type"),
        "config_model_type": config.get("model_type") or cfg.get("model_type"),  # top level: what engines key by
        "native_precision": quant.precision,
        "quantization": quant,
        "bits": quant.bits,
        "derived": derived,
        "notes": notes,
        "architecture_config": {
            "hidden_size": cfg["hidden_size"],
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": head_dim,
            "intermediate_size": cfg["intermediate_size"],
            "max_position_embeddings": cfg["max_position_embeddings"],
            "vocab_size": cfg["vocab_size"],
            "tie_word_embeddings": tie,
        },
        "attention": attention,
        "moe": _moe(cfg, layers, cfg["intermediate_size"]),
        "rope_scaling": rope if isinstance(rope, dict) else None,
        "modalities": _multimodal(config),
        "remote_code": isinstance(config.get("auto_map"), dict) or isinstance(cfg.get("auto_map"), dict),
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


# --- where it was read --------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """License and gating, from the hub's answer or a local model card."""

    license: str | None
    gated: bool | None  # None: unknown
    source: str
    gated_read: bool  # from the hub's settings (True) or inferred from a card (False)


@dataclass(frozen=True)
class Origin:
    """Where the files were read: a hub repo at a commit, or a local folder."""

    repo_id: str
    commit: str | None
    local: Path | None = None  # the folder, for --from-dir
    endpoint: str = "https://huggingface.co"

    def file(self, name: str) -> str:
        if self.local is None or self.commit:
            return f"{self.endpoint}/{self.repo_id}/blob/{self.commit}/{name}"
        return f"{self.local / name} (local folder; replace with a public source)"

    @property
    def where(self) -> str:
        if self.local is None:
            return f"{self.repo_id} at commit {self.commit} (huggingface_hub, {self.endpoint})"
        if self.commit:
            return f"{self.repo_id} at commit {self.commit} (local copy in {self.local})"
        return f"local folder {self.local}"


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


def card_from_hub(info: ModelInfo, origin: Origin) -> Card:
    license, read = license_of(info)
    gated = info.gated in ("auto", "manual", True)
    return Card(license if read else None, gated, f"{origin.where}: model card and repo settings", True)


def card_from_file(path: Path, origin: Origin) -> Card:
    """License (and a guess at gating: extra_gated_* fields) from a model card's YAML front matter."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return Card(None, None, "", False)
    match = CARD_FRONT_MATTER.match(text)
    try:
        meta = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError:
        meta = None
    if not isinstance(meta, dict):
        return Card(None, None, "", False)
    value = meta.get("license")
    if value == "other" and meta.get("license_name"):
        value = meta["license_name"]
    if isinstance(value, list):
        value = value[0] if value else None
    gated = any(str(k).startswith("extra_gated") for k in meta) or None
    return Card(str(value) if value else None, gated, f"{origin.file('README.md')}: model card front matter", False)


# --- the document -------------------------------------------------------------------------


@dataclass
class Document:
    """A model file's content, what was computed and what is left to fill by hand."""

    doc: dict
    computed: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)


def _checkpoint(inv: Inventory, source: str) -> dict | None:
    if inv.total_bytes is None:
        return None
    out: dict[str, Any] = {"total_bytes": inv.total_bytes}
    if inv.bytes_by_dtype:
        out["bytes_by_dtype"] = dict(sorted(inv.bytes_by_dtype.items()))
    out["source"] = source
    return out


def _count(weights: Weights | None, fig: dict, where: str) -> Inventory:
    if weights is None:
        raise Unsupported(
            f"{where} has no safetensors weights; parameter counts and sizes are read from safetensors headers "
            "(a file cut after its header is enough) or model.safetensors.index.json metadata.total_parameters"
        )
    inv = inventory(weights, fig["bits"], fig["architecture_config"]["num_hidden_layers"])
    if inv.parameters is None:
        raise Unsupported(
            f"{where}: model.safetensors.index.json gives no total_parameters and no safetensors header was found, "
            "so the parameters cannot be counted"
        )
    return inv


def model_document(origin: Origin, card: Card, config: dict, weights: Weights | None) -> Document:
    fig = figures(config, weights.names if weights else set(), weights.dtypes if weights else set())
    inv = _count(weights, fig, origin.where)
    total = int(inv.parameters or 0)
    active = active_parameters(total, fig)
    repo_id = origin.repo_id
    name = repo_id.split("/", 1)[1]
    arch_read = [*fig["architecture_config"], "native_precision"]
    read = [k for k in arch_read if k not in fig["derived"]] + ["architecture"]
    read += [f"attention.{k}" for k in fig["attention"] if k != "kind" and f"attention.{k}" not in fig["derived"]]
    read += [f"moe.{k}" for k in fig["moe"] or {}]
    read.append("rope_scaling")
    if origin.local is None:
        weights_source = f"{origin.where}: {inv.counted}"
    else:
        read_from = "*.safetensors" if weights and weights.tensors else "model.safetensors.index.json"
        weights_source = f"{origin.file(read_from)}: {inv.counted}"
    provenance = [
        {"source": origin.file("config.json"), "kind": "config", "figures": read},
        {"source": weights_source, "kind": "parameter-count", "figures": ["parameters.total"]},
    ]
    out = Document({})
    computed = fig["derived"] + (["parameters.active"] if active else [])
    if inv.encoder:
        computed.append("multimodal.encoder_params")
    if computed:
        provenance.append(
            {
                "source": "derived: KV heads = attention heads, head_dim = hidden / heads, tied "
                "embeddings = no lm_head.weight tensor, precision = the weights' dtype, "
                "active = total - idle experts' weights, encoder = tensors of the vision/audio towers and projector"
                + "".join(f"; {n}" for n in fig["notes"]),
                "kind": "computed",
                "figures": computed,
            }
        )
        out.computed = computed
    card_figures = (["license"] if card.license else []) + (["gated"] if card.gated is not None else [])
    if card_figures and card.source:
        provenance.append({"source": card.source, "kind": "model-card", "figures": card_figures})
    kind = "mixture-of-experts" if fig["moe"] else "dense"
    doc: dict[str, Any] = {
        "model_id": repo_id,
        "name": name,
        "family": FAMILIES.get(fig["model_type"] or "", repo_id.split("/")[0]),
        "size": size_label(total, active),
        "readiness_level": "experimental",
        "description": f"{name}: a {kind} {fig['architecture']} model of {total:,} parameters, imported from "
        f"{'the Hugging Face Hub' if origin.local is None else 'a local copy'} ({repo_id}"
        f"{f' at commit {origin.commit[:12]}' if origin.commit else ''}); no recipes yet.",
        "license": card.license or "unknown",
        "gated": bool(card.gated),
        "architecture": fig["architecture"],
        **({"model_type": mt} if re.fullmatch(r"[a-z0-9_]+", mt := str(fig["config_model_type"] or "")) else {}),
        "native_precision": fig["native_precision"],
        "parameters": {"total": total, "active": active},
        "architecture_config": fig["architecture_config"],
        "attention": fig["attention"],
    }
    if fig["moe"]:
        doc["moe"] = fig["moe"]
    doc["rope_scaling"] = fig["rope_scaling"]
    doc["aim_recipes"] = []
    doc["variants"] = []
    doc["provenance"] = provenance
    unverified = [] if card.license else ["license"]
    if card.gated is not None and not card.gated_read:
        unverified.append("gated")
    doc["unverified"] = unverified
    serving, serving_todo = _serving(fig)
    if serving:
        doc["serving"] = serving
    ckpt = _checkpoint(inv, weights_source)
    if ckpt:
        doc["checkpoint"] = ckpt
    if inv.encoder:
        doc["multimodal"] = {"encoder_params": inv.encoder, "modalities": fig["modalities"] or ["image"]}
    elif fig["modalities"]:
        out.todo.append(
            "multimodal.encoder_params: config.json has a vision/audio config but no encoder tensors were read; "
            "count them from the safetensors headers"
        )
    out.todo += serving_todo
    if not card.license:
        out.todo.append("license: not in the card; read it from the model page")
    if card.gated is None:
        out.todo.append("gated: unknown offline; check whether the repo asks for an accepted licence")
    if origin.local is not None and not origin.commit:
        out.todo.append("provenance: sources name a local folder; replace them with the repo + commit or a URL")
    if inv.mtp:
        out.todo.append(
            f"parameters.total includes {inv.mtp:,} parameters of next-token-prediction (MTP) layers, loaded only for "
            "speculative decoding: say so in the description or provenance"
        )
    if not weights or not weights.tensors:
        out.todo.append("checkpoint.bytes_by_dtype: only the index was read; the headers give the bytes per dtype")
    out.todo.append("description, family and size label: check the generated text")
    out.todo.append("recipes: vendor-tuned ones (with a source) under recipes/, listed in aim_recipes")
    out.doc = doc
    return out


def _serving(fig: dict) -> tuple[dict, list[str]]:
    """Serving facts the config itself settles, and what is left to fill."""
    serving: dict[str, Any] = {}
    todo = [
        "serving.<engine>.reasoning_parser / tool_call_parser: from the model card or vendor recipes "
        "(names must be in the pinned engines' registries)"
    ]
    if fig["modalities"]:
        # Both pinned engines skip the encoder with this switch (vLLM: every modality limit 0;
        # SGLang: the tower is never built): see catalogue/data/flags/*.json.
        serving["vllm"] = {"text_only_args": {"--language-model-only": True}}
        serving["sglang"] = {"text_only_args": {"--language-model-only": True}}
    if fig["remote_code"]:
        todo.append(
            "serving.trust_remote_code: config.json has an auto_map (custom code); set true if the pinned engines "
            "do not implement the architecture (or its tokenizer) natively"
        )
    return serving, todo


def variant_entry(origin: Origin, config: dict, weights: Weights | None, main: dict) -> dict:
    """One `variants` entry: precision, quantization and stored size from the checkpoint's own files."""
    fig = figures(config, weights.names if weights else set(), weights.dtypes if weights else set())
    quant: Quantization = fig["quantization"]
    entry: dict[str, Any] = {
        "model_id": origin.repo_id,
        "precision": quant.precision,
        "quantization": quant.method,
    }
    if quant.kv_cache_fp8_scales:
        entry["kv_cache_fp8_scales"] = True
    entry["source"] = origin.file("config.json") + (" (quantization_config)" if quant.method != "none" else "")
    entry["verified"] = True
    if weights is not None:
        inv = inventory(weights, fig["bits"], fig["architecture_config"]["num_hidden_layers"])
        ckpt = _checkpoint(inv, f"{origin.where}: {inv.counted}")
        if ckpt:
            entry["checkpoint"] = ckpt
    main_ckpt = main.get("checkpoint") or {}
    if (
        quant.method == "none"
        and entry.get("checkpoint")
        and main_ckpt.get("bytes_by_dtype")
        and entry["checkpoint"].get("bytes_by_dtype") == main_ckpt.get("bytes_by_dtype")
    ):
        entry["alias_of"] = True  # byte-for-byte the same tensors: another name for the main checkpoint
    return entry


def add_variants(doc: dict, entries: Iterable[dict]) -> None:
    variants = [v for v in doc.get("variants") or [] if isinstance(v, dict)]
    for entry in entries:
        variants = [v for v in variants if v.get("model_id") != entry["model_id"]] + [entry]
    doc["variants"] = variants


class _Dumper(yaml.SafeDumper):
    """Lists of plain values inline, as the catalogue writes them (`figures: [a, b]`, `aim_recipes: []`)."""

    def represent_list(self, data: Iterable[Any]) -> yaml.SequenceNode:
        inline = all(isinstance(item, (str, int, float, bool)) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=inline)


_Dumper.add_representer(list, _Dumper.represent_list)


def dump(doc: dict) -> str:
    return SCHEMA_HEADER + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def _existing_file(out_dir: Path, repo_id: str) -> Path | None:
    for path in sorted(out_dir.glob("*.yaml")):
        match = re.search(r"^model_id:\s*['\"]?([^'\"\s]+)", path.read_text(encoding="utf-8", errors="replace"), re.M)
        if match and match.group(1) == repo_id:
            return path
    return None


def _write(target: Path, doc: dict, repo_id: str) -> None:
    problems = schema_errors("model", doc)
    if problems:  # a bug here, not in the repo: never write a file the catalogue would reject
        raise CacheError(
            f"the model file for {repo_id} would not pass the schema: "
            + "; ".join(f"{'.'.join(map(str, where)) or '(top)'}: {text}" for where, text in problems[:3])
        )
    write_atomic(target, dump(doc).encode("utf-8"), parents=True)


def _target(out_dir: Path, repo_id: str, force: bool, adding_variants: bool) -> tuple[Path, bool]:
    """(the file to write, whether it exists and only variants are being added)."""
    existing = _existing_file(out_dir, repo_id) if out_dir.is_dir() else None
    target = existing or out_dir / f"{repo_id.split('/', 1)[1].lower()}.yaml"
    if target.exists() and not force:
        if adding_variants and existing:
            return target, True
        raise CacheError(
            f"{target} already exists{f' and describes {repo_id}' if existing else ''}; pass --force to overwrite it"
            + (" (or --variant ORG/NAME to add variants to it)" if existing else "")
        )
    return target, False


@dataclass(frozen=True)
class Result:
    path: Path
    doc: dict
    commit: str | None
    computed: list[str]
    todo: list[str]
    variants_only: bool = False


# --- online -------------------------------------------------------------------------------


def _read_hub(repo_id: str, revision: str | None) -> tuple[ModelInfo, str, dict, Weights]:
    from huggingface_hub import HfApi, errors, hf_hub_download

    api = HfApi()
    try:
        info = api.model_info(repo_id, revision=revision)
        commit = info.sha
        if commit is None:
            raise CacheError(f"the hub named no commit for {repo_id} at {revision or 'main'}")
        with open(hf_hub_download(repo_id, "config.json", revision=commit), encoding="utf-8") as handle:
            config = json.load(handle)
        meta = api.get_safetensors_metadata(repo_id, revision=commit)
    except CacheError:
        raise
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
    return info, commit, config, weights_from_hub(meta)


def _online() -> None:
    if offline():
        raise CacheError(
            "importing from the hub reads its metadata and needs the network, but HF_HUB_OFFLINE=1 is set "
            "(use --from-dir PATH for a local copy)"
        )


def import_model(
    repo_id: str, revision: str | None, out_dir: Path, force: bool = False, variants: Iterable[str] = ()
) -> Result:
    """Write `<out_dir>/<name>.yaml` for `repo_id` (with `variants`), or add `variants` to its existing file."""
    _online()
    from huggingface_hub import constants

    variants = list(dict.fromkeys(variants))
    if repo_id in variants:
        raise CacheError(f"{repo_id} is the model itself, not a variant of it", 2)
    target, variants_only = _target(out_dir, repo_id, force, bool(variants))
    if variants_only:
        doc = yaml.safe_load(target.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise CacheError(f"{target} is not a model file; pass --force to rewrite it")
        result = Document(doc)
        commit = None
    else:
        info, commit, config, weights = _read_hub(repo_id, revision)
        origin = Origin(repo_id, commit, endpoint=constants.ENDPOINT)
        result = model_document(origin, card_from_hub(info, origin), config, weights)
    entries = []
    for variant in variants:
        _, v_commit, v_config, v_weights = _read_hub(variant, None)
        v_origin = Origin(variant, v_commit, endpoint=constants.ENDPOINT)
        entries.append(variant_entry(v_origin, v_config, v_weights, result.doc))
    add_variants(result.doc, entries)
    _write(target, result.doc, repo_id)
    return Result(target, result.doc, commit, result.computed, result.todo, variants_only)


# --- offline ------------------------------------------------------------------------------

SNAPSHOT = re.compile(r"(?:^|/)models--([^/]+?)--([^/]+)/snapshots/([0-9a-f]{40})/?$")


def _identity(folder: Path, repo_id: str | None, config: dict) -> tuple[str, str | None]:
    """(model id, commit) for a local folder: the argument, a hub-cache snapshot path, or config.json."""
    match = SNAPSHOT.search(folder.resolve().as_posix())
    if match:
        snap_id, commit = f"{match.group(1)}/{match.group(2)}", match.group(3)
        return (repo_id or snap_id), (commit if (repo_id or snap_id) == snap_id else None)
    if repo_id:
        return repo_id, None
    name = config.get("_name_or_path")
    if isinstance(name, str) and cache_state.repo_id_problem(name) is None:
        return name, None
    folder_name = folder.resolve().name
    if folder_name.count("--") == 1 and cache_state.repo_id_problem(folder_name.replace("--", "/")) is None:
        return folder_name.replace("--", "/"), None
    raise CacheError(
        f"cannot tell which hub id {printable(str(folder))} holds: name it (aim-engine models import ORG/NAME "
        "--from-dir PATH)",
        2,
    )


def import_dir(folder: Path, repo_id: str | None, out_dir: Path, force: bool = False) -> Result:
    """Write the model file for a local checkpoint folder (no network)."""
    if not folder.is_dir():
        raise CacheError(f"{printable(str(folder))} is not a folder", 2)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise Unsupported(f"{printable(str(folder))} has no config.json, so it is not a model the planner can describe")
    config = _json_file(config_path)
    if not isinstance(config, dict):
        raise Unsupported(f"{printable(str(config_path))} is not a JSON object")
    model, commit = _identity(folder, repo_id, config)
    problem = cache_state.repo_id_problem(model)
    if problem:
        raise CacheError(problem, 2)
    target, _ = _target(out_dir, model, force, False)
    origin = Origin(model, commit, local=folder.resolve())
    readme = folder / "README.md"
    card = card_from_file(readme, origin) if readme.is_file() else Card(None, None, "", False)
    result = model_document(origin, card, config, weights_from_dir(folder))
    _write(target, result.doc, model)
    return Result(target, result.doc, commit, result.computed, result.todo)
