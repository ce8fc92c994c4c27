"""aim-pick MODEL: detect this host's AMD GPUs, look up the prebuilt plan, print it.

Exit status: 0 plan printed, 2 usage, 3 no plan fits (reasons printed), 4 no AMD GPU
found, 5 catalogue missing or corrupt. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import sys

from aim_pick import detect, output, pick
from aim_pick.contract import deploy, layout
from aim_pick.contract.reader import open_api
from aim_pick.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_NO_GPU, ApiError, PickError, Usage

FORMATS = ("docker", "compose", "k8s", "env", "json", "explain")


def help_formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's default formatter imports shutil (and with it bz2, lzma, zlib) on every
    run, only to measure the terminal; os can tell as much (start-up matters here)."""
    try:
        width = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (ValueError, OSError, AttributeError):
        width = 80
    return argparse.HelpFormatter(prog, width=max(width - 2, 20))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aim-pick",
        description="Detect AMD GPUs and print the prebuilt AIM Engine plan for MODEL.",
        formatter_class=help_formatter,
    )
    p.add_argument("model", help="Hugging Face id (Qwen/Qwen3-32B), slug or model name")
    p.add_argument("--gpus", type=int, help="use at most N GPUs (exact request); default: the size-tier choice")
    p.add_argument("--precision", help="auto or a precision the catalogue has, e.g. bf16, fp8 (env AIM_PRECISION)")
    p.add_argument("--backend", help="auto, vllm or sglang (env AIM_BACKEND)")
    p.add_argument("--format", choices=FORMATS, default="docker")
    p.add_argument("--port", type=int, help=f"host port (default {deploy.DEFAULT_HOST_PORT})")
    p.add_argument("--cache-dir", help=f"model cache root on the host (env AIM_CACHE_DIR, default {deploy.CACHE_ROOT})")
    p.add_argument("--name", help="container name (default aim-<plan id>)")
    p.add_argument(
        "--api", help="catalogue API folder or URL (env AIM_API; default: the copy inside aim-pick.pyz, else build/api)"
    )
    p.add_argument("--profile", help="run this plan id instead of choosing (env AIM_PROFILE_ID)")
    p.add_argument("--k8s-cache", choices=("pvc", "hostpath"), default="pvc", help="model cache volume in --format k8s")
    p.add_argument("--output", help="write the compose/k8s/env output to this file instead of printing it")
    return p


def detect_levels(env: dict) -> dict:
    """Devices at the host, container and process levels (detect.py does the reading)."""
    devices, source, tried = detect.host_devices()
    detect.apply_partitions(devices)
    container, why = (
        detect.container_visible(devices, env.get("AIM_DEV_ROOT", "/dev")) if devices else ([], "no devices")
    )
    process, warnings = detect.process_visible(container, devices, env)
    return {
        "devices": devices,
        "source": source,
        "tried": tried,
        "container": container,
        "container_note": why,
        "process": process,
        "warnings": warnings,
    }


def cache_state(cache_dir: str, checkpoint: str) -> dict:
    try:
        from aim_pick.contract.cache_state import snapshot_state
    except ImportError:
        return {"complete": False, "commit": None, "path": None, "reason": "cache check unavailable"}
    try:
        return snapshot_state(cache_dir, checkpoint)
    except Exception as exc:  # a broken cache must not stop the pick; the engine downloads instead
        return {"complete": False, "commit": None, "path": None, "reason": f"cache unreadable: {exc}"}


def run(args, env: dict, out, err) -> int:
    chosen = pick.settings(args, env)
    found = detect_levels(env)
    if not found["devices"] and not env.get("AIM_GPU_MODEL"):
        tried = ", ".join(found["tried"])
        print(f"aim-pick: no AMD GPU found (tried {tried}); set AIM_GPU_MODEL to plan for one anyway", file=err)
        return EXIT_NO_GPU
    api = open_api(args.api)
    index = api.index
    pick.check_choices(chosen, index)
    model = pick.find_model(index, args.model)
    host = pick.resolve_hardware(found, index["hardware"], env)
    detected = output.detected_summary(found, host)
    if host.gpu is None:
        print(f"aim-pick: {pick.no_gpu_reason(found)}", file=err)
        if args.format == "json":
            print(output.no_gpu_json(detected), file=out)
        return EXIT_NO_GPU
    if host.count < 1:
        print("aim-pick: no usable GPU (visibility variables or the container hide them all)", file=err)
        return EXIT_NO_GPU

    request, adjusted = pick.request(chosen, model, host)
    warnings = [*found["warnings"], *adjusted]
    catalogue_bytes = index["hardware"][host.gpu]["memory_bytes"]
    if request.profile:
        if not layout.PLAN_ID.match(request.profile):
            raise Usage(f"{request.profile!r} is not a plan id")
        try:
            plan = api.read_plan(request.profile, host.gpu, model["slug"])
        except ApiError:
            raise Usage(f"no plan {request.profile!r} in the catalogue") from None
        problem = pick.profile_problem(plan, model, host, request.gpus, catalogue_bytes)
        candidates = [
            {
                "plan": request.profile,
                "verdict": "rejected" if problem else "chosen",
                "reason": "profile-refused" if problem else "profile",
                "message": problem or "requested with --profile / AIM_PROFILE_ID",
            }
        ]
        if problem:
            return output.without_plan(args.format, detected, request, candidates, warnings, out, err)
    else:
        where = layout.lookup_path(host.gpu, model["slug"])
        lookup = api.read(where)
        try:
            plan_id, candidates = pick.resolve(
                lookup, request.key, request.gpus, request.backend, host.device_bytes, catalogue_bytes
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ApiError(f"{where} is malformed (missing {exc})") from None
        if plan_id is None:
            return output.without_plan(args.format, detected, request, candidates, warnings, out, err)
        plan = api.read_plan(plan_id, host.gpu, model["slug"])

    options = pick.deploy_options(chosen, plan, host, len(found["devices"]))
    cache = cache_state(options.cache_dir, plan["checkpoint"])
    options = options._replace(offline=bool(cache.get("complete")))
    return output.with_plan(
        args.format, args.output, plan, options, detected, request, candidates, cache, warnings, out, err
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args, dict(os.environ), sys.stdout, sys.stderr)
    except (PickError, ApiError) as exc:
        print(f"aim-pick: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: one line and a distinct status, never a traceback on a GPU host
        if os.environ.get("AIM_PICK_DEBUG"):
            raise
        print(f"aim-pick: internal error ({type(exc).__name__}: {exc}); please report it", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
