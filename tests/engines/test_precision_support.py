"""Backend.precision_support: the GPU's precision support limited by what the pinned engine
does on the GPU's gfx target (the flag snapshot's quantization_support)."""

from __future__ import annotations

import pytest

from aim_engine.engines import backends_for


@pytest.mark.parametrize(
    ("engine", "gpu", "weight_format", "expected"),
    [
        # SGLang 0.5.23 registers Mxfp4Config only on gfx950; vLLM emulates MXFP4 on gfx942.
        ("sglang", "MI300X", "mxfp4", None),
        ("sglang", "MI325X", "mxfp4", None),
        ("sglang", "MI308X", "mxfp4", None),
        ("sglang", "MI355X", "mxfp4", "native"),
        ("vllm", "MI300X", "mxfp4", "emulated"),
        ("vllm", "MI355X", "mxfp4", "native"),
        # the GPU's verdict stands where the engine has nothing arch-specific
        ("vllm", "MI300X", "bf16", "native"),
        ("sglang", "MI300X", "fp8_block", "native"),
        ("vllm", "MI355X", "fp8", "native"),
        ("vllm", "MI250X", "fp8", None),  # no FP8 on gfx90a
        ("sglang", "MI250X", "fp8_block", None),
        ("vllm", "W7900", "mxfp4", None),  # the GPU has no MXFP4 at all
        ("vllm", "MI300X", "int4", "native"),
    ],
)
def test_precision_support_per_engine_and_gfx_target(catalogue, engine, gpu, weight_format, expected):
    backend = backends_for(catalogue.engines)[engine]
    assert backend.precision_support(catalogue.hardware[gpu], weight_format) == expected


def test_unsupported_says_why(catalogue):
    sglang = backends_for(catalogue.engines)["sglang"]
    level, sentence = sglang.precision_support_reason(catalogue.hardware["MI300X"], "mxfp4")
    assert level is None and "SGLang 0.5.23" in sentence and "gfx942" in sentence


def test_every_weight_format_method_is_in_the_snapshot(catalogue):
    """The method names the engine modules map weight formats to exist in the snapshot."""
    for backend in backends_for(catalogue.engines).values():
        methods = backend.facts.section("quantization_support").get("methods") or {}
        for fmt, names in backend.weight_format_methods.items():
            assert all(name in methods for name in names), (backend.name, fmt, names)
