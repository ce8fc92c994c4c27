"""What to install for each engine, and what to fake: the only per-engine *install* data.

Where each engine keeps the facts the snapshot captures (module and attribute names) lives
beside the code that reads it, in ``vllm_engine.py`` / ``sglang_engine.py``.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    package: str  # PyPI distribution name
    command: str  # the launch command whose parser we snapshot
    # Pure-Python packages the parser's import chain needs. Installed WITH
    # their dependencies, pinned by the engine's Requires-Dist when it has one
    # (an entry may carry its own specifier instead: "fastapi<0.137").
    light_deps: tuple[str, ...]
    # Heavy modules served by the fake-module finder. Keep this an explicit
    # list: faking "whatever is missing" would also fake hardware probes.
    fake_modules: tuple[str, ...]
    # Environment of the inner run on top of the scrubbed base environment.
    env: dict[str, str]
    # Fake modules that must also look *installed* to importlib.metadata
    # (version gates call importlib.metadata.version("torch")). Their version
    # is the engine's own `==` pin from Requires-Dist.
    fake_distributions: tuple[str, ...] = ()
    # Whether `Deprecated*Action`s are side-effect free (they only warn or
    # call parser.error), so firing one captures the engine's exact message.
    fire_deprecated_actions: bool = False


ENGINES: dict[str, EngineSpec] = {
    "vllm": EngineSpec(
        package="vllm",
        command="vllm serve",
        # Each one is imported on the way to make_arg_parser (checked for
        # 0.33.0 by blocking it: the build fails, or for einops, the
        # --load-format choices go missing).
        light_deps=(
            "aiohttp",
            "cachetools",
            "cbor2",
            "cloudpickle",
            "einops",
            "fastapi",
            "filelock",
            "huggingface_hub",
            "msgspec",
            "numpy",
            "openai",
            # vLLM >= 0.33 depends on this fork; it provides `openai_harmony`.
            "oss-harmony",
            "packaging",
            "partial-json-parser",
            "pillow",
            "prometheus_client",
            "psutil",
            "py-cpuinfo",
            "pybase64",
            "pydantic",
            "pyyaml",
            "pyzmq",
            "regex",
            "requests",
            "safetensors",
            "tqdm",
            "typing_extensions",
            "uvloop",
        ),
        # Imported unconditionally by the parser's import chain. Other heavy
        # deps (triton, scipy, cv2, torchvision, ...) are import-guarded in
        # vLLM and leave the snapshot unchanged whether faked or absent.
        fake_modules=("torch", "transformers", "xgrammar", "llguidance"),
        # Without a target device vLLM probes for CUDA/ROCm libraries; pin the
        # platform so the snapshot does not depend on the machine it ran on.
        env={"VLLM_TARGET_DEVICE": "cpu"},
        fake_distributions=("torch",),
    ),
    "sglang": EngineSpec(
        package="sglang",
        command="python3 -m sglang.launch_server",
        # Checked for 0.5.23 as for vLLM. Not needed, though SGLang imports
        # them when present: fastapi, uvloop, openai, transformers (never
        # *fake* transformers: SGLang patches PretrainedConfig at import).
        light_deps=(
            "aiohttp",
            "msgspec",
            "numpy",
            "orjson",
            "packaging",
            "pillow",
            "psutil",
            "pybase64",
            "pydantic",
            # SGLang's --config merge imports yaml (a transformers dependency in a real install;
            # SGLang itself lists it only under an extra).
            "pyyaml",
            "pyzmq",
            "requests",
            "starlette",
            "tqdm",
        ),
        fake_modules=("torch", "triton", "IPython"),
        env={},
        fire_deprecated_actions=True,
    ),
}

# The GPU targets the catalogue knows (compiler/aim_engine/catalogue/data/hardware.json);
# quantization support is evaluated for each by simulating that device.
GFX_TARGETS = ("gfx90a", "gfx942", "gfx950", "gfx1100")
