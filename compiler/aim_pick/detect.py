"""Find the AMD GPUs of this host, the way ROCm itself sees them.

Sources, tried in order until one finds GPUs; each has a timeout and falls through on
any failure (missing, non-zero exit, hang, garbage output):

1. sysfs KFD topology (`$AIM_SYSFS_ROOT/class/kfd/kfd/topology/nodes/*/properties`)
2. `amd-smi static --json`          (a top-level list, or {"gpu_data": [...]})
3. `rocm-smi --showproductname --showmeminfo vram --json`   (every value a string;
   key case changed in ROCm 6.1)
4. the `amdsmi` Python module, if importable
5. torch, last (importing it is slow)

GPUs are identified by PCI device id (and gfx target from KFD's gfx_target_version,
decoded with hex minor/stepping), never by the tools' misprinted "GFX Version" or a
generic market name. Formats: docs/reference/hardware.md#detection-order.

Standard library only; nothing is imported that the chosen path does not need.
"""

from __future__ import annotations

import json
import os

AMD_VENDOR = 0x1002
PARTITION_MODES = ("SPX", "DPX", "TPX", "QPX", "CPX")


def timeout_seconds() -> float:
    try:
        return float(os.environ.get("AIM_DETECT_TIMEOUT", "5"))
    except ValueError:
        return 5.0


def gfx_name(version: int) -> str | None:
    """KFD gfx_target_version -> gfx name: major*10000 + minor*100 + stepping, the last
    two printed in hex (90010 -> gfx90a, 90402 -> gfx942)."""
    if version <= 0:
        return None
    major, minor, stepping = version // 10000, (version // 100) % 100, version % 100
    return f"gfx{major}{minor:x}{stepping:x}"


def normalise_gfx(text: str | None) -> str | None:
    """rocm-smi/amdsmi build 'GFX Version' in decimal (gfx90a shows as gfx9010,
    gfx1100 as gfx11000); strip torch's ':sramecc+:xnack-' feature suffix too."""
    if not text:
        return None
    text = str(text).strip().lower().split(":")[0]
    if not text.startswith("gfx"):
        return None
    digits = text[3:]
    if digits.isdigit() and len(digits) == 4 and digits[0] == "9":  # gfx9010 -> 9.0.10
        return gfx_name(90000 + int(digits[1]) * 100 + int(digits[2:]))
    if digits.isdigit() and len(digits) == 5:  # gfx11000 -> 11.0.0
        return gfx_name(int(digits[:2]) * 10000 + int(digits[2]) * 100 + int(digits[3:]))
    return text


def hex_id(value) -> str | None:
    """'0x74a1', '74a1', 29857 -> '0x74a1'."""
    try:
        number = value if isinstance(value, int) else int(str(value).strip(), 16)
    except (TypeError, ValueError):
        return None
    return f"0x{number:04x}" if 0 < number <= 0xFFFF else None


def device(source: str, **fields) -> dict:
    base = {
        "source": source,
        "device_id": None,
        "gfx": None,
        "vram_bytes": None,
        "physical": None,
        "partition": None,
        "render_minor": None,
        "name": None,
        "uuid": None,
    }
    base.update(fields)
    return base


# --- 1. sysfs ---------------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def _properties(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def from_sysfs(root: str) -> list[dict]:
    nodes_dir = os.path.join(root, "class", "kfd", "kfd", "topology", "nodes")
    try:
        names = sorted(os.listdir(nodes_dir), key=lambda n: int(n) if n.isdigit() else 1 << 30)
    except OSError:
        return []
    found = []
    cards = None
    for name in names:
        if not name.isdigit():
            continue
        text = _read(os.path.join(nodes_dir, name, "properties"))
        if not text:
            continue
        props = _properties(text)
        # A CPU node prints simd_count 0 and gfx_target_version 0 (kfd_topology.c).
        if props.get("simd_count", 0) <= 0 or props.get("gfx_target_version", 0) <= 0:
            continue
        if props.get("vendor_id") not in (None, AMD_VENDOR):
            continue
        minor = props.get("drm_render_minor")
        domain, location = props.get("domain", 0), props.get("location_id", 0)
        # Partitions of one GPU share bus and device; only the PCI function differs.
        physical = f"{domain:04x}:{location >> 8:02x}:{(location >> 3) & 0x1F:02x}"
        drm = os.path.join(root, "class", "drm", f"renderD{minor}", "device") if minor is not None else None
        if drm is None or not os.path.exists(os.path.join(drm, "vendor")):
            # No PCI device behind the render node (a secondary partition links to a
            # platform device): the GPU's primary card, found by PCI address.
            cards = _pci_cards(root) if cards is None else cards
            drm = cards.get(physical)
        vram = _int(_read(os.path.join(drm, "mem_info_vram_total"))) if drm else None
        if not vram:
            vram = _bank_memory(os.path.join(nodes_dir, name, "mem_banks"))
        partition = (_read(os.path.join(drm, "current_compute_partition")) or "").strip().upper() if drm else ""
        found.append(
            device(
                "sysfs",
                device_id=hex_id(props.get("device_id", 0)),
                gfx=gfx_name(props["gfx_target_version"]),
                vram_bytes=vram,
                physical=physical,
                partition=partition if partition in PARTITION_MODES else None,
                render_minor=minor,
                xcc=props.get("num_xcc"),
                node=int(name),
            )
        )
    return found


def _pci_cards(root: str) -> dict[str, str]:
    """PCI address (domain:bus:device) -> `class/drm/card*/device` of each AMD card. The
    cards of secondary partitions link to platform devices without a `vendor` file, so
    each GPU is listed once, with its primary card (docs/reference/hardware.md#sysfs-drm-files)."""
    drm_dir = os.path.join(root, "class", "drm")
    try:
        names = sorted(n for n in os.listdir(drm_dir) if n.startswith("card") and n[4:].isdigit())
    except OSError:
        return {}
    cards: dict[str, str] = {}
    for name in names:
        folder = os.path.join(drm_dir, name, "device")
        if (_read(os.path.join(folder, "vendor")) or "").strip().lower() == f"0x{AMD_VENDOR:04x}":
            cards.setdefault(os.path.basename(os.path.realpath(folder)).rsplit(".", 1)[0], folder)
    return cards


def _int(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text else None
    except ValueError:
        return None


def _bank_memory(banks_dir: str) -> int | None:
    try:
        banks = os.listdir(banks_dir)
    except OSError:
        return None
    sizes = []
    for bank in banks:
        props = _properties(_read(os.path.join(banks_dir, bank, "properties")) or "")
        if props.get("heap_type") in (1, 2):  # frame buffer (public / private), not system memory
            sizes.append(props.get("size_in_bytes", 0))
    return max(sizes) if sizes else None


# --- 2./3. command-line tools -------------------------------------------------------------------


def run_json(argv: list[str]):
    """Run a tool and parse its JSON; None on any failure (missing, exit, hang, garbage)."""
    import shutil
    import subprocess

    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, *argv[1:]], capture_output=True, timeout=timeout_seconds(), stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    text = done.stdout.decode("utf-8", "replace")
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    try:
        return json.loads(text[start:]) if start >= 0 else None
    except ValueError:
        return None


def _lower_keys(mapping) -> dict:
    return {str(k).strip().lower(): v for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def _mb(value) -> int | None:
    """amd-smi sizes: {"value": 196592, "unit": "MB"} (MB here means MiB) or a bare number."""
    if isinstance(value, dict):
        number, unit = value.get("value"), str(value.get("unit", "MB")).upper()
    else:
        number, unit = value, "MB"
    try:
        size = float(number)  # type: ignore[arg-type]  # anything a tool printed; bad values fall through
    except (TypeError, ValueError):
        return None
    scale = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}.get(unit, 1024**2)
    return int(size * scale)


def from_amd_smi() -> list[dict]:
    data = run_json(["amd-smi", "static", "--json"])
    if isinstance(data, dict):
        data = data.get("gpu_data")  # newer releases nest the GPUs
    if not isinstance(data, list):
        return []
    found = []
    for item in data:
        if not isinstance(item, dict):
            continue
        asic = _lower_keys(item.get("asic"))
        vendor = hex_id(asic.get("vendor_id"))
        if vendor and vendor != f"0x{AMD_VENDOR:04x}":
            continue
        device_id = hex_id(asic.get("device_id"))
        if device_id is None:
            continue
        bus = _lower_keys(item.get("bus"))
        partition = _lower_keys(item.get("partition"))
        mode = str(partition.get("compute_partition") or "").strip().upper()
        bdf = str(bus.get("bdf") or "")
        found.append(
            device(
                "amd-smi",
                device_id=device_id,
                gfx=normalise_gfx(asic.get("target_graphics_version")),
                vram_bytes=_mb(_lower_keys(item.get("vram")).get("size")),
                physical=bdf.rsplit(".", 1)[0] if bdf else None,
                partition=mode if mode in PARTITION_MODES else None,
                name=asic.get("market_name"),
            )
        )
    return found


def from_rocm_smi() -> list[dict]:
    data = run_json(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"])
    if not isinstance(data, dict):
        return []
    found = []
    for key in sorted(
        (k for k in data if str(k).lower().startswith("card")),
        key=lambda k: int("".join(c for c in k if c.isdigit()) or 0),
    ):
        raw = data[key]
        if not isinstance(raw, dict):
            continue
        values = _lower_keys(raw)
        # ROCm >= 6.1 spells "Card Model" and puts the device id there; older releases
        # spelled "Card model" and put the subsystem id there, so only trust the new key.
        device_id = hex_id(raw.get("Card Model")) or hex_id(values.get("device id"))
        series = str(values.get("card series") or "")
        found.append(
            device(
                "rocm-smi",
                device_id=device_id,
                gfx=normalise_gfx(values.get("gfx version")),
                vram_bytes=_int(str(values.get("vram total memory (b)") or "")),
                name=series or None,
            )
        )
    return found


# --- 4./5. Python modules -----------------------------------------------------------------------


def from_amdsmi_module() -> list[dict]:
    try:
        import amdsmi  # type: ignore[import-not-found]
    except Exception:
        return []
    found = []
    try:
        amdsmi.amdsmi_init()
        try:
            for handle in amdsmi.amdsmi_get_processor_handles():
                asic = amdsmi.amdsmi_get_gpu_asic_info(handle)
                vram = amdsmi.amdsmi_get_gpu_vram_info(handle)
                try:
                    mode = str(amdsmi.amdsmi_get_gpu_compute_partition(handle)).upper()
                except Exception:
                    mode = ""
                found.append(
                    device(
                        "amdsmi",
                        device_id=hex_id(asic.get("device_id")),
                        gfx=normalise_gfx(asic.get("target_graphics_version")),
                        vram_bytes=_mb(vram.get("vram_size")),
                        partition=mode if mode in PARTITION_MODES else None,
                        name=asic.get("market_name"),
                    )
                )
        finally:
            amdsmi.amdsmi_shut_down()
    except Exception:
        return []
    return found


def from_torch() -> list[dict]:
    try:
        import torch  # type: ignore[import-not-found]

        if getattr(torch.version, "hip", None) is None or not torch.cuda.is_available():
            return []
        found = []
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            found.append(
                device(
                    "torch",
                    gfx=normalise_gfx(getattr(props, "gcnArchName", None)),
                    vram_bytes=int(props.total_memory),
                    name=str(props.name),
                )
            )
        return found
    except Exception:
        return []


SOURCES = (
    ("sysfs", None),
    ("amd-smi", from_amd_smi),
    ("rocm-smi", from_rocm_smi),
    ("amdsmi", from_amdsmi_module),
    ("torch", from_torch),
)


def _in_thread(probe) -> list[dict]:
    """Run an in-process probe (a module import and driver calls) with the timeout the
    tools get: a hung amdsmi_init or torch import must fall through too. The daemon
    thread is left behind; it does not keep the process alive."""
    import threading

    box: list[list[dict]] = []
    worker = threading.Thread(target=lambda: box.append(probe()), daemon=True)
    worker.start()
    worker.join(timeout_seconds())
    return box[0] if box else []


def host_devices() -> tuple[list[dict], str | None, list[str]]:
    """(devices, source that found them, sources tried). A source whose devices carry
    neither a PCI id nor a gfx target (rocm-smi before 6.1 prints neither) falls through
    too; its devices are kept in case no later source does better."""
    tried = []
    unidentified = None
    for name, probe in SOURCES:
        tried.append(name)
        if probe is None:
            found = from_sysfs(os.environ.get("AIM_SYSFS_ROOT", "/sys"))
        else:
            found = _in_thread(probe) if name in ("amdsmi", "torch") else probe()
        if found and any(d.get("device_id") or d.get("gfx") for d in found):
            return found, name, tried
        if found and unidentified is None:
            unidentified = (found, name)
    if unidentified:
        return unidentified[0], unidentified[1], tried
    return [], None, tried


# --- levels: host -> container -> process ---------------------------------------------------------


def container_visible(devices: list[dict], dev_root: str) -> tuple[list[int], str]:
    """Indices of host devices this container can open (/dev/kfd plus its render node)."""
    if not os.path.exists(os.path.join(dev_root, "kfd")):
        return [], f"{dev_root}/kfd is missing"
    try:
        renders = {
            int(n[len("renderD") :])
            for n in os.listdir(os.path.join(dev_root, "dri"))
            if n.startswith("renderD") and n[7:].isdigit()
        }
    except OSError:
        return [], f"{dev_root}/dri is missing"
    known = [i for i, d in enumerate(devices) if d.get("render_minor") is not None]
    if known:
        visible = [i for i in known if devices[i]["render_minor"] in renders]
        return visible, f"{len(visible)} of {len(devices)} render nodes present"
    # Tools do not tell render minors: count the nodes instead.
    count = min(len(devices), len(renders))
    return list(range(count)), f"{len(renders)} render nodes present"


def _mask(value: str | None, pool: list[int], devices: list[dict]) -> list[int]:
    """Apply one visibility variable to the list of indices left by the lower layer."""
    if value is None:
        return pool
    chosen = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if item.isdigit():
            position = int(item)
            if position >= len(pool):
                break  # like CUDA/HIP: an invalid ordinal ends the list
            chosen.append(pool[position])
        elif item.upper().startswith("GPU-"):
            matches = [
                i for i in pool if devices[i].get("uuid") and str(devices[i]["uuid"]).lower() == item[4:].lower()
            ]
            if not matches:
                break
            chosen.append(matches[0])
        else:
            break  # "-1" or garbage hides everything after it
    return chosen


def process_visible(pool: list[int], devices: list[dict], env: dict[str, str]) -> tuple[list[int], list[str]]:
    """ROCr filters first, then HIP (or CUDA, which ROCm treats the same) indexes into
    what is left. Returns the indices and warnings about risky combinations."""
    warnings = []
    rocr, hip, cuda = env.get("ROCR_VISIBLE_DEVICES"), env.get("HIP_VISIBLE_DEVICES"), env.get("CUDA_VISIBLE_DEVICES")
    after_rocr = _mask(rocr, pool, devices)
    if rocr is not None and hip is not None:
        warnings.append(
            "ROCR_VISIBLE_DEVICES and HIP_VISIBLE_DEVICES are both set: "
            "the masks stack (HIP indexes into what ROCr left)"
        )
    if hip is not None and cuda is not None and hip.strip() != cuda.strip():
        warnings.append("HIP_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES differ: vLLM refuses to start with that")
    second = hip if hip is not None else cuda
    return _mask(second, after_rocr, devices), warnings


def partition_groups(devices: list[dict]) -> dict[str, list[int]]:
    """Logical devices grouped by the physical GPU they belong to."""
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(devices):
        groups.setdefault(d.get("physical") or f"#{i}", []).append(i)
    return groups


def apply_partitions(devices: list[dict]) -> None:
    """Memory per logical device. Several logical devices on one PCI device are
    partitions of one GPU (CPX shows 8 per MI300X). Tools repeat the GPU's full VRAM for
    every partition, so when the group reports equal figures, divide by the group size;
    figures that already differ are taken as per-partition values."""
    for indices in partition_groups(devices).values():
        count = len(indices)
        mode = next((devices[i]["partition"] for i in indices if devices[i]["partition"]), None)
        if mode is None and count > 1:
            mode = {2: "DPX", 3: "TPX", 4: "QPX"}.get(count, "CPX")
        sizes = {devices[i]["vram_bytes"] for i in indices if devices[i]["vram_bytes"]}
        repeated = len(sizes) == 1
        for i in indices:
            devices[i]["partition"] = mode or "SPX"
            devices[i]["partitions_on_gpu"] = count
            if count > 1 and repeated:
                devices[i]["vram_bytes"] = next(iter(sizes)) // count
