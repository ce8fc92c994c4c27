"""From detected devices and a published lookup file to the plan to run: pure functions
over plain data (no I/O), so every rule is testable without a GPU.

aim-pick never plans: it reads the decision the compiler published for the request key.
The one thing it adds is a re-check the compiler cannot make: a partitioned GPU (DPX,
QPX, CPX) gives each logical device only part of the memory, so candidates on the
published fallback path are taken only if they fit that part.
"""

from __future__ import annotations

MAX_KEY_GPUS = 8  # the published grid covers n = 1..8
PARTITION_FACTOR = {"SPX": 1, "DPX": 2, "TPX": 3, "QPX": 4}


def identify(devices: list[dict], hardware: dict) -> None:
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
    return f"{max(1, min(n, MAX_KEY_GPUS))}/{'exact' if exact else 'auto'}/{precision}/{backend}"


def fits_device(candidate: dict, device_bytes: int | None, catalogue_bytes: int) -> bool:
    """Re-check a published candidate against a smaller per-device memory (partitions)."""
    total, budget = candidate.get("total_bytes_per_gpu"), candidate.get("budget_bytes_per_gpu")
    if not device_bytes or not total or not budget or device_bytes >= catalogue_bytes:
        return True
    utilization = budget / catalogue_bytes
    return total <= device_bytes * utilization


def resolve(
    lookup: dict, key: str, n: int, backend: str, device_bytes: int | None, catalogue_bytes: int
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
                    message=f"needs {c['total_bytes_per_gpu'] / 1024**3:.1f} GiB per GPU; a partition here has "
                    f"{device_bytes / 1024**3:.1f} GiB",
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
