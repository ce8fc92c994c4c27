"""Fixtures for the model cache tests: tiny fake repos, the loopback hub, hand-built caches."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aim_engine.cache.index import update_index
from aim_engine.cache.names import iso
from aim_engine.cli import main

from .fakehub import FakeHub, Repo, sha256


def pytest_configure(config) -> None:
    # Until pyproject.toml registers it for the whole suite.
    config.addinivalue_line("markers", "slow: takes more than about 2 s (real processes, the loopback hub)")


DTYPE_BYTES = {"BF16": 2, "F16": 2, "F32": 4, "F8_E4M3": 1, "U8": 1, "I32": 4}


def commit_of(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def safetensors_file(tensors: dict[str, tuple[str, list[int]]], seed: int) -> bytes:
    """A real safetensors file: 8-byte header length, JSON header, then (random) data."""
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + random.Random(seed).randbytes(offset)


def llama_config(**changes) -> dict:
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 2048,
        "vocab_size": 4096,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "rope_scaling": None,
    }
    config.update(changes)
    return config


def llama_tensors(cfg: dict, linear: str = "BF16", scales: bool = False) -> dict:
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    q, kv = cfg["num_attention_heads"] * cfg["head_dim"], cfg["num_key_value_heads"] * cfg["head_dim"]
    tensors = {"model.embed_tokens.weight": ("BF16", [v, h])}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        for name, shape in (
            ("self_attn.q_proj", [q, h]),
            ("self_attn.k_proj", [kv, h]),
            ("self_attn.v_proj", [kv, h]),
            ("self_attn.o_proj", [h, q]),
            ("mlp.gate_proj", [i, h]),
            ("mlp.up_proj", [i, h]),
            ("mlp.down_proj", [h, i]),
        ):
            tensors[p + name + ".weight"] = (linear, shape)
            if scales:
                tensors[p + name + ".weight_scale"] = ("F32", [1])
                tensors[p + name + ".input_scale"] = ("F32", [1])
        tensors[p + "input_layernorm.weight"] = ("BF16", [h])
        tensors[p + "post_attention_layernorm.weight"] = ("BF16", [h])
    tensors["model.norm.weight"] = ("BF16", [h])
    if not cfg["tie_word_embeddings"]:
        tensors["lm_head.weight"] = ("BF16", [v, h])
    return tensors


def llama_parameters(cfg: dict) -> int:
    """The textbook count, independent of how the importer reads tensors."""
    h, i, v, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    q, kv = cfg["num_attention_heads"] * cfg["head_dim"], cfg["num_key_value_heads"] * cfg["head_dim"]
    per_layer = 2 * q * h + 2 * kv * h + 3 * i * h + 2 * h
    return v * h * (1 if cfg["tie_word_embeddings"] else 2) + layers * per_layer + h


MOE = {
    "architectures": ["Qwen3MoeForCausalLM"],
    "model_type": "qwen3_moe",
    "hidden_size": 64,
    "intermediate_size": 192,
    "moe_intermediate_size": 32,
    "num_experts": 4,
    "num_experts_per_tok": 2,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 4096,
    "vocab_size": 1024,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "use_sliding_window": False,
    "sliding_window": 4096,
    "decoder_sparse_step": 1,
    "mlp_only_layers": [],
    "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 1024},
}


def moe_shards() -> dict[str, bytes]:
    c = MOE
    h, m, e, v = c["hidden_size"], c["moe_intermediate_size"], c["num_experts"], c["vocab_size"]
    q, kv = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    shards: list[dict] = [{"model.embed_tokens.weight": ("BF16", [v, h])}, {}]
    for layer in range(c["num_hidden_layers"]):
        p, t = f"model.layers.{layer}.", shards[layer]
        for name, shape in (
            ("self_attn.q_proj", [q, h]),
            ("self_attn.k_proj", [kv, h]),
            ("self_attn.v_proj", [kv, h]),
            ("self_attn.o_proj", [h, q]),
            ("mlp.gate", [e, h]),
        ):
            t[p + name + ".weight"] = ("BF16", shape)
        t[p + "self_attn.q_norm.weight"] = ("BF16", [c["head_dim"]])
        t[p + "self_attn.k_norm.weight"] = ("BF16", [c["head_dim"]])
        for x in range(e):
            for name, shape in (("gate_proj", [m, h]), ("up_proj", [m, h]), ("down_proj", [h, m])):
                t[f"{p}mlp.experts.{x}.{name}.weight"] = ("BF16", shape)
        t[p + "input_layernorm.weight"] = ("BF16", [h])
        t[p + "post_attention_layernorm.weight"] = ("BF16", [h])
    shards[1]["model.norm.weight"] = ("BF16", [h])
    shards[1]["lm_head.weight"] = ("BF16", [v, h])
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    files = {name: safetensors_file(t, seed) for seed, (name, t) in enumerate(zip(names, shards))}
    index = {
        "metadata": {"total_size": sum(len(d) for d in files.values())},
        "weight_map": {tensor: name for name, t in zip(names, shards) for tensor in t},
    }
    files["model.safetensors.index.json"] = json.dumps(index, indent=1).encode()
    return files


def moe_parameters() -> tuple[int, int]:
    c = MOE
    h, m, e, k, v, layers = (
        c["hidden_size"],
        c["moe_intermediate_size"],
        c["num_experts"],
        c["num_experts_per_tok"],
        c["vocab_size"],
        c["num_hidden_layers"],
    )
    q, kv = c["num_attention_heads"] * c["head_dim"], c["num_key_value_heads"] * c["head_dim"]
    per_layer = 2 * q * h + 2 * kv * h + 2 * c["head_dim"] + e * h + e * 3 * m * h + 2 * h
    total = 2 * v * h + layers * per_layer + h
    return total, total - layers * (e - k) * 3 * h * m


TOKENIZER = json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {f"t{i}": i for i in range(40)}}}).encode()
LLAMA_V1 = commit_of("tiny-llama v1")
LLAMA_MAIN = commit_of("tiny-llama main")
LLAMA_WEIGHTS = safetensors_file(llama_tensors(llama_config()), seed=1)  # about 1.1 MB


def llama_files(max_len: int) -> dict[str, bytes]:
    return {
        "config.json": json.dumps(llama_config(max_position_embeddings=max_len), indent=1).encode(),
        "generation_config.json": b'{"bos_token_id": 1, "eos_token_id": 2}',
        "tokenizer.json": TOKENIZER,
        "model.safetensors": LLAMA_WEIGHTS,
    }


BIG_WEIGHTS = safetensors_file({"model.embed_tokens.weight": ("BF16", [6_000_000])}, seed=5)  # 12 MB


FP8_KV_CONFIG = llama_config(
    quantization_config={
        "quant_method": "quark",
        "global_quant_config": {"weight": {"dtype": "fp8_e4m3", "qscheme": "per_tensor"}},
        "kv_cache_quant_config": {"*k_proj": {"dtype": "fp8_e4m3"}, "*v_proj": {"dtype": "fp8_e4m3"}},
    }
)


def fake_repos() -> list[Repo]:
    main = {
        **llama_files(2048),
        "original/params.json": b'{"dim": 64}',
        "original/consolidated.00.pth": random.Random(7).randbytes(30_000),
    }
    fp8_cfg = llama_config(quantization_config={"quant_method": "fp8", "activation_scheme": "static"})
    gated_cfg = llama_config(vocab_size=256)
    bert = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "max_position_embeddings": 128,
        "vocab_size": 100,
    }
    return [
        Repo(
            "fake-org/tiny-llama",
            {LLAMA_V1: llama_files(1024), LLAMA_MAIN: main},
            {"main": LLAMA_MAIN, "v1": LLAMA_V1},
            card={"license": "llama3.1"},
        ),
        Repo(
            "fake-org/tiny-llama-FP8",
            {
                commit_of("fp8"): {
                    "config.json": json.dumps(fp8_cfg).encode(),
                    "tokenizer.json": TOKENIZER,
                    "model.safetensors": safetensors_file(llama_tensors(fp8_cfg, "F8_E4M3", scales=True), seed=2),
                }
            },
            {"main": commit_of("fp8")},
        ),
        Repo(
            "fake-org/tiny-moe",
            {commit_of("moe"): {"config.json": json.dumps(MOE).encode(), **moe_shards()}},
            {"main": commit_of("moe")},
        ),
        Repo(  # the same tensors under another name: an alias
            "fake-org/tiny-llama-mirror",
            {
                commit_of("mirror"): {
                    "config.json": json.dumps(llama_config()).encode(),
                    "model.safetensors": LLAMA_WEIGHTS,
                }
            },
            {"main": commit_of("mirror")},
        ),
        Repo(  # a Quark FP8 export with FP8 KV-cache scales, as AMD's *-FP8-KV checkpoints
            "fake-amd/tiny-llama-FP8-KV",
            {
                commit_of("fp8-kv"): {
                    "config.json": json.dumps(FP8_KV_CONFIG).encode(),
                    "model.safetensors": safetensors_file(llama_tensors(FP8_KV_CONFIG, "F8_E4M3", scales=True), 6),
                }
            },
            {"main": commit_of("fp8-kv")},
        ),
        Repo(
            "fake-gated/tiny-gated",
            {
                commit_of("gated"): {
                    "config.json": json.dumps(gated_cfg).encode(),
                    "model.safetensors": safetensors_file(llama_tensors(gated_cfg), seed=3),
                }
            },
            {"main": commit_of("gated")},
            gated="manual",
            tokens=("hf_granted",),
            card={"license": "other", "license_name": "fake-community"},
        ),
        Repo(
            "fake-org/big-weights",
            {commit_of("big"): {"config.json": b"{}", "model.safetensors": BIG_WEIGHTS}},
            {"main": commit_of("big")},
        ),
        Repo(
            "fake-org/tiny-bert",
            {
                commit_of("bert"): {
                    "config.json": json.dumps(bert).encode(),
                    "model.safetensors": safetensors_file({"embeddings.word_embeddings.weight": ("F32", [100, 32])}, 4),
                }
            },
            {"main": commit_of("bert")},
        ),
    ]


@pytest.fixture(scope="session")
def _server():
    hub = FakeHub(fake_repos()).start()
    yield hub
    hub.stop()


@pytest.fixture
def fake_hub(_server):
    _server.reset()
    yield _server
    for stall in list(_server.stalls.values()):
        stall.release.set()


@pytest.fixture
def hub_env(tmp_path, fake_hub) -> dict:
    """Environment for a CLI subprocess talking only to the loopback hub."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(("HF_", "HUGGING", "AIM_")) and "PROXY" not in k.upper()
    }
    env.update(
        HF_ENDPOINT=fake_hub.endpoint,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HOME=str(tmp_path / "hf-home"),
        AIM_CACHE_DIR=str(tmp_path / "cache"),
        NO_PROXY="127.0.0.1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def cli(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aim_engine", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def spawn(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "aim_engine", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def build_repo(root: Path, repo_id: str, files: dict[str, bytes], commit: str, ref: str | None = "main") -> Path:
    """A model in huggingface_hub's cache layout, built by hand (blobs named by sha256, relative links)."""
    folder = root / "hub" / ("models--" + repo_id.replace("/", "--"))
    for path, data in files.items():
        blob = folder / "blobs" / sha256(data)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = folder / "snapshots" / commit / path
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (folder / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
    if ref:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / ref).write_text(commit)
    return folder


DAY = 86400


def files(size: int) -> dict[str, bytes]:
    """A tiny model: a config and `size` bytes of weights."""
    return {"config.json": b'{"a": %d}' % size, "model.safetensors": os.urandom(size)}


def age(root: Path, repo_id: str, days: float, **entry) -> None:
    """Make a model look last used `days` ago (blob times and the index agree)."""
    then = time.time() - days * DAY
    blobs = root / "hub" / ("models--" + repo_id.replace("/", "--")) / "blobs"
    for blob in blobs.iterdir():
        if not blob.is_symlink():
            os.utime(blob, (then, then))
    stamp = iso(then)
    update_index(
        root, lambda e: e.update({repo_id: {**e.get(repo_id, {}), "cached_at": stamp, "last_used": stamp, **entry}})
    )


def tree(folder: Path) -> dict[str, tuple]:
    """Names, sizes and times (not contents: reading a blob counts as using the model)."""
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns, os.path.islink(p))
        for p in sorted(folder.rglob("*"))
    }


def run(capsys, *args: str) -> tuple[int, str, str]:
    """`aim-engine ARGS` in this process: (status, stdout, stderr)."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def root(tmp_path):
    return tmp_path / "cache"


def offline_env(**extra: str) -> dict:
    """Environment for a CLI subprocess that never talks to a hub."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("HF_", "AIM_"))}
    return {**env, "HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1", **extra}
