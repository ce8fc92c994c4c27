"""vLLM (`vllm serve`): which flags carry the settings AIM Engine reasons about, and the
defaults vLLM applies when a recipe leaves them out (vllm/engine/arg_utils.py)."""

from __future__ import annotations

from aim_engine.catalogue.records import Entry, Hardware, Model
from aim_engine.engines.base import Backend, EntrySettings, canonical_args


class VLLM(Backend):
    name = "vllm"
    model_flags = ("--model",)
    context_flag = "--max-model-len"

    def required_args(self, entry: Entry, settings: EntrySettings) -> list[str]:
        return [] if "--model" in self.written(entry) else ["--model", settings.checkpoint]

    def settings(self, entry: Entry, model: Model, hardware: Hardware) -> EntrySettings:
        args = canonical_args(entry.args, self.flags)
        tp = int(args.get("--tensor-parallel-size", 1))
        pp = int(args.get("--pipeline-parallel-size", 1))
        dp = int(args.get("--data-parallel-size", 1))
        defaults = self.data.defaults
        # EngineArgs gives GPUs with more memory bigger batches (engine data: defaults).
        size = "large_gpu" if hardware.memory_bytes >= defaults["large_gpu_bytes"] else "small_gpu"
        explicit_len = args.get("--max-model-len")
        return EntrySettings(
            checkpoint=str(args.get("--model") or model.model_id),
            tp=tp,
            pp=pp,
            dp=dp,
            gpus_used=tp * pp * dp,
            expert_parallel=bool(args.get("--enable-expert-parallel", False)),
            max_model_len=int(explicit_len) if explicit_len else model.config.max_position_embeddings,
            max_model_len_explicit=bool(explicit_len),
            utilization=float(args.get("--gpu-memory-utilization", self.default("--gpu-memory-utilization", 0.9))),
            max_num_batched_tokens=int(
                args.get("--max-num-batched-tokens") or defaults["max_num_batched_tokens"][size]
            ),
            max_num_seqs=int(args.get("--max-num-seqs") or defaults["max_num_seqs"][size]),
            kv_cache_dtype=str(args.get("--kv-cache-dtype", "auto")),
            dtype=str(args.get("--dtype", "auto")),
            quantization=args.get("--quantization"),
            cuda_graphs=not args.get("--enforce-eager", False),
        )
