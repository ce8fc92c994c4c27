"""aim-pick MODEL: detect this host's AMD GPUs, look up the prebuilt plan, print it.

Exit status: 0 plan printed, 2 usage, 3 no plan fits (reasons printed), 4 no AMD GPU
found, 5 catalogue missing or corrupt. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

from aim_pick import detect, pick
from aim_pick.api import ApiError, open_api
from aim_pick.contract import deploy
from aim_pick.contract.files import write_atomic

EXIT_OK, EXIT_USAGE, EXIT_NO_PLAN, EXIT_NO_GPU, EXIT_CATALOGUE = 0, 2, 3, 4, 5
PRECISIONS = ("auto", "bf16", "fp16", "fp8", "mxfp4", "int8", "int4")
FORMATS = ("docker", "compose", "k8s", "env", "json", "explain")
PLAN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # a file name under plans/, never a path
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # what the docker daemon accepts


class Usage(Exception):
    pass


def help_formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's default formatter imports shutil (and with it bz2, lzma, zlib) on every
    run, only to measure the terminal; os can tell as much (start-up matters here)."""
    try:
        width = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(sys.__stdout__.fileno()).columns
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
    p.add_argument("--precision", help=f"one of {', '.join(PRECISIONS)} (env AIM_PRECISION)")
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


# --- detection ---------------------------------------------------------------------------------


def detect_levels(env: dict) -> dict:
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


def resolve_hardware(found: dict, hardware: dict, env: dict) -> dict:
    """Name the GPUs, apply AIM_GPU_MODEL / AIM_GPU_COUNT, pick the group to use."""
    devices = found["devices"]
    pick.identify(devices, hardware)
    forced = env.get("AIM_GPU_MODEL")
    if forced:
        match = {k.lower(): k for k in hardware}.get(forced.strip().lower())
        if match is None:
            raise Usage(f"AIM_GPU_MODEL={forced!r} is not a known GPU ({', '.join(hardware)})")
        for d in devices:
            d["gpu"] = match
    gpu, group = pick.choose_group(devices, found["process"])
    simulated = False
    if forced and not group:
        gpu, group, simulated = match, [], True
    count = len(group)
    if env.get("AIM_GPU_COUNT"):
        try:
            count = int(env["AIM_GPU_COUNT"])
        except ValueError:
            raise Usage(f"AIM_GPU_COUNT={env['AIM_GPU_COUNT']!r} is not a number") from None
        if count < 1:
            raise Usage("AIM_GPU_COUNT must be at least 1")
        simulated = simulated or count > len(group)
    elif simulated:
        count = 1
    first = devices[group[0]] if group else {}
    # Partition modes are set per GPU: if any GPU of the group is partitioned, the plan
    # must fit the smallest device of the group, not the first one's.
    modes = [devices[i]["partition"] for i in group if devices[i].get("partition") not in (None, "SPX")]
    partition = (modes[0] if modes else first.get("partition")) if group else None
    smallest = min((devices[i]["vram_bytes"] for i in group if devices[i].get("vram_bytes")), default=None)
    return {
        "gpu": gpu,
        "count": count,
        "group": group,
        "simulated": simulated,
        "partition": partition,
        "device_bytes": smallest if modes else None,
        "apu": bool(gpu and hardware[gpu].get("apu")),
    }


# --- the pick ----------------------------------------------------------------------------------


def find_model(index: dict, text: str) -> dict | None:
    wanted = text.strip().lower()
    for model in index["models"]:
        if wanted in (model["model_id"].lower(), model["slug"].lower(), model["name"].lower()):
            return model
    return None


def options_for(args, env: dict, plan: dict, chosen_devices: list[int], host: list[int]) -> deploy.DeployOptions:
    pin = None
    # Host ordinals: the new container sees every GPU of the host (--device=/dev/dri), not
    # only those this process sees. Never pin fewer GPUs than the plan needs (a forced
    # AIM_GPU_COUNT above what is here): the engine would see too few.
    if chosen_devices and len(chosen_devices) == plan["gpu_count"] and sorted(chosen_devices) != sorted(host):
        pin = tuple(str(i) for i in chosen_devices)
    return deploy.DeployOptions(
        host_port=args.port or deploy.DEFAULT_HOST_PORT,
        cache_dir=args.cache_dir or env.get("AIM_CACHE_DIR") or deploy.CACHE_ROOT,
        container_name=args.name,
        visible_devices=pin,
        k8s_cache=args.k8s_cache,
    )


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
    precision = (args.precision or env.get("AIM_PRECISION") or "auto").lower()
    backend = (args.backend or env.get("AIM_BACKEND") or "auto").lower()
    profile = args.profile or env.get("AIM_PROFILE_ID")
    if args.port is not None and not 1 <= args.port <= 65535:
        raise Usage(f"--port {args.port} is not a TCP port (1-65535)")
    if args.name is not None and not CONTAINER_NAME.match(args.name):
        raise Usage(f"--name {args.name!r} is not a valid container name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)")
    if precision not in PRECISIONS:
        raise Usage(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if args.gpus is not None and args.gpus < 1:
        raise Usage("--gpus must be at least 1")

    found = detect_levels(env)
    if not found["devices"] and not env.get("AIM_GPU_MODEL"):
        print(
            f"aim-pick: no AMD GPU found (tried {', '.join(found['tried'])}); set AIM_GPU_MODEL to plan for one anyway",
            file=err,
        )
        return EXIT_NO_GPU
    api = open_api(args.api)
    index = api.index
    if backend != "auto" and backend not in index["engines"]:
        raise Usage(f"backend {backend!r} is not one of auto, {', '.join(sorted(index['engines']))}")
    model = find_model(index, args.model)
    if model is None:
        raise Usage(
            f"unknown model {args.model!r}; the catalogue has: {', '.join(m['model_id'] for m in index['models'])}"
        )
    hw = resolve_hardware(found, index["hardware"], env)
    detected = detected_summary(found, hw)
    if hw["gpu"] is None:
        kinds = sorted({f"{d['device_id'] or d['name']} ({d['gfx']})" for d in found["devices"]})
        if found["devices"] and not found["container"]:
            reason = f"no GPU usable in this container ({found['container_note']})"
        elif found["devices"] and not found["process"]:
            reason = "no usable GPU left after visibility settings"
        else:
            reason = f"no supported GPU among {', '.join(kinds) or 'none'}"
        print(f"aim-pick: {reason}", file=err)
        if args.format == "json":
            print(
                json.dumps(
                    {"detected": detected, "request": None, "plan": None, "candidates": []}, indent=2, sort_keys=True
                ),
                file=out,
            )
        return EXIT_NO_GPU
    if hw["count"] < 1:
        print("aim-pick: no usable GPU (visibility variables or the container hide them all)", file=err)
        return EXIT_NO_GPU

    exact = args.gpus is not None
    n = min(args.gpus, hw["count"]) if exact else hw["count"]
    warnings = list(found["warnings"])
    if exact and args.gpus > hw["count"]:
        warnings.append(
            f"--gpus {args.gpus} asked for more GPUs than the {hw['count']} usable here; planning for {hw['count']}"
        )
    if n > pick.MAX_KEY_GPUS:
        warnings.append(f"{n} GPUs usable; plans use at most {pick.MAX_KEY_GPUS}")
    catalogue_bytes = index["hardware"][hw["gpu"]]["memory_bytes"]
    key = pick.request_key(n, exact, precision, backend)
    request = {
        "model": model["model_id"],
        "gpus": n,
        "count_mode": "exact" if exact else "auto",
        "precision": precision,
        "backend": backend,
        "profile": profile,
        "key": key,
    }

    if profile:
        if not PLAN_ID.match(profile):
            raise Usage(f"{profile!r} is not a plan id")
        try:
            plan = api.read_plan(profile, hw["gpu"], model["slug"])
        except ApiError:
            raise Usage(f"no plan {profile!r} in the catalogue") from None
        problem = profile_problem(plan, model, hw, n, catalogue_bytes)
        candidates = [
            {
                "plan": profile,
                "verdict": "rejected" if problem else "chosen",
                "reason": "profile-refused" if problem else "profile",
                "message": problem or "requested with --profile / AIM_PROFILE_ID",
            }
        ]
        if problem:
            return finish_without_plan(args, detected, request, candidates, warnings, out, err)
    else:
        lookup = api.read(f"lookup/{hw['gpu']}/{model['slug']}.json")
        try:
            chosen, candidates = pick.resolve(lookup, key, n, backend, hw["device_bytes"], catalogue_bytes)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ApiError(f"lookup/{hw['gpu']}/{model['slug']}.json is malformed (missing {exc})") from None
        if chosen is None:
            return finish_without_plan(args, detected, request, candidates, warnings, out, err)
        plan = api.read_plan(chosen, hw["gpu"], model["slug"])

    chosen_devices = hw["group"][: plan["gpu_count"]]
    host = list(range(len(found["devices"])))
    options = options_for(args, env, plan, chosen_devices, host)
    cache = cache_state(options.cache_dir, plan["checkpoint"])
    options = options._replace(offline=bool(cache.get("complete")))
    return emit(args, plan, options, detected, request, candidates, cache, warnings, out, err)


def profile_problem(plan: dict, model: dict, hw: dict, n: int, catalogue_bytes: int) -> str | None:
    if plan["model"] != model["model_id"]:
        return f"plan {plan['plan_id']} serves {plan['model']}, not {model['model_id']}"
    if plan["hardware"] != hw["gpu"]:
        return f"plan {plan['plan_id']} is for {plan['hardware']}; this host has {hw['gpu']}"
    if plan["gpu_count"] > n:  # --gpus N is a ceiling for a profile too
        return f"plan {plan['plan_id']} needs {plan['gpu_count']} GPUs; {n} usable here" + (
            " (--gpus)" if n < hw["count"] else ""
        )
    memory = plan.get("memory") or {}
    if not pick.fits_device(
        {
            "total_bytes_per_gpu": memory.get("total_bytes_per_gpu"),
            "budget_bytes_per_gpu": memory.get("budget_bytes_per_gpu"),
        },
        hw["device_bytes"],
        catalogue_bytes,
    ):
        return f"plan {plan['plan_id']} needs more memory than one {hw['partition']} partition has"
    return None


def detected_summary(found: dict, hw: dict) -> dict:
    devices = found["devices"]
    return {
        "gpu": hw["gpu"],
        "count": hw["count"],
        "partition": hw["partition"],
        "source": found["source"] or ("simulated" if hw["simulated"] else None),
        "simulated": hw["simulated"],
        "apu": hw["apu"],
        "memory_bytes_per_device": (
            hw["device_bytes"] or devices[hw["group"][0]].get("vram_bytes") if hw["group"] else None
        ),
        "levels": {
            "host": len(devices),
            "container": len(found["container"]),
            "process": len(found["process"]),
            "usable": hw["count"],
        },
        "container_note": found["container_note"],
        "devices": [
            {
                "index": i,
                "gpu": d.get("gpu"),
                "device_id": d.get("device_id"),
                "gfx": d.get("gfx"),
                "vram_bytes": d.get("vram_bytes"),
                "partition": d.get("partition"),
                "physical": d.get("physical"),
            }
            for i, d in enumerate(devices)
        ],
        "group": hw["group"],
        "sources_tried": found["tried"],
    }


# --- output ------------------------------------------------------------------------------------


def finish_without_plan(args, detected, request, candidates, warnings, out, err) -> int:
    if args.format == "json":
        print(
            json.dumps(
                {
                    "detected": detected,
                    "request": request,
                    "plan": None,
                    "candidates": candidates,
                    "warnings": warnings,
                },
                indent=2,
                sort_keys=True,
            ),
            file=out,
        )
    else:
        stream = out if args.format == "explain" else err
        print(explain_text(detected, request, None, candidates, None, warnings, None), file=stream)
    return EXIT_NO_PLAN


def emit(args, plan, options, detected, request, candidates, cache, warnings, out, err) -> int:
    fmt = args.format
    if fmt == "docker":
        for warning in warnings:
            print(f"aim-pick: warning: {warning}", file=err)
        print(deploy.shell_command(deploy.docker_argv(plan, options)), file=out)
        return EXIT_OK
    if fmt == "json":
        body = {
            "detected": detected,
            "request": request,
            "plan": {
                **plan,
                "docker_argv": deploy.docker_argv(plan, options),
                "docker_command": deploy.shell_command(deploy.docker_argv(plan, options)),
            },
            "candidates": candidates,
            "cache": cache,
            "warnings": warnings,
        }
        print(json.dumps(body, indent=2, sort_keys=True), file=out)
        return EXIT_OK
    if fmt == "explain":
        print(explain_text(detected, request, plan, candidates, cache, warnings, options), file=out)
        return EXIT_OK
    if fmt == "compose":
        text = json.dumps(deploy.compose_document(plan, options), indent=2, sort_keys=True)  # JSON is YAML
    elif fmt == "k8s":
        text = json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": deploy.k8s_objects(plan, options)}, indent=2, sort_keys=True
        )
    else:  # env
        import shlex

        lines = [f"{k}={shlex.quote(v)}" for k, v in deploy.env_file(plan, options)]
        lines += [
            f"# {plan['model']} is gated: also export {name} (never stored here)"
            for name in deploy.passthrough_env(plan)
        ]
        text = "\n".join(lines)
    if args.output:
        try:
            write_atomic(args.output, (text + "\n").encode("utf-8"))
        except OSError as exc:
            raise Usage(f"cannot write {args.output}: {exc}") from None
        print(f"aim-pick: wrote {args.output} ({plan['plan_id']})", file=err)
    else:
        print(text, file=out)
    return EXIT_OK


def _gib(value) -> str:
    return f"{value / 1024**3:.1f} GiB" if value else "?"


def explain_text(detected, request, plan, candidates, cache, warnings, options) -> str:
    lv = detected["levels"]
    lines = [
        f"Detected: {detected['count']} x {detected['gpu'] or 'no supported GPU'}"
        + (f", {detected['partition']} partitions" if detected["partition"] not in (None, "SPX") else "")
        + (f", {_gib(detected['memory_bytes_per_device'])} per device" if detected["memory_bytes_per_device"] else "")
        + f" (source: {detected['source']})"
    ]
    if detected["simulated"]:
        lines.append("  simulated or forced by AIM_GPU_MODEL / AIM_GPU_COUNT")
    if detected["apu"]:
        lines.append("  this is an APU (MI300A): GPU memory is shared with the CPU cores")
    lines.append(
        f"  levels: host {lv['host']}, container {lv['container']} ({detected['container_note']}), "
        f"process {lv['process']} -> usable {lv['usable']}"
    )
    for warning in warnings:
        lines.append(f"  warning: {warning}")
    if request:
        lines.append(
            f"Request: {request['model']}, {request['gpus']} GPU(s) {request['count_mode']}, precision {request['precision']}, "
            f"backend {request['backend']} (lookup key {request['key']})"
        )
    if cache is not None and plan is not None:
        if cache.get("complete"):
            lines.append(
                f"Cache: {plan['checkpoint']} is complete in {options.cache_dir} (commit {cache.get('commit')}): HF_HUB_OFFLINE=1"
            )
        else:
            lines.append(
                f"Cache: {plan['checkpoint']} is not complete in {options.cache_dir} ({cache.get('reason')}); "
                "the cache is mounted writable so the engine's download fills it"
            )
    lines.append("Candidates:")
    for verdict in ("chosen", "runnable", "low-memory", "rejected"):
        for c in candidates:
            if c["verdict"] == verdict:
                lines.append(
                    f"  {verdict.upper():<10} {c.get('plan') or c.get('candidate') or '-'}  [{c['reason']}] {c['message']}"
                )
    if plan is None:
        lines.append("No plan fits: every candidate is listed above with its reason.")
    else:
        lines.append(f"Plan: {plan['plan_id']} ({plan['status']}, recipe {plan['recipe_id']})")
        lines.append("Command:")
        lines.append("  " + deploy.shell_command(deploy.docker_argv(plan, options)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args, dict(os.environ), sys.stdout, sys.stderr)
    except Usage as exc:
        print(f"aim-pick: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        print(f"aim-pick: catalogue missing or corrupt: {exc}", file=sys.stderr)
        return EXIT_CATALOGUE
    except (BrokenPipeError, KeyboardInterrupt):
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
