"""SGLang (`python3 -m sglang.launch_server`): its flag names, and the defaults SGLang
derives from GPU memory when a recipe leaves them out (srt/arg_groups/memory_hook.py)."""

from __future__ import annotations

from aim_engine.catalogue.records import Entry, Hardware, Model
from aim_engine.engines.base import Backend, EntrySettings, canonical_args
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

    def required_args(self, entry: Entry, settings: EntrySettings) -> list[str]:
        # The launch always names the checkpoint and the TP size explicitly.
        written = self.written(entry)
        argv = [] if "--model-path" in written else ["--model-path", settings.checkpoint]
        return argv + ([] if "--tp-size" in written else ["--tp-size", str(settings.tp)])

    def overhead_in_budget(self) -> bool:
        # --mem-fraction-static sizes weights + KV pool only; activations live in the rest.
        return False

    def settings(self, entry: Entry, model: Model, hardware: Hardware) -> EntrySettings:
        args = canonical_args(entry.args, self.flags)
        tp = int(args.get("--tp-size", 1))
        pp = int(args.get("--pp-size", 1))
        dp = int(args.get("--dp-size", 1))
        attention_dp = bool(args.get("--enable-dp-attention")) or int(args.get("--attn-dp-size") or 1) > 1
        defaults = self.data.defaults
        chunk = int(
            args.get("--chunked-prefill-size") or by_memory(defaults["chunked_prefill_size"], hardware.memory_bytes)
        )
        explicit_len = args.get("--context-length")
        fraction = args.get("--mem-fraction-static")
        return EntrySettings(
            checkpoint=str(args.get("--model-path") or model.model_id),
            tp=tp,
            pp=pp,
            dp=dp,
            # Attention data-parallelism runs inside the TP group; plain --dp-size adds replicas.
            gpus_used=tp * pp * (1 if attention_dp else dp),
            expert_parallel=int(args.get("--ep-size") or 1) > 1,
            max_model_len=int(explicit_len) if explicit_len else model.config.max_position_embeddings,
            max_model_len_explicit=bool(explicit_len),
            utilization=float(fraction)
            if fraction
            else default_mem_fraction_static(
                hardware.memory_bytes,
                max(chunk, 0),
                tp,
                pp,
                by_memory(defaults["cuda_graph_max_bs"], hardware.memory_bytes),
            ),
            max_num_batched_tokens=max(chunk, 1),
            max_num_seqs=int(args.get("--max-running-requests") or defaults["max_running_requests"]),
            kv_cache_dtype=str(args.get("--kv-cache-dtype", "auto")),
            dtype=str(args.get("--dtype", "auto")),
            quantization=args.get("--quantization"),
            cuda_graphs=not args.get("--disable-cuda-graph", False),
        )
