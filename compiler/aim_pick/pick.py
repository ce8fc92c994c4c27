"""From detected devices and a published lookup file to the plan to run: pure functions
over plain data (no I/O), so every rule is testable without a GPU.

aim-pick never plans: it reads the decision the compiler published for the request key.
The one thing it adds is a re-check the compiler cannot make: a partitioned GPU (DPX,
QPX, CPX) gives each logical device only part of the memory, so candidates on the
published fallback path are taken only if they fit that part.
"""

from __future__ import annotations

import os
from collections import namedtuple

from aim_pick.contract import deploy, layout
from aim_pick.contract.listing import precision_not_offered, replicas
from aim_pick.contract.units import gib
from aim_pick.errors import Usage

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from aim_pick.contract.records import HardwareRecord, LookupRecord, ModelSummary

MAX_KEY_GPUS = 8  # the published grid covers n = 1..8
CONTAINER_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]+"  # what the docker daemon accepts (compiled only for --name)

# Records (namedtuples, not dataclasses: importing dataclasses, and with it inspect, would
# cost aim-pick's start-up more than everything it does on a GPU host).
Host = namedtuple("Host", "gpu count group simulated partition device_bytes apu")
Host.__doc__ = """The GPUs a plan may use: GPU type, usable count, device indices of the chosen group,
whether AIM_GPU_MODEL/AIM_GPU_COUNT made it up, partition mode, per-device memory when
partitioned (else None) and whether it is an APU."""
Request = namedtuple("Request", "model gpus count_mode precision backend profile key objective")
Request.__doc__ = "What is asked of the catalogue: the published lookup key and its parts."
Settings = namedtuple("Settings", "precision backend profile gpus port name cache_dir k8s_cache objective")
Settings.__doc__ = "The user's choices, from the command line and the AIM_* environment."
PARTITION_FACTOR = {"SPX": 1, "DPX": 2, "TPX": 3, "QPX": 4}


MEMORY_TOLERANCE = (0.9, 1.05)  # a reported figure matches a catalogue GPU within -10 % / +5 % of its memory
# Words of a catalogue product name that never tell one GPU from another.
VENDOR_WORDS = frozenset({"amd", "ati", "advanced", "micro", "devices", "inc", "instinct", "radeon", "pro"})


def name_words(name) -> list[str]:
    """The words of a product name, lower case, ASCII letters and digits only, '/' also
    splitting: 'Aqua Vanjaram [Instinct MI300X]' -> aqua, vanjaram, instinct, mi300x;
    'AMD Instinct MI250X/MI250' -> amd, instinct, mi250x, mi250."""
    if not isinstance(name, str):
        return []
    text = "".join(c if c.isascii() and c.isalnum() else " " for c in name[:200].lower())
    return text.split()


def catalogue_words(hardware: dict[str, HardwareRecord]) -> dict[str, set[str]]:
    """Model words per catalogue GPU: its name and its product name without vendor words
    (MI300X -> {mi300x}; W7900 'AMD Radeon PRO W7900' -> {w7900})."""
    return {
        gpu: {w for w in [*name_words(gpu), *name_words(h.get("product"))] if w not in VENDOR_WORDS}
        for gpu, h in hardware.items()
    }


def name_candidates(name, words: dict[str, set[str]]) -> set[str]:
    """Catalogue GPUs a product name may be, matched loosely: case, vendor words
    ('AMD', 'Instinct'), codenames and form-factor suffixes ('OAM', 'PCIe', '[...]') do
    not matter, since only a word that is a GPU's model word counts ('AMD Instinct MI300X
    OAM' -> MI300X). Without such a word, a family name one letter short of model words
    ('MI300' -> MI300A, MI300X; 'AMD Instinct MI350 OAM' -> MI350X) gives those GPUs."""
    found = name_words(name)
    exact = {gpu for gpu, own in words.items() if own & set(found)}
    if exact:
        return exact
    families = {w for w in found if any(c.isdigit() for c in w)}
    return {gpu for gpu, own in words.items() if any(o[:-1] in families and o[-1].isalpha() for o in own)}


def memory_matches(candidates, reported: int | None, hardware: dict[str, HardwareRecord]) -> set[str]:
    """The candidates whose catalogue memory is close to a reported whole-GPU figure."""
    low, high = MEMORY_TOLERANCE
    if not reported:
        return set()
    return {
        g for g in candidates if low * hardware[g]["memory_bytes"] <= reported <= high * hardware[g]["memory_bytes"]
    }


def identify_one(d: dict, hardware: dict[str, HardwareRecord], by_id: dict[str, str], words) -> str | None:
    """One device's catalogue GPU (docs/reference/hardware.md#identification):

    1. a PCI device id decides whenever a source gave one (an id outside the catalogue
       stays unknown: it never falls back to a name);
    2. else the product name(s), loosely (`name_candidates`); several candidates are told
       apart by the reported memory, and stay unknown if it cannot;
    3. else the gfx target, when its GPUs' memory leaves one that matches the reported
       figure (or, with no figure, when only one GPU has that target)."""
    if d.get("device_id"):
        return by_id.get(d["device_id"])
    memory = d.get("vram_bytes")
    whole = memory * max(1, d.get("partitions_on_gpu") or 1) if memory else None  # sources repeat it per partition
    for name in (d.get("name"), d.get("product")):
        candidates = name_candidates(name, words)
        if len(candidates) == 1:
            return next(iter(candidates))
        narrowed = memory_matches(candidates, whole, hardware)
        if len(narrowed) == 1:
            return next(iter(narrowed))
    same_target = {g for g, h in hardware.items() if d.get("gfx") and h["gfx_target"] == d["gfx"]}
    if whole:
        same_target = memory_matches(same_target, whole, hardware)
    return next(iter(same_target)) if len(same_target) == 1 else None


def identify(devices: list[dict], hardware: dict[str, HardwareRecord]) -> None:
    """Name each device's GPU type from the catalogue's hardware table (`identify_one`),
    then split a repeated full-GPU memory figure over the partitions a source reported."""
    by_id = {d: name for name, h in hardware.items() for d in h["device_ids"]}
    words = catalogue_words(hardware)
    for d in devices:
        gpu = identify_one(d, hardware, by_id, words)
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


def request_key(n: int, exact: bool, precision: str, backend: str, objective: str = "latency") -> str:
    mode = "exact" if exact else "auto"
    return layout.lookup_key(max(1, min(n, MAX_KEY_GPUS)), mode, precision, backend, objective)


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
    """The chosen plan id and every candidate with its verdict and reason.

    The published choice is re-made here only when a candidate cannot run on this host's
    (partitioned) devices: the first roomy candidate of the path that fits is chosen, a tight
    one only when no roomy one fits (the planner's rule)."""
    if key not in lookup["keys"]:
        precision = key.split("/")[2]
        offered = lookup.get("precisions")
        if offered is not None and precision not in offered:
            return None, [precision_not_offered(lookup, precision, offered)]
    decision = lookup["decisions"][lookup["keys"][key]]
    table = lookup["candidates"]
    listing: list[dict[str, Any]] = []
    seen = set()
    fitting = []  # positions in `listing` of runnable candidates that fit here
    for cid, verdict in decision["path"]:
        seen.add(cid)
        c = table[cid]
        item = listing_line(cid, c, verdict, c["reason"], c["message"])
        if verdict in ("chosen", "runnable"):
            if not fits_device(c, device_bytes, catalogue_bytes):
                item.update(
                    verdict="rejected",
                    reason="partition-too-small",
                    message=f"needs {gib(c['total_bytes_per_gpu'])} per GPU; a partition here has {gib(device_bytes)}",
                )
            else:
                fitting.append(len(listing))
                item.update(verdict="runnable", reason="tight" if c.get("tight") else "runnable")
        listing.append(item)
    roomy = [i for i in fitting if listing[i]["reason"] == "runnable"]
    chosen: str | None = None
    if roomy or fitting:
        at = (roomy or fitting)[0]
        listing[at].update(verdict="chosen", reason="chosen")
        chosen = listing[at]["plan"]
    for cid, c in sorted(table.items()):
        if cid in seen or c["plan"] is None and c["recipe"] is None:
            continue
        needs = c["gpus"] * replicas(cid)  # a candidate's gpus are per replica
        if needs > n:
            reason, message = "too-many-gpus", f"needs {needs} GPUs; {n} usable here"
        elif backend != "auto" and c["backend"] != backend:
            reason, message = "backend-not-requested", f"{c['backend']} entry; {backend} was requested"
        elif replicas(cid) > 1 and decision["target"]["objective"] != "throughput":
            # replicas are what the throughput objective adds; a latency request never walks them
            reason, message = "objective-not-requested", f"{replicas(cid)} replicas: a throughput plan; latency asked"
        else:
            reason, message = "precision-not-requested", f"{c['precision']} entry; not the requested precision"
        listing.append(listing_line(cid, c, "rejected", reason, message))
    return chosen, listing


def listing_line(cid: str, c: Mapping[str, Any], verdict: str, reason: str, message: str) -> dict[str, Any]:
    """One candidate as aim-pick lists it."""
    return {
        "plan": c["plan"],
        "candidate": cid,
        "recipe": c.get("recipe"),  # the listing labels a candidate with no recipe "(no recipe)"
        "gpus": c["gpus"],
        "precision": c["precision"],
        "backend": c["backend"],
        "derived": c["derived"],
        "source": c.get("source"),
        "source_hardware": c.get("source_hardware"),
        "layout": c.get("layout"),
        "tight": bool(c.get("tight")),
        "verdict": verdict,
        "reason": reason,
        "message": message,
    }


GPUS_PER_HOST = 8  # multi-node plans use hosts of 8 GPUs (the planner's MAX_GPUS)


def more_hosts(lookup: LookupRecord, key: str) -> str | None:
    """When nothing on one host serves the request: which multi-node plan does, and the
    Kubernetes route to it (one host cannot run it, so aim-pick prints no command for it)."""
    decision_id = lookup["keys"].get(key)
    decision = lookup["decisions"].get(decision_id) if decision_id else None
    plan = decision.get("multi_node") if decision else None
    if not plan:
        return None
    found = next((c for c in lookup["candidates"].values() if c.get("plan") == plan), None)
    hosts = f"{found['gpus'] // GPUS_PER_HOST} hosts x {GPUS_PER_HOST}" if found else "several hosts of"
    what = f" at {found['precision']} with {found['backend']}" if found else ""
    return (
        f"{lookup['model']} needs more than one host of {lookup['hardware']}: {hosts} {lookup['hardware']}{what} "
        f"(plan {plan}); deploy it on Kubernetes: kubectl apply -k k8s/{plan}/ from the AIM Engine build "
        f"(a LeaderWorkerSet), or run docker/{plan}-leader.sh and -worker.sh on each host"
    )


# --- the user's request -------------------------------------------------------------------------


def settings(args, env: dict) -> Settings:
    """Command line over environment; checks what can be checked before detection."""
    precision = (args.precision or env.get("AIM_PRECISION") or "auto").lower()
    backend = (args.backend or env.get("AIM_BACKEND") or "auto").lower()
    objective = (args.objective or env.get("AIM_OBJECTIVE") or "latency").lower()
    if objective not in layout.OBJECTIVES:
        raise Usage(
            f"objective {objective!r} is not one of {', '.join(layout.OBJECTIVES)} (--objective / AIM_OBJECTIVE)"
        )
    if args.port is not None and not 1 <= args.port <= 65535:
        raise Usage(f"--port {args.port} is not a TCP port (1-65535)")
    if args.name is not None and not _container_name(args.name):
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
        # absolute: docker reads a relative -v source as the name of a volume, not as a folder
        os.path.abspath(args.cache_dir or env.get("AIM_CACHE_DIR") or deploy.CACHE_ROOT),
        args.k8s_cache,
        objective,
    )


def _container_name(name: str) -> bool:
    import re

    return re.fullmatch(CONTAINER_NAME, name) is not None


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


MAX_SIMULATED = 1024  # AIM_GPU_COUNT above this is a typo, not a host


def gpu_count(env: dict) -> int | None:
    """AIM_GPU_COUNT as a number of GPUs (None when unset)."""
    text = env.get("AIM_GPU_COUNT")
    if not text:
        return None
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 6):
        raise Usage(f"AIM_GPU_COUNT={deploy.one_line(repr(text[:40]))} is not a whole number of GPUs (1 or more)")
    count = int(digits)
    if count < 1:
        raise Usage("AIM_GPU_COUNT must be at least 1")
    if count > MAX_SIMULATED:
        raise Usage(f"AIM_GPU_COUNT={count} is more than {MAX_SIMULATED} GPUs")
    return count


def simulated_device(gpu: str, record: HardwareRecord) -> dict:
    """A device of a simulated host: the catalogue's GPU with its catalogue memory."""
    return {
        "source": "simulated",
        "gpu": gpu,
        "device_id": next(iter(record.get("device_ids") or ()), None),
        "gfx": record.get("gfx_target"),
        "vram_bytes": record.get("memory_bytes"),
        "physical": None,
        "partition": None,
        "render_minor": None,
        "name": record.get("product"),
        "product": None,
        "uuid": None,
        "partitions_on_gpu": 1,
    }


def resolve_hardware(found: dict, hardware: dict[str, HardwareRecord], env: dict) -> Host:
    """Name the GPUs, apply AIM_GPU_MODEL / AIM_GPU_COUNT, pick the group to use.

    AIM_GPU_MODEL on a host where no GPU is usable simulates one: `found` then holds
    AIM_GPU_COUNT (default 1) devices of that type, visible at every level, so the
    levels, the group and the HIP_VISIBLE_DEVICES pinning are those of a detected host."""
    devices = found["devices"]
    identify(devices, hardware)
    forced = env.get("AIM_GPU_MODEL")
    match = None
    if forced:
        match = next((name for name in hardware if layout.matches(forced, name)), None)
        if match is None:
            raise Usage(
                f"AIM_GPU_MODEL={deploy.one_line(repr(forced[:40]))} is not a known GPU ({', '.join(hardware)})"
            )
        for d in devices:
            d["gpu"] = match
    gpu, group = choose_group(devices, found["process"])
    forced_count = gpu_count(env)
    if forced and match and not group:
        count = forced_count or 1
        note = "simulated by AIM_GPU_MODEL" + (
            " and AIM_GPU_COUNT" if forced_count else " (AIM_GPU_COUNT unset: 1 GPU)"
        )
        if devices:
            note += f"; the {len(devices)} detected device(s) are not usable here ({found['container_note']})"
        devices = [simulated_device(match, hardware[match]) for _ in range(count)]
        found.update(devices=devices, container=list(range(count)), process=list(range(count)), container_note=note)
        gpu, group = match, list(range(count))
        return Host(gpu, count, group, True, None, None, bool(hardware[gpu].get("apu")))
    count = forced_count or len(group)
    simulated = forced_count is not None and forced_count > len(group)
    first = devices[group[0]] if group else {}
    # Partition modes are set per GPU: if any GPU of the group is partitioned, the plan
    # must fit the smallest device of the group, not the first one's.
    modes = [devices[i]["partition"] for i in group if devices[i].get("partition") not in (None, "SPX")]
    partition = (modes[0] if modes else first.get("partition")) if group else None
    smallest = min((devices[i]["vram_bytes"] for i in group if devices[i].get("vram_bytes")), default=None)
    return Host(
        gpu, count, group, simulated, partition, smallest if modes else None, bool(gpu and hardware[gpu].get("apu"))
    )


def host_warnings(host: Host, env: dict) -> list[str]:
    """What the user should know about the host aim-pick planned for."""
    warnings = []
    if host.simulated and env.get("AIM_GPU_MODEL") and not env.get("AIM_GPU_COUNT"):
        warnings.append(
            f"AIM_GPU_MODEL={host.gpu} simulates a host but AIM_GPU_COUNT is not set: assuming 1 GPU "
            "(set AIM_GPU_COUNT=N to plan for N)"
        )
    if host.apu:
        # on an APU the host's processes and the model draw on the same HBM the plan's budget counts
        warnings.append(
            f"{host.gpu} is an APU: GPU memory is shared with the CPU cores, so what the host itself uses "
            "comes out of the plan's memory budget"
        )
    return warnings


def plan_warnings(plan: dict, env: dict, cache: dict | None) -> list[str]:
    """What the user should know about the chosen plan before running it: the plan's own
    warnings as the compiler published them (tight on memory, derived from a sibling GPU's
    recipe, generic), then what only this host can tell (a gated model needs a token)."""
    pid = plan.get("plan_id")
    warnings = [f"plan {pid}: {w}" for w in plan.get("warnings") or () if isinstance(w, str)]
    if plan.get("gated") and not (cache or {}).get("complete"):
        missing = [name for name in deploy.passthrough_env(plan) if not env.get(name)]
        if missing:
            warnings.append(
                f"{plan.get('model')} is gated on Hugging Face: export {' and '.join(missing)} (a token with access "
                "to it) before running; the command passes it by name, never its value"
            )
    return warnings


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
    key = request_key(n, exact, chosen.precision, chosen.backend, chosen.objective)
    mode = "exact" if exact else "auto"
    return Request(
        model["model_id"], n, mode, chosen.precision, chosen.backend, chosen.profile, key, chosen.objective
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
