"""SGLang (`python3 -m sglang.launch_server`): its flag names, and the defaults SGLang
derives from GPU memory when a recipe leaves them out (srt/arg_groups/memory_hook.py)."""

from __future__ import annotations

from aim_engine.catalogue.records import Entry, Hardware, Model
from aim_engine.engines.base import Backend, EntrySettings
from aim_engine.engines.base import given as _given
from aim_pick.contract.units import GIB

MIB = 1024**2


def by_memory(tiers: list[list[int]], memory_bytes: int) -> int:
    """The value of the first (threshold bytes, value) tier the GPU's memory reaches."""
    return next(value for threshold, value in tiers if memory_bytes >= threshold)


def default_mem_fraction_static(memory_bytes: int, chunk: int, tp: int, pp: int, decode_graph_max_bs: int) -> float:
    """SGLang's automatic --mem-fraction-static: reserve room for activations and graphs
    (its memory hook: 512 MiB, 1.5 x the prefill chunk, TP x PP / 8 GiB of collectives and
    2 MiB per decode graph batch slot, at least 10 GiB on GPUs above 60 GiB)."""
    reserved = (512 + 1.5 * max(chunk, 2048) + tp * pp / 8 * 1024 + 2 * decode_graph_max_bs) * MIB
    if memory_bytes > 60 * GIB:
        reserved = max(reserved, 10 * GIB)
    return round((memory_bytes - reserved) / memory_bytes, 3)


class SGLang(Backend):
    name = "sglang"
    model_flags = ("--model-path",)
    context_flag = "--context-length"
    config_override_flag = "--json-model-override-args"
    # server_args.py types it as str and json.loads it when the model config is built.
    json_options = ("--json-model-override-args",)
    # sglang/srt/layers/quantization: Fp8Config (block scales included), Mxfp4Config (registered
    # only where the device has MXFP4 kernels: gfx950), W8A8Int8Config, AWQ/GPTQ-Marlin and
    # compressed-tensors.
    # sglang/srt/environ.py: the Envs registry; _handle_deprecated_envs maps SGL_X onto SGLANG_X.
    env_prefixes = ("SGLANG_", "SGL_")
    env_legacy_prefixes = {"SGL_": "SGLANG_"}
    weight_format_methods = {
        "fp8": ("fp8",),
        "fp8_block": ("fp8",),
        "mxfp4": ("mxfp4",),
        "int8": ("w8a8_int8", "compressed-tensors"),
        "int4": ("awq", "gptq_marlin", "compressed-tensors"),
    }

    def required_args(self, entry: Entry, settings: EntrySettings) -> list[str]:
        # The launch always names the checkpoint and the TP size explicitly.
        written = self.written(entry)
        argv = [] if "--model-path" in written else ["--model-path", settings.checkpoint]
        return argv + ([] if "--tp-size" in written else ["--tp-size", str(settings.tp)])

    def overhead_in_budget(self) -> bool:
        # --mem-fraction-static sizes weights + KV pool only; activations live in the rest.
        return False

    # SGLang sizes its KV pool from memory and starts even when one request of
    # --context-length would not fit; such requests are refused or cut at run time.
    needs_full_context_at_start = False

    def settings(self, entry: Entry, model: Model, hardware: Hardware) -> EntrySettings:
        args = self.args(entry)
        tp = int(_given(args, "--tp-size", 1))
        pp = int(_given(args, "--pp-size", 1))
        dp = int(_given(args, "--dp-size", 1))
        attention_dp = bool(args.get("--enable-dp-attention")) or int(_given(args, "--attn-dp-size", 1)) > 1
        # DP attention splits the TP group into dp attention groups of tp / dp GPUs each, every one
        # holding the attention weights whole for its slice (attn_tp_size = tp_size // dp_size).
        attention_shards = max(1, tp // max(dp, 1)) if attention_dp else tp
        defaults = self.data.defaults
        chunk = int(
            _given(args, "--chunked-prefill-size", by_memory(defaults["chunked_prefill_size"], hardware.memory_bytes))
        )
        explicit_len = args.get("--context-length")
        fraction = args.get("--mem-fraction-static")
        small_tp, small_pp = min(max(tp, 1), 1024), min(max(pp, 1), 1024)  # out-of-range sizes are reported, not used
        return EntrySettings(
            checkpoint=str(_given(args, "--model-path", model.model_id)),
            tp=tp,
            pp=pp,
            dp=dp,
            # Attention data-parallelism runs inside the TP group; plain --dp-size adds replicas.
            gpus_used=tp * pp * (1 if attention_dp else dp),
            expert_parallel=int(_given(args, "--ep-size", 1)) > 1,
            max_model_len=model.config.max_position_embeddings if explicit_len is None else int(explicit_len),
            max_model_len_explicit=explicit_len is not None,
            utilization=float(fraction)
            if fraction is not None
            else default_mem_fraction_static(
                hardware.memory_bytes,
                min(max(chunk, 0), 10**9),
                small_tp,
                small_pp,
                by_memory(defaults["cuda_graph_max_bs"], hardware.memory_bytes),
            ),
            max_num_batched_tokens=max(chunk, 1),
            max_num_seqs=int(_given(args, "--max-running-requests", defaults["max_running_requests"])),
            kv_cache_dtype=str(_given(args, "--kv-cache-dtype", "auto")),
            dtype=str(_given(args, "--dtype", "auto")),
            quantization=args.get("--quantization"),
            cuda_graphs=not args.get("--disable-cuda-graph", False),
            attention_shards=attention_shards,
        )
