"""aim-pick MODEL: detect this host's AMD GPUs, look up the prebuilt plan, print it.

Exit status: 0 plan printed, 2 usage, 3 no plan fits (reasons printed), 4 no AMD GPU
found, 5 catalogue missing or corrupt, 70 internal error, 130 interrupted. Standard
library only.

Start-up matters (aim-pick runs before every container start): argparse is imported only
for what the quick parser below does not take (help, abbreviations, errors), and detection
imports subprocess or threading only when sysfs does not answer.
"""

from __future__ import annotations

import os
import sys

from aim_pick import detect, output, pick
from aim_pick.contract import deploy, layout
from aim_pick.contract.reader import Api, open_api, opened
from aim_pick.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_NO_GPU, ApiError, PickError, Usage

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    import argparse

FORMATS = ("docker", "compose", "k8s", "env", "json", "explain")
K8S_CACHES = ("pvc", "hostpath")
# The options of build_parser() as the quick parser takes them: flag -> (dest, type or choices).
OPTIONS: dict[str, tuple[str, object]] = {
    "--gpus": ("gpus", int),
    "--precision": ("precision", str),
    "--backend": ("backend", str),
    "--objective": ("objective", ("latency", "throughput")),
    "--format": ("format", FORMATS),
    "--port": ("port", int),
    "--cache-dir": ("cache_dir", str),
    "--name": ("name", str),
    "--api": ("api", str),
    "--profile": ("profile", str),
    "--k8s-cache": ("k8s_cache", K8S_CACHES),
    "--output": ("output", str),
}
DEFAULTS = {dest: None for dest, _ in OPTIONS.values()} | {"format": "docker", "k8s_cache": "pvc", "all": False}


def help_formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's default formatter imports shutil (and with it bz2, lzma, zlib) on every
    run, only to measure the terminal; os can tell as much (start-up matters here)."""
    import argparse

    try:
        width = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (ValueError, OSError, AttributeError):
        width = 80
    return argparse.HelpFormatter(prog, width=max(width - 2, 20))


def build_parser() -> argparse.ArgumentParser:
    import argparse

    p = argparse.ArgumentParser(
        prog="aim-pick",
        description="Detect AMD GPUs and print the prebuilt AIM Engine plan for MODEL.",
        formatter_class=help_formatter,
    )
    p.add_argument("model", help="Hugging Face id (Qwen/Qwen3-32B), slug or model name")
    p.add_argument("--gpus", type=int, help="use at most N GPUs (exact request); default: the size-tier choice")
    p.add_argument("--precision", help="auto or a precision the catalogue has, e.g. bf16, fp8 (env AIM_PRECISION)")
    p.add_argument("--backend", help="auto, vllm or sglang (env AIM_BACKEND)")
    p.add_argument(
        "--objective",
        choices=("latency", "throughput"),
        help="latency (default: the size-tier plan) or throughput (the fewest GPUs per replica, the rest as "
        "data-parallel replicas) (env AIM_OBJECTIVE)",
    )
    p.add_argument("--format", choices=FORMATS, default="docker")
    p.add_argument("--port", type=int, help=f"host port (default {deploy.DEFAULT_HOST_PORT})")
    p.add_argument("--cache-dir", help=f"model cache root on the host (env AIM_CACHE_DIR, default {deploy.CACHE_ROOT})")
    p.add_argument("--name", help="container name (default aim-<plan id>)")
    p.add_argument(
        "--api", help="catalogue API folder or URL (env AIM_API; default: the copy inside aim-pick.pyz, else build/api)"
    )
    p.add_argument("--profile", help="run this plan id instead of choosing (env AIM_PROFILE_ID)")
    p.add_argument("--k8s-cache", choices=K8S_CACHES, default="pvc", help="model cache volume in --format k8s")
    p.add_argument("--output", help="write the output (any --format) to this file instead of printing it")
    p.add_argument(
        "--all", action="store_true", help="--format explain: list every candidate (default: incompatible by reason)"
    )
    return p


def quick_parse(argv: list[str]):
    """The namespace build_parser() would return for `argv`, without importing argparse,
    when `argv` is plainly well-formed: the one positional and exact long options, each
    as `--flag value` or `--flag=value`, values of the right type. Anything else (help,
    abbreviations, a value starting with '-', `--`, errors) returns None, for argparse
    to parse or reject with its own messages."""
    from types import SimpleNamespace

    values: dict[str, object] = dict(DEFAULTS)
    model = None
    words = iter(argv)
    for word in words:
        if not word.startswith("-"):
            if model is not None:
                return None
            model = word
            continue
        flag, equals, value = word.partition("=")
        if flag not in OPTIONS:
            return None
        if not equals:
            following = next(words, None)
            if following is None or following.startswith("-"):
                return None
            value = following
        dest, kind = OPTIONS[flag]
        if kind is int:
            try:
                values[dest] = int(value)
            except ValueError:
                return None
        elif isinstance(kind, tuple):
            if value not in kind:
                return None
            values[dest] = value
        else:
            values[dest] = value
    if model is None:
        return None
    return SimpleNamespace(model=model, **values)


def parse_args(argv: list[str] | None = None):
    args = quick_parse(sys.argv[1:] if argv is None else argv)
    return args if args is not None else build_parser().parse_args(argv)


def detect_levels(env: dict) -> dict:
    """Devices at the host, container and process levels (detect.py does the reading)."""
    seconds, problem = detect.budget(env)
    devices, source, tried, notes = detect.host_devices(seconds)
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
        "warnings": [*([problem] if problem else []), *notes, *warnings],
    }


def open_catalogue(explicit: str | None, env: dict, warnings: list[str]) -> Api:
    """The catalogue: --api, else AIM_API, else the copy inside aim-pick.pyz, else
    ./build/api, which is worth a warning (a copy of the repository's last build, not
    necessarily what this aim-pick was built with) or, when it is not there either, an
    error that says where aim-pick looked."""
    location = explicit or env.get("AIM_API")
    if location:
        return open_api(location)
    default = Api(None)  # the copy inside aim-pick.pyz, else ./build/api
    if default.embedded is not None:
        return opened(default)
    where = os.path.abspath(default.location)
    try:
        api = open_api(None)
    except ApiError as exc:
        raise ApiError(
            f"aim-pick has no catalogue embedded and neither --api nor AIM_API is set, so it looked in {where}: "
            f"{exc.args[0] if exc.args else exc}; pass --api DIR|URL (the api/ folder of a build) or set AIM_API"
        ) from None
    warnings.append(
        f"aim-pick has no catalogue embedded and neither --api nor AIM_API is set: using {where} "
        "(pass --api DIR|URL to choose the catalogue)"
    )
    return api


def print_warnings(warnings: list[str], err) -> None:
    for warning in warnings:
        print(f"aim-pick: warning: {deploy.one_line(warning)}", file=err)


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
    warnings = list(found["warnings"])
    if not found["devices"] and not env.get("AIM_GPU_MODEL"):
        tried = ", ".join(found["tried"])
        print_warnings(warnings, err)
        print(f"aim-pick: no AMD GPU found (tried {tried}); set AIM_GPU_MODEL to plan for one anyway", file=err)
        return EXIT_NO_GPU
    api = open_catalogue(args.api, env, warnings)
    index = api.index
    pick.check_choices(chosen, index)
    model = pick.find_model(index, args.model)
    host = pick.resolve_hardware(found, index["hardware"], env)
    warnings += pick.host_warnings(host, env)
    detected = output.detected_summary(found, host)
    if host.gpu is None:
        print_warnings(warnings, err)
        print(f"aim-pick: {deploy.one_line(pick.no_gpu_reason(found))}", file=err)
        if args.format == "json":
            print(output.no_gpu_json(detected), file=out)
        return EXIT_NO_GPU
    if host.count < 1:
        print_warnings(warnings, err)
        print("aim-pick: no usable GPU (visibility variables or the container hide them all)", file=err)
        return EXIT_NO_GPU

    request, adjusted = pick.request(chosen, model, host)
    warnings += adjusted
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
            return without_plan(args, detected, request, candidates, warnings, out, err)
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
            hosts = pick.more_hosts(lookup, request.key)
            return without_plan(args, detected, request, candidates, warnings + ([hosts] if hosts else []), out, err)
        plan = api.read_plan(plan_id, host.gpu, model["slug"])

    options = pick.deploy_options(chosen, plan, host, len(found["devices"]))
    cache = cache_state(options.cache_dir, plan["checkpoint"])
    options = options._replace(offline=bool(cache.get("complete")))
    warnings += pick.plan_warnings(plan, env, cache)
    if args.format not in ("docker", "explain"):  # docker prints them itself; explain shows them in its text
        print_warnings(warnings, err)
    return output.with_plan(
        args.format, args.output, plan, options, detected, request, candidates, cache, warnings, out, err, args.all
    )


def without_plan(args, detected, request, candidates, warnings, out, err) -> int:
    if args.format == "json":  # the other formats print the listing, warnings included
        print_warnings(warnings, err)
    return output.without_plan(args.format, detected, request, candidates, warnings, out, err, args.all)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
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
