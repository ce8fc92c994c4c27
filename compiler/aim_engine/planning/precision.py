"""What precision an entry really serves, from its checkpoint and flags.

A recipe says `precision: fp8`; what the engine loads is decided by the checkpoint
(`--model`, maybe a quantized variant), online quantization flags and `--dtype`. These
rules turn that into a weight format for the memory model and catch contradictions.
"""

from __future__ import annotations

from aim_engine.catalogue.load import load_formats
from aim_engine.catalogue.records import Model

_FORMATS = load_formats()
VARIANT_FORMAT = _FORMATS.variant_quantizations  # variant `quantization` -> weight format
FORMAT_PRECISION = {name: f.precision for name, f in _FORMATS.weight_formats.items()}
ONLINE_FORMAT = _FORMATS.online_quantization  # --quantization values that quantize 16-bit weights at load
DTYPE_PRECISION = _FORMATS.dtypes  # --dtype spellings -> precision


def weight_format(model: Model, checkpoint: str, quantization: str | None, precision: str, dtype: str = "auto") -> str:
    variant = model.variant(checkpoint)
    if variant is not None and variant.quantization != "none":
        return VARIANT_FORMAT[variant.quantization]
    if variant is not None:  # an unquantized variant (an up-cast or an alias): 16-bit weights
        return activation_precision(model, dtype) if dtype != "auto" else variant.precision
    if model.native_precision == "fp8":
        return "fp8_block"  # natively FP8 checkpoints here (DeepSeek) use 128x128 block scales
    if model.native_precision in ("mxfp4", "int4", "int8"):
        return model.native_precision
    if quantization is not None and quantization in ONLINE_FORMAT:
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
