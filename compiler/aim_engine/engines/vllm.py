"""vLLM (`vllm serve`): which flags carry the settings AIM Engine reasons about, and the
defaults vLLM applies when a recipe leaves them out (vllm/engine/arg_utils.py)."""

from __future__ import annotations

from aim_engine.catalogue.records import Entry, Hardware, Model
from aim_engine.engines.base import Backend, EntrySettings
from aim_engine.engines.base import given as _given


class VLLM(Backend):
    name = "vllm"
    model_flags = ("--model",)
    context_flag = "--max-model-len"
    config_override_flag = "--hf-overrides"
    # vllm/model_executor/layers/quantization: fp8 (block scales included) loads through Fp8Config,
    # the gpt-oss MXFP4 checkpoints through Mxfp4Config; 8- and 4-bit integer checkpoints through
    # compressed-tensors, quark, AWQ or GPTQ.
    # vllm/envs.py: Platform.validate_environ warns about every VLLM_* name not in the registry.
    env_prefixes = ("VLLM_",)
    weight_format_methods = {
        "fp8": ("fp8",),
        "fp8_block": ("fp8",),
        "mxfp4": ("mxfp4",),
        "int8": ("compressed-tensors", "quark"),
        "int4": ("awq", "gptq", "compressed-tensors"),
    }

    # `vllm serve MODEL`: vLLM 0.33.0 logs on every `--model` that the model should be given
    # positionally and that the option will be removed (FlexibleArgumentParser.parse_args), so
    # the model is rendered first, positionally, whether or not the recipe writes --model.
    positional_model = True

    def required_args(self, entry: Entry, settings: EntrySettings) -> list[str]:
        return [settings.checkpoint]

    def settings(self, entry: Entry, model: Model, hardware: Hardware) -> EntrySettings:
        args = self.args(entry)
        tp = int(_given(args, "--tensor-parallel-size", 1))
        pp = int(_given(args, "--pipeline-parallel-size", 1))
        dp = int(_given(args, "--data-parallel-size", 1))
        expert_parallel = bool(args.get("--enable-expert-parallel", False))
        defaults = self.data.defaults
        # EngineArgs gives GPUs with more memory bigger batches (engine data: defaults).
        size = "large_gpu" if hardware.memory_bytes >= defaults["large_gpu_bytes"] else "small_gpu"
        explicit_len = args.get("--max-model-len")
        auto = explicit_len == -1  # "auto" / -1: the longest context that fits, at start-up
        if auto:
            explicit_len = None
        return EntrySettings(
            checkpoint=str(_given(args, "--model", model.model_id)),
            tp=tp,
            pp=pp,
            dp=dp,
            gpus_used=tp * pp * dp,
            expert_parallel=expert_parallel,
            max_model_len=model.config.max_position_embeddings if explicit_len is None else int(explicit_len),
            max_model_len_explicit=explicit_len is not None,
            utilization=float(_given(args, "--gpu-memory-utilization", self.default("--gpu-memory-utilization", 0.9))),
            max_num_batched_tokens=int(
                _given(args, "--max-num-batched-tokens", defaults["max_num_batched_tokens"][size])
            ),
            max_num_seqs=int(_given(args, "--max-num-seqs", defaults["max_num_seqs"][size])),
            kv_cache_dtype=str(_given(args, "--kv-cache-dtype", "auto")),
            dtype=str(_given(args, "--dtype", "auto")),
            quantization=args.get("--quantization"),
            cuda_graphs=not args.get("--enforce-eager", False),
            context_auto=auto,
            # With --enable-expert-parallel the expert-parallel group is TP x DP
            # (ParallelConfig: the experts spread over every data-parallel rank); attention stays
            # split by TP and whole on each data-parallel rank.
            expert_shards=tp * dp if expert_parallel else tp,
        )
