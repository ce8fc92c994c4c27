"""What precision an entry really serves, from its checkpoint and flags.

A recipe says `precision: fp8`; what the engine loads is decided by the checkpoint
(`--model`, maybe a quantized variant), online quantization flags and `--dtype`. These
rules turn that into a weight format for the memory model and catch contradictions.
"""

from __future__ import annotations

from aim_engine.catalogue.records import Model

# Variant `quantization` -> weight format (memory.WEIGHT_BYTES key).
VARIANT_FORMAT = {
    "fp8": "fp8",
    "fp8_block": "fp8_block",
    "mxfp4": "mxfp4",
    "int8": "int8",
    "int4_awq": "int4",
    "int4_gptq": "int4",
}
FORMAT_PRECISION = {
    "bf16": "bf16",
    "fp16": "fp16",
    "fp8": "fp8",
    "fp8_block": "fp8",
    "int8": "int8",
    "int4": "int4",
    "mxfp4": "mxfp4",
}
# --quantization values that quantize 16-bit weights while loading (vLLM and SGLang names).
ONLINE_FORMAT = {
    "fp8": "fp8",
    "ptpc_fp8": "fp8",
    "fp8_per_tensor": "fp8",
    "fp8_per_channel": "fp8",
    "fp8_per_block": "fp8",
    "w8a8_fp8": "fp8",
    "int8_per_channel_weight_only": "int8",
    "w8a8_int8": "int8",
}
DTYPE_PRECISION = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float": "fp32", "float32": "fp32"}


def weight_format(model: Model, checkpoint: str, quantization: str | None, precision: str, dtype: str = "auto") -> str:
    variant = model.variant(checkpoint)
    if variant is not None:
        return VARIANT_FORMAT[variant.quantization]
    if model.native_precision == "fp8":
        return "fp8_block"  # natively FP8 checkpoints here (DeepSeek) use 128x128 block scales
    if model.native_precision in ("mxfp4", "int4", "int8"):
        return model.native_precision
    if quantization in ONLINE_FORMAT:
        return ONLINE_FORMAT[quantization]
    return activation_precision(model, dtype)


def activation_precision(model: Model, dtype: str) -> str:
    """The 16-bit dtype the engine computes in: --dtype, or `auto` = the checkpoint's."""
    if dtype in DTYPE_PRECISION:
        return DTYPE_PRECISION[dtype]
    return model.native_precision if model.native_precision in ("bf16", "fp16") else "bf16"


def served_precision(fmt: str) -> str:
    return FORMAT_PRECISION[fmt]


def dtype_problem(model: Model, precision: str, dtype: str) -> str | None:
    """Sentence describing why --dtype contradicts the recipe precision, or None."""
    compute = activation_precision(model, dtype)
    if precision in ("bf16", "fp16") and compute != precision:
        shown = f"--dtype {dtype}" if dtype != "auto" else f"--dtype auto (the checkpoint's {compute})"
        want = "bfloat16" if precision == "bf16" else "float16"
        return f"precision is {precision} but {shown} computes in {compute}; set --dtype {want}"
    if compute == "fp32":
        return f"--dtype {dtype} computes in fp32, which doubles memory over the {precision} recipe"
    return None
