"""The planner's named settings: each is one documented choice (README "How a plan is selected")."""

from __future__ import annotations

# A plan is *tight* when fewer than this many requests of its own --max-model-len fit in the
# KV cache at once. Tight plans stay runnable but rank after every roomy candidate.
HEADROOM_REQUESTS = 4

# The shortest context a plan is worth running with; a generic plan's context never goes
# below it, and SGLang counts as started only when its KV pool holds this much.
MIN_USEFUL_CONTEXT = 4096

# Generic plans choose their context in steps of this many tokens.
CONTEXT_STEP = 1024

# Plans use at most this many GPUs of one host (the published grid covers n = 1..8).
MAX_GPUS = 8
