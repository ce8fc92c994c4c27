"""From detected devices and a published lookup file to the plan to run: pure functions
over plain data (no I/O), so every rule is testable without a GPU.

aim-pick never plans: it reads the decision the compiler published for the request key.
The one thing it adds is a re-check the compiler cannot make: a partitioned GPU (DPX,
QPX, CPX) gives each logical device only part of the memory, so candidates on the
published fallback path are taken only if they fit that part.
"""

from __future__ import annotations

import re
from collections import namedtuple

from aim_pick.contract import deploy, layout
from aim_pick.contract.units import gib
from aim_pick.errors import Usage

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from aim_pick.contract.records import HardwareRecord, LookupRecord, ModelSummary

MAX_KEY_GPUS = 8  # the published grid covers n = 1..8
CONTAINER_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")  # what the docker daemon accepts

# Records (namedtuples, not dataclasses: importing dataclasses, and with it inspect, would
# cost aim-pick's start-up more than everything it does on a GPU host).
Host = namedtuple("Host", "gpu count group simulated partition device_bytes apu")
Host.__doc__ = """The GPUs a plan may use: GPU type, usable count, device indices of the chosen group,
whether AIM_GPU_MODEL/AIM_GPU_COUNT made it up, partition mode, per-device memory when
partitioned (else None) and whether it is an APU."""
Request = namedtuple("Request", "model gpus count_mode precision backend profile key")
Request.__doc__ = "What is asked of the catalogue: the published lookup key and its parts."
Settings = namedtuple("Settings", "precision backend profile gpus port name cache_dir k8s_cache")
Settings.__doc__ = "The user's choices, from the command line and the AIM_* environment."
PARTITION_FACTOR = {"SPX": 1, "DPX": 2, "TPX": 3, "QPX": 4}


def identify(devices: list[dict], hardware: dict[str, HardwareRecord]) -> None:
    """Name each device's GPU type from the catalogue's hardware table: by PCI device id
    first; torch (no id) by exact product name, or by a gfx target only one type has."""
    by_id = {d: name for name, h in hardware.items() for d in h["device_ids"]}
    by_product = {h["product"].lower(): name for name, h in hardware.items()}
    by_gfx: dict[str, list[str]] = {}
    for name, h in hardware.items():
        by_gfx.setdefault(h["gfx_target"], []).append(name)
    for d in devices:
        gpu = by_id.get(d.get("device_id") or "")
        if gpu is None and not d.get("device_id"):
            gpu = by_product.get(str(d.get("name") or "").strip().lower())
            if gpu is None and len(by_gfx.get(d.get("gfx") or "", [])) == 1:
                gpu = by_gfx[d["gfx"]][0]
        d["gpu"] = gpu
        if (
            gpu
            and d.get("partition") not in (None, "SPX")
            and d.get("partitions_on_gpu", 1) == 1
            and d.get("vram_bytes")
        ):
            # A source that cannot group partitions (no PCI address) still names the
            # mode: divide the repeated full-GPU figure by the partitions per GPU.
            factor = (
                hardware[gpu]["xcc_per_device"] if d["partition"] == "CPX" else PARTITION_FACTOR.get(d["partition"], 1)
            )
            d["vram_bytes"] //= max(1, factor)
            d["partitions_on_gpu"] = factor
        elif gpu and d.get("partition") not in (None, "SPX") and not d.get("vram_bytes"):
            # No source told the memory: split the catalogue's figure for the whole GPU,
            # so the partition re-check still runs (a full-GPU plan must not pass).
            factor = d.get("partitions_on_gpu", 1)
            if factor <= 1:
                factor = (
                    hardware[gpu]["xcc_per_device"]
                    if d["partition"] == "CPX"
                    else PARTITION_FACTOR.get(d["partition"], 1)
                )
            d["vram_bytes"] = hardware[gpu]["memory_bytes"] // max(1, factor)
            d["partitions_on_gpu"] = factor


def choose_group(devices: list[dict], usable: list[int]) -> tuple[str | None, list[int]]:
    """The largest homogeneous group of supported GPUs among the usable devices
    (ties: the GPU type with more memory, then name)."""
    groups: dict[str, list[int]] = {}
    for i in usable:
        if devices[i].get("gpu"):
            groups.setdefault(devices[i]["gpu"], []).append(i)
    if not groups:
        return None, []
    best = max(groups, key=lambda g: (len(groups[g]), max(devices[i].get("vram_bytes") or 0 for i in groups[g]), g))
    return best, groups[best]


def request_key(n: int, exact: bool, precision: str, backend: str) -> str:
    return layout.lookup_key(max(1, min(n, MAX_KEY_GPUS)), "exact" if exact else "auto", precision, backend)


def fits_device(candidate: Mapping[str, Any], device_bytes: int | None, catalogue_bytes: int) -> bool:
    """Re-check a published candidate against a smaller per-device memory (partitions)."""
    total, budget = candidate.get("total_bytes_per_gpu"), candidate.get("budget_bytes_per_gpu")
    if not device_bytes or not total or not budget or device_bytes >= catalogue_bytes:
        return True
    utilization = budget / catalogue_bytes
    return total <= device_bytes * utilization


def resolve(
    lookup: LookupRecord, key: str, n: int, backend: str, device_bytes: int | None, catalogue_bytes: int
) -> tuple[str | None, list[dict]]:
    """The chosen plan id and every candidate with its verdict and reason."""
    decision = lookup["decisions"][lookup["keys"][key]]
    table = lookup["candidates"]
    chosen = None
    listing = []
    seen = set()
    for cid, verdict in decision["path"]:
        seen.add(cid)
        c = table[cid]
        item = {
            "plan": c["plan"],
            "candidate": cid,
            "gpus": c["gpus"],
            "precision": c["precision"],
            "backend": c["backend"],
            "derived": c["derived"],
            "verdict": verdict,
            "reason": c["reason"],
            "message": c["message"],
        }
        if verdict in ("chosen", "runnable"):
            if not fits_device(c, device_bytes, catalogue_bytes):
                item.update(
                    verdict="rejected",
                    reason="partition-too-small",
                    message=f"needs {gib(c['total_bytes_per_gpu'])} per GPU; a partition here has {gib(device_bytes)}",
                )
            elif chosen is None:
                chosen = c["plan"]
                item.update(verdict="chosen", reason="chosen")
            else:
                item.update(verdict="runnable", reason="runnable")
        listing.append(item)
    for cid, c in sorted(table.items()):
        if cid in seen or c["plan"] is None and c["recipe"] is None:
            continue
        if c["gpus"] > n:
            reason, message = "too-many-gpus", f"needs {c['gpus']} GPUs; {n} usable here"
        elif backend != "auto" and c["backend"] != backend:
            reason, message = "backend-not-requested", f"{c['backend']} entry; {backend} was requested"
        else:
            reason, message = "precision-not-requested", f"{c['precision']} entry; not the requested precision"
        listing.append(
            {
                "plan": c["plan"],
                "candidate": cid,
                "gpus": c["gpus"],
                "precision": c["precision"],
                "backend": c["backend"],
                "derived": c["derived"],
                "verdict": "rejected",
                "reason": reason,
                "message": message,
            }
        )
    return chosen, listing


# --- the user's request -------------------------------------------------------------------------


def settings(args, env: dict) -> Settings:
    """Command line over environment; checks what can be checked before detection."""
    precision = (args.precision or env.get("AIM_PRECISION") or "auto").lower()
    backend = (args.backend or env.get("AIM_BACKEND") or "auto").lower()
    if args.port is not None and not 1 <= args.port <= 65535:
        raise Usage(f"--port {args.port} is not a TCP port (1-65535)")
    if args.name is not None and not CONTAINER_NAME.match(args.name):
        raise Usage(f"--name {args.name!r} is not a valid container name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)")
    if args.gpus is not None and args.gpus < 1:
        raise Usage("--gpus must be at least 1")
    return Settings(
        precision,
        backend,
        args.profile or env.get("AIM_PROFILE_ID"),
        args.gpus,
        args.port,
        args.name,
        args.cache_dir or env.get("AIM_CACHE_DIR") or deploy.CACHE_ROOT,
        args.k8s_cache,
    )


def check_choices(chosen: Settings, index: dict) -> None:
    """Precision and backend must be ones the catalogue publishes."""
    precisions = ("auto", *index.get("precisions", ()))
    if chosen.precision not in precisions:
        raise Usage(f"precision {chosen.precision!r} is not one of {', '.join(precisions)}")
    if chosen.backend != "auto" and chosen.backend not in index["engines"]:
        raise Usage(f"backend {chosen.backend!r} is not one of auto, {', '.join(sorted(index['engines']))}")


def find_model(index: dict, text: str) -> ModelSummary:
    for model in index["models"]:
        if layout.matches(text, model["model_id"], model["slug"], model["name"]):
            return model
    raise Usage(f"unknown model {text!r}; the catalogue has: {', '.join(m['model_id'] for m in index['models'])}")


def resolve_hardware(found: dict, hardware: dict[str, HardwareRecord], env: dict) -> Host:
    """Name the GPUs, apply AIM_GPU_MODEL / AIM_GPU_COUNT, pick the group to use."""
    devices = found["devices"]
    identify(devices, hardware)
    forced = env.get("AIM_GPU_MODEL")
    match = None
    if forced:
        match = next((name for name in hardware if layout.matches(forced, name)), None)
        if match is None:
            raise Usage(f"AIM_GPU_MODEL={forced!r} is not a known GPU ({', '.join(hardware)})")
        for d in devices:
            d["gpu"] = match
    gpu, group = choose_group(devices, found["process"])
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
    return Host(
        gpu, count, group, simulated, partition, smallest if modes else None, bool(gpu and hardware[gpu].get("apu"))
    )


def no_gpu_reason(found: dict) -> str:
    """Why detection found devices but no supported, usable GPU among them."""
    if found["devices"] and not found["container"]:
        return f"no GPU usable in this container ({found['container_note']})"
    if found["devices"] and not found["process"]:
        return "no usable GPU left after visibility settings"
    kinds = sorted({f"{d['device_id'] or d['name']} ({d['gfx']})" for d in found["devices"]})
    return f"no supported GPU among {', '.join(kinds) or 'none'}"


def request(chosen: Settings, model: ModelSummary, host: Host) -> tuple[Request, list[str]]:
    """The lookup request for this host, and warnings about what was adjusted."""
    exact = chosen.gpus is not None
    n = min(chosen.gpus, host.count) if exact else host.count
    warnings = []
    if exact and chosen.gpus > host.count:
        warnings.append(
            f"--gpus {chosen.gpus} asked for more GPUs than the {host.count} usable here; planning for {host.count}"
        )
    if n > MAX_KEY_GPUS:
        warnings.append(f"{n} GPUs usable; plans use at most {MAX_KEY_GPUS}")
    key = request_key(n, exact, chosen.precision, chosen.backend)
    return Request(
        model["model_id"], n, "exact" if exact else "auto", chosen.precision, chosen.backend, chosen.profile, key
    ), warnings


def profile_problem(plan: dict, model: ModelSummary, host: Host, n: int, catalogue_bytes: int) -> str | None:
    """Why an explicitly requested plan cannot run here (None when it can)."""
    if plan["model"] != model["model_id"]:
        return f"plan {plan['plan_id']} serves {plan['model']}, not {model['model_id']}"
    if plan["hardware"] != host.gpu:
        return f"plan {plan['plan_id']} is for {plan['hardware']}; this host has {host.gpu}"
    if plan["gpu_count"] > n:  # --gpus N is a ceiling for a profile too
        return f"plan {plan['plan_id']} needs {plan['gpu_count']} GPUs; {n} usable here" + (
            " (--gpus)" if n < host.count else ""
        )
    memory = plan.get("memory") or {}
    wanted = {
        "total_bytes_per_gpu": memory.get("total_bytes_per_gpu"),
        "budget_bytes_per_gpu": memory.get("budget_bytes_per_gpu"),
    }
    if not fits_device(wanted, host.device_bytes, catalogue_bytes):
        return f"plan {plan['plan_id']} needs more memory than one {host.partition} partition has"
    return None


def deploy_options(chosen: Settings, plan: dict, host: Host, host_devices: int) -> deploy.DeployOptions:
    """The host's settings for the artifacts, pinning GPUs when the plan uses part of the host."""
    chosen_devices = host.group[: plan["gpu_count"]]
    pin = None
    # Host ordinals: the new container sees every GPU of the host (--device=/dev/dri), not
    # only those this process sees. Never pin fewer GPUs than the plan needs (a forced
    # AIM_GPU_COUNT above what is here): the engine would see too few.
    if (
        chosen_devices
        and len(chosen_devices) == plan["gpu_count"]
        and sorted(chosen_devices) != list(range(host_devices))
    ):
        pin = tuple(str(i) for i in chosen_devices)
    return deploy.DeployOptions(
        host_port=chosen.port or deploy.DEFAULT_HOST_PORT,
        cache_dir=chosen.cache_dir,
        container_name=chosen.name,
        visible_devices=pin,
        k8s_cache=chosen.k8s_cache,
    )
