"""Simulated GPU hosts for aim-pick: sysfs trees, /dev trees, fake tools and fake modules.

Every format here follows docs/reference/hardware.md (the "reference"); each
builder names the section it follows. Nothing is invented beyond what it shows: where a
sample is "composed", values are taken from its samples and #gpu-table's GPU table.

- `sysfs_tree`   #sysfs-kfd-topology KFD topology (`properties`: one `name value` pair per line; CPU node
                 `simd_count 0`), #sysfs-kfd-topology DRM (`class/drm/card*/device/{vendor,device,
                 mem_info_vram_total,current_compute_partition}`; secondary partitions are
                 platform devices without a `vendor` file), #partition-modes partitions (KFD nodes of
                 one GPU share `location_id`/`domain`, each with `num_xcc` < 8).
- `dev_tree`     /dev/kfd and /dev/dri/renderD<drm_render_minor> (#sysfs-kfd-topology "Derived values").
- `mem_banks`    #sysfs-kfd-topology `mem_banks/<i>/properties` (`heap_type`, `size_in_bytes`), the memory
                 source when a node has no DRM card.
- `amd_smi_*`    #amd-smi-cli `amd-smi static --json` (list shape of ROCm 6.2/6.3, `{"gpu_data": …}`),
                 and the verbatim MI350X / MI300A captures as JSON (`amd_smi_capture`).
- `rocm_smi_*`   #rocm-smi-cli `rocm-smi --showproductname --showmeminfo vram --json` (keys before and
                 after ROCm 6.1, every value a string), and the verbatim W7900 / MI100 captures as JSON.
- `fake_amdsmi`  #amdsmi-python-module amdsmi Python API.
- `fake_torch`   #pytorch PyTorch on ROCm (with `gcnArchName`, and older releases without it).
- faults         `endless_tool`, `fifo`: what a broken host does (a tool that never stops printing, a
                 FIFO where a sysfs file should be); each names the documented format it breaks.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path

MIB = 1024**2
GIB = 1024**3


@dataclass(frozen=True)
class Gpu:
    """One physical GPU (or one MI250X GCD, which is one device: #gpu-table)."""

    device_id: int  # PCI device id (#gpu-table table)
    gfx_target_version: int  # KFD gfx_target_version (#gpu-table table, #gfx_target_version-decoding)
    compute_units: int  # #gpu-table table (per device)
    vram_bytes: int  # mem_info_vram_total / "VRAM Total Memory (B)"
    market_name: str  # amd-smi asic.market_name / rocm-smi "Card Series" / torch name
    gfx: str  # target_graphics_version / gcnArchName prefix
    num_xcc: int = 8
    cpu_cores: int = 0  # MI300A: one KFD node has both cores and SIMDs (#sysfs-kfd-topology)
    partition: str = "SPX"  # current_compute_partition (#partition-modes)
    partitions: int = 1  # logical devices on this GPU (CPX on MI300X: 8, #partition-modes)


# #gpu-table table + #sysfs-kfd-topology composed MI300X sample (simd_count 1216 = 304 CUs x simd_per_cu 4,
# num_xcc 8) + mem_info_vram_total 206141652992 (#sysfs-kfd-topology / rocm-smi capture in #rocm-smi-cli).
MI300X = Gpu(0x74A1, 90402, 304, 206141652992, "AMD Instinct MI300X", "gfx942")
MI300X_VF = replace(MI300X, device_id=0x74B5)  # #sysfs-kfd-topology: "An Azure MI300X VF reads 0x74b5"
# #gpu-table: MI355X 0x75a3, gfx950 (90500), 288 GiB, 256 CUs (32 per XCD -> 8 XCDs).
MI355X = Gpu(0x75A3, 90500, 256, 288 * GIB, "AMD Instinct MI355X", "gfx950")
# #gpu-table: MI250X 0x740c, gfx90a (90010); each GCD is one device of 64 GiB with 110 CUs; the
# name is rocminfo's "Marketing Name" for an MI250X GCD (#rocminfo).
MI250X_GCD = Gpu(0x740C, 90010, 110, 64 * GIB, "AMD Instinct MI250X/MI250", "gfx90a", num_xcc=1)
# #gpu-table / #amd-smi-cli: MI300A 0x74a0, gfx942, 228 CUs, an APU whose tools report 64289 MB "VRAM"
# (MARKET_NAME: MI300A in the #amd-smi-cli capture);
# 6 XCDs (#partition-modes "MI300A (6 XCDs)"); 24 CPU cores on the same KFD node (#gpu-table, #sysfs-kfd-topology).
MI300A = Gpu(0x74A0, 90402, 228, 64289 * MIB, "MI300A", "gfx942", num_xcc=6, cpu_cores=24)
# #gpu-table: Radeon PRO W7900 0x7448, gfx1100 (110000), 48 GiB, 96 CUs; its name is the bare id,
# as rocm-smi printed "Card Series: 0x7448" in the #rocm-smi-cli capture.
W7900 = Gpu(0x7448, 110000, 96, 48 * GIB, "0x7448", "gfx1100", num_xcc=1)


# #rocm-smi-cli: product-name fields "can also carry a form-factor suffix, as in 'AMD Instinct MI300X OAM'"
# (the name rocm-smi before ROCm 6.1 printed in `Card series`).
MI300X_OAM = replace(MI300X, market_name="AMD Instinct MI300X OAM")


def cpx(gpu: Gpu) -> Gpu:
    """#partition-modes: CPX gives one logical GPU per XCC, memory not multiplied."""
    return replace(gpu, partition="CPX", partitions=gpu.num_xcc)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# #sysfs-kfd-topology composed CPU node sample, verbatim.
CPU_NODE = """\
cpu_cores_count 96
simd_count 0
mem_banks_count 1
gfx_target_version 0
vendor_id 0
device_id 0
drm_render_minor 0
max_engine_clk_ccompute 2400
"""


def gpu_node_properties(gpu: Gpu, *, location_id: int, render_minor: int, simd_count: int, num_xcc: int) -> str:
    """#sysfs-kfd-topology composed GPU node sample: the same keys in the same order, this GPU's values."""
    return (
        f"cpu_cores_count {gpu.cpu_cores}\n"
        f"simd_count {simd_count}\n"
        "array_count 32\n"
        "simd_per_cu 4\n"
        "wave_front_size 64\n"
        f"gfx_target_version {gpu.gfx_target_version}\n"
        "vendor_id 4098\n"
        f"device_id {gpu.device_id}\n"
        f"location_id {location_id}\n"
        "domain 0\n"
        f"drm_render_minor {render_minor}\n"
        "local_mem_size 0\n"
        f"num_xcc {num_xcc}\n"
        "max_engine_clk_ccompute 2400\n"
    )


# #sysfs-kfd-topology: the full key order printed by node_show() (kfd_topology.c), for one test that the
# parser reads a complete file; values not given by the reference are 0.
FULL_KEY_ORDER = (
    "cpu_cores_count simd_count mem_banks_count caches_count io_links_count p2p_links_count cpu_core_id_base "
    "simd_id_base max_waves_per_simd lds_size_in_kb gds_size_in_kb num_gws wave_front_size array_count "
    "simd_arrays_per_engine cu_per_simd_array simd_per_cu max_slots_scratch_cu gfx_target_version vendor_id "
    "device_id location_id domain drm_render_minor hive_id num_sdma_engines num_sdma_xgmi_engines "
    "num_sdma_queues_per_engine num_cp_queues max_engine_clk_fcompute local_mem_size fw_version capability "
    "capability2 debug_prop sdma_fw_version unique_id num_xcc max_engine_clk_ccompute"
).split()


def full_gpu_node_properties(gpu: Gpu, *, location_id: int, render_minor: int) -> str:
    known = {
        "simd_count": gpu.compute_units * 4,
        "wave_front_size": 64,
        "array_count": 32,
        "simd_per_cu": 4,
        "gfx_target_version": gpu.gfx_target_version,
        "vendor_id": 4098,
        "device_id": gpu.device_id,
        "location_id": location_id,
        "domain": 0,
        "drm_render_minor": render_minor,
        "num_xcc": gpu.num_xcc,
        "max_engine_clk_ccompute": 2400,
        "cpu_cores_count": gpu.cpu_cores,
    }
    return "".join(f"{key} {known.get(key, 0)}\n" for key in FULL_KEY_ORDER)


# PCI buses of the GPUs, in KFD order. The first is the #sysfs-kfd-topology sample's location_id 18176
# (0x4700: bus 0x47, device 0, function 0); the rest are further composed buses.
BUSES = (0x47, 0x0C, 0x1C, 0x2C, 0x58, 0x8A, 0x9A, 0xAA, 0xBA, 0xCA, 0xDA, 0xEA)


def sysfs_tree(
    root: Path, gpus: list[Gpu], *, full_properties: bool = False, cpu_nodes: int = 2, drm: bool = True
) -> Path:
    """A sysfs root (for AIM_SYSFS_ROOT) holding `gpus` in KFD order.

    KFD: nodes 0..cpu_nodes-1 are CPU nodes (#sysfs-kfd-topology sample), then one node per logical GPU.
    DRM: class/drm/card<k>/device links to the PCI device folder of each physical GPU
    (vendor, device, mem_info_vram_total, current_compute_partition, #sysfs-kfd-topology); each secondary
    partition's card links to devices/platform/amdgpu_xcp.<n>, which has no vendor file
    (#sysfs-kfd-topology "Secondary partitions are not PCI devices"). Cards are numbered from 1 as in the
    #sysfs-kfd-topology sample (card1 is the first GPU: renderD128), so card number != render minor - 128.
    """
    nodes = root / "class" / "kfd" / "kfd" / "topology" / "nodes"
    for n in range(cpu_nodes):
        _write(nodes / str(n) / "properties", CPU_NODE)
    node, minor, card, xcp = cpu_nodes, 128, 1, 1
    for index, gpu in enumerate(gpus):
        bus = BUSES[index]
        location = bus << 8  # location_id = bus<<8 | dev<<3 | fn (#sysfs-kfd-topology)
        pci = root / "devices" / "pci0000:00" / f"0000:{bus:02x}:00.0"
        _write(pci / "vendor", "0x1002\n")
        _write(pci / "device", f"0x{gpu.device_id:04x}\n")
        _write(pci / "mem_info_vram_total", f"{gpu.vram_bytes}\n")
        _write(pci / "current_compute_partition", f"{gpu.partition}\n")
        _write(pci / "current_memory_partition", "NPS1\n")
        for part in range(gpu.partitions):
            simd = gpu.compute_units * 4 // gpu.partitions
            xcc = max(1, gpu.num_xcc // gpu.partitions)
            props = (
                full_gpu_node_properties(gpu, location_id=location, render_minor=minor)
                if full_properties
                else gpu_node_properties(gpu, location_id=location, render_minor=minor, simd_count=simd, num_xcc=xcc)
            )
            _write(nodes / str(node) / "properties", props)
            _write(nodes / str(node) / "gpu_id", f"{1000 + node}\n")
            if drm:
                link = root / "class" / "drm" / f"card{card}" / "device"
                link.parent.mkdir(parents=True, exist_ok=True)
                if part == 0:
                    target = pci
                else:
                    target = root / "devices" / "platform" / f"amdgpu_xcp.{xcp}"
                    target.mkdir(parents=True, exist_ok=True)
                    xcp += 1
                link.symlink_to(os.path.relpath(target, link.parent))
            node, minor, card = node + 1, minor + 1, card + 1
    return root


def mem_banks(root: Path, node: int, banks: list[tuple[int, int]]) -> None:
    """#sysfs-kfd-topology: `nodes/<N>/mem_banks/<i>/properties`, `name value` lines as in the node's own
    `properties` (kfd_topology.c), with `heap_type` (1/2 frame buffer, 0 system memory: amdkfd
    HSA_MEM_HEAP_TYPE_*) and `size_in_bytes`; one (heap_type, size) per bank."""
    folder = root / "class" / "kfd" / "kfd" / "topology" / "nodes" / str(node) / "mem_banks"
    for index, (heap_type, size) in enumerate(banks):
        _write(folder / str(index) / "properties", f"heap_type {heap_type}\nsize_in_bytes {size}\n")


def fifo(path: Path) -> Path:
    """A FIFO where a sysfs attribute (a regular file) should be: opening it for reading blocks
    until a writer comes, which none ever does."""
    if path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def dev_tree(root: Path, minors, *, kfd: bool = True) -> Path:
    """A /dev stand-in (for AIM_DEV_ROOT): `kfd` and `dri/renderD<minor>` for each minor."""
    (root / "dri").mkdir(parents=True, exist_ok=True)
    if kfd:
        (root / "kfd").write_text("")
    for minor in minors:
        (root / "dri" / f"renderD{minor}").write_text("")
    return root


def render_minors(gpus: list[Gpu]) -> list[int]:
    """The render minors sysfs_tree gives the logical devices of `gpus`."""
    return list(range(128, 128 + sum(g.partitions for g in gpus)))


# --- fake command-line tools -------------------------------------------------------------------


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def fake_tool(bin_dir: Path, name: str, expected_args: str, output: str, *, exit_code: int = 0) -> Path:
    """`name` prints `output` when called with exactly `expected_args` (each call is logged
    to bin_dir/calls.log, so tests see which sources ran)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / f"{name}.out").write_text(output, encoding="utf-8")
    return _script(
        bin_dir / name,
        (
            f'echo "{name} $*" >> "$(dirname "$0")/calls.log"\n'
            f'[ "$*" = "{expected_args}" ] || {{ echo "unexpected arguments: $*" >&2; exit 2; }}\n'
            f'cat "$(dirname "$0")/{name}.out"\n'
            f"exit {exit_code}\n"
        ),
    )


def script_tool(bin_dir: Path, name: str, body: str) -> Path:
    """`name` runs the shell `body` (calls logged like fake_tool's)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    return _script(bin_dir / name, f'echo "{name} $*" >> "$(dirname "$0")/calls.log"\n{body}')


def endless_tool(bin_dir: Path, name: str, entry: dict) -> Path:
    """#amd-smi-cli `{"gpu_data": [...]}` shape that never ends: the opening, then `entry` again and
    again without end (a tool stuck in a loop)."""
    (bin_dir / f"{name}.entry").parent.mkdir(parents=True, exist_ok=True)
    (bin_dir / f"{name}.entry").write_text((json.dumps(entry) + ",\n") * 2000, encoding="utf-8")
    return script_tool(
        bin_dir, name, 'printf \'{"gpu_data": [\'\nwhile :; do cat "$(dirname "$0")/' + name + '.entry"; done\n'
    )


def hanging_child_tool(bin_dir: Path, name: str) -> Path:
    """A tool whose child keeps its standard output open after the tool itself is gone: only
    killing the process group ends the pipe."""
    return script_tool(bin_dir, name, "sleep 60 &\nexec sleep 60\n")


def hanging_tool(bin_dir: Path, name: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    return _script(bin_dir / name, f'echo "{name} $*" >> "$(dirname "$0")/calls.log"\nexec sleep 60\n')


def calls(bin_dir: Path) -> list[str]:
    log = bin_dir / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


AMD_SMI_ARGS = "static --json"
ROCM_SMI_ARGS = "--showproductname --showmeminfo vram --json"


def amd_smi_gpus(gpus: list[Gpu]) -> list[dict]:
    """#amd-smi-cli composed `amd-smi static --asic --vram --json` entries (asic and vram sections as
    in the sample; vram.size in MB), plus `bus.bdf` and the `partition` section (#amd-smi-cli key
    lists; #partition-modes: the partitions of one GPU are BDF functions .0-.7 and every partition
    reports the full VRAM)."""
    out = []
    for index, gpu in enumerate(gpus):
        for part in range(gpu.partitions):
            out.append(
                {
                    "gpu": len(out),
                    "asic": {
                        "market_name": gpu.market_name,
                        "vendor_id": "0x1002",
                        "device_id": f"0x{gpu.device_id:04x}",
                        "num_compute_units": gpu.compute_units // gpu.partitions,
                        "target_graphics_version": gpu.gfx,
                    },
                    "bus": {"bdf": f"0000:{BUSES[index]:02x}:00.{part}"},
                    "partition": {"compute_partition": gpu.partition, "memory_partition": "NPS1"},
                    "vram": {"type": "HBM3", "size": {"value": gpu.vram_bytes // MIB, "unit": "MB"}},
                }
            )
    return out


def amd_smi_list_shape(gpus: list[Gpu]) -> str:
    """ROCm 6.2/6.3: a top-level list (#amd-smi-cli)."""
    return json.dumps(amd_smi_gpus(gpus), indent=4) + "\n"


def amd_smi_gpu_data_shape(gpus: list[Gpu]) -> str:
    """Newer releases: {"gpu_data": [...]} plus other arrays (#amd-smi-cli, combine_arrays_to_json)."""
    return json.dumps({"gpu_data": amd_smi_gpus(gpus), "cpu_data": []}, indent=4) + "\n"


def rocm_smi_new(gpus: list[Gpu]) -> str:
    """#rocm-smi-cli composed sample (ROCm >= 6.1): {"card<N>": {...}}, every value a string; the
    MI300X values are the sample's, other GPUs change only id, name, target and VRAM."""
    body = {}
    for index, gpu in enumerate(gpus):
        body[f"card{index}"] = {
            "Card Series": gpu.market_name,
            "Card Model": f"0x{gpu.device_id:04x}",
            "Card Vendor": "Advanced Micro Devices, Inc. [AMD/ATI]",
            "Card SKU": "M3000108",
            "Subsystem ID": f"0x{gpu.device_id:04x}",
            "Device Rev": "0x00",
            "Node ID": str(2 + index),
            "GUID": str(28851 + index),
            "GFX Version": gpu.gfx,
            "VRAM Total Memory (B)": str(gpu.vram_bytes),
            "VRAM Total Used Memory (B)": "297775104",
        }
    return json.dumps(body) + "\n"


def rocm_smi_old(gpus: list[Gpu], subsystem_id: str | None = None) -> str:
    """#rocm-smi-cli before ROCm 6.1: keys `Card series`, `Card model` (which held the *subsystem*
    id), `Card vendor`, `Card SKU`; no `GFX Version`. The same composed values as above."""
    body = {}
    for index, gpu in enumerate(gpus):
        body[f"card{index}"] = {
            "Card series": gpu.market_name,
            "Card model": subsystem_id or f"0x{gpu.device_id:04x}",
            "Card vendor": "Advanced Micro Devices, Inc. [AMD/ATI]",
            "Card SKU": "M3000108",
            "VRAM Total Memory (B)": str(gpu.vram_bytes),
            "VRAM Total Used Memory (B)": "297775104",
        }
    return json.dumps(body) + "\n"


def rocm_smi_w7900_capture(*, old_keys: bool = False) -> str:
    """#rocm-smi-cli verbatim Radeon PRO W7900 capture (`Card Series: 0x7448`: the bare id, pci.ids had no
    name; `Subsystem ID: 0x0e0d`; `GFX Version: gfx11000`, the decimal misprint), as formatJson() prints
    it, with `VRAM Total Memory (B)` of its 48 GiB (#gpu-table). With `old_keys`, the spelling before
    ROCm 6.1: `Card series` / `Card model` (which held the subsystem id) / `Card vendor`, no `GFX Version`."""
    if old_keys:
        card = {
            "Card series": "0x7448",
            "Card model": "0x0e0d",
            "Card vendor": "Advanced Micro Devices, Inc. [AMD/ATI]",
            "Card SKU": "D7070100",
        }
    else:
        card = {
            "Card Series": "0x7448",
            "Card Model": "0x7448",
            "Card Vendor": "Advanced Micro Devices, Inc. [AMD/ATI]",
            "Card SKU": "D7070100",
            "Subsystem ID": "0x0e0d",
            "Device Rev": "0x00",
            "Node ID": "1",
            "GUID": "19246",
            "GFX Version": "gfx11000",
        }
    card["VRAM Total Memory (B)"] = str(48 * GIB)
    card["VRAM Total Used Memory (B)"] = "297775104"
    return json.dumps({"card0": card}) + "\n"


def amd_smi_capture(which: str) -> dict:
    """#amd-smi-cli verbatim captures as `amd-smi static --json` entries (the JSON keys are the lower-case
    spellings of the human-readable output's upper-case ones):

    - "MI350X": MARKET_NAME AMD Instinct MI350X, DEVICE_ID 0x75a0, NUM_COMPUTE_UNITS 128,
      TARGET_GRAPHICS_VERSION gfx950, BDF 0000:05:00.0, PRODUCT_NAME "AMD Instinct MI350 OAM"
      (ROCm/rocm-systems PR #2987); VRAM 288 GiB from #gpu-table (the capture is trimmed).
    - "MI300A": MARKET_NAME MI300A, DEVICE_ID 0x74a0, PRODUCT_NAME "Aqua Vanjaram [Instinct MI300A]",
      COMPUTE_PARTITION SPX, MEMORY_PARTITION NPS1, VRAM HBM 64289 MB (ROCm/amdsmi README).
    """
    if which == "MI350X":
        return {
            "gpu": 0,
            "asic": {
                "market_name": "AMD Instinct MI350X",
                "vendor_id": "0x1002",
                "device_id": "0x75a0",
                "subsystem_id": "0x75a0",
                "num_compute_units": 128,
                "target_graphics_version": "gfx950",
            },
            "bus": {"bdf": "0000:05:00.0"},
            "board": {"product_name": "AMD Instinct MI350 OAM"},
            "vram": {"type": "HBM3E", "size": {"value": 288 * 1024, "unit": "MB"}},
        }
    return {
        "gpu": 0,
        "asic": {"market_name": "MI300A", "vendor_id": "0x1002", "device_id": "0x74a0"},
        "board": {"product_name": "Aqua Vanjaram [Instinct MI300A]"},
        "partition": {"compute_partition": "SPX", "memory_partition": "NPS1"},
        "vram": {"type": "HBM", "size": {"value": 64289, "unit": "MB"}},
    }


# --- fake Python modules (a folder for PYTHONPATH) ------------------------------------------------


def fake_amdsmi(folder: Path, gpus: list[Gpu]) -> Path:
    """#amdsmi-python-module: amdsmi_init / amdsmi_get_processor_handles (one per logical GPU) /
    amdsmi_get_gpu_asic_info / amdsmi_get_gpu_vram_info (vram_size in MB) /
    amdsmi_get_gpu_compute_partition / amdsmi_shut_down; failures raise AmdSmiException."""
    folder.mkdir(parents=True, exist_ok=True)
    handles = []
    for gpu in gpus:
        for _ in range(gpu.partitions):
            handles.append(
                {
                    "asic": {
                        "market_name": gpu.market_name,
                        "vendor_id": "0x1002",
                        "device_id": f"0x{gpu.device_id:04x}",
                        "rev_id": "0x00",
                        "num_compute_units": gpu.compute_units // gpu.partitions,
                        "target_graphics_version": gpu.gfx,
                    },
                    "vram": {
                        "vram_type": 5,
                        "vram_vendor": "SAMSUNG",
                        "vram_size": gpu.vram_bytes // MIB,
                        "vram_bit_width": 8192,
                    },
                    "partition": gpu.partition,
                }
            )
    (folder / "amdsmi_data.json").write_text(json.dumps(handles))
    (folder / "amdsmi.py").write_text(
        "import json, os\n"
        "_DATA = json.load(open(os.path.join(os.path.dirname(__file__), 'amdsmi_data.json')))\n"
        "class AmdSmiException(Exception):\n    pass\n"
        "_state = {'init': False}\n"
        "def amdsmi_init(*args):\n    _state['init'] = True\n"
        "def amdsmi_shut_down():\n    _state['init'] = False\n"
        "def amdsmi_get_processor_handles():\n"
        "    if not _state['init']:\n        raise AmdSmiException('not initialised')\n"
        "    return list(range(len(_DATA)))\n"
        "def amdsmi_get_gpu_asic_info(h):\n    return dict(_DATA[h]['asic'])\n"
        "def amdsmi_get_gpu_vram_info(h):\n    return dict(_DATA[h]['vram'])\n"
        "def amdsmi_get_gpu_compute_partition(h):\n    return _DATA[h]['partition']\n"
    )
    return folder


def fake_torch(
    folder: Path, gpus: list[Gpu], *, marker: Path | None = None, arch_name: bool = True, total_memory=None
) -> Path:
    """#pytorch: torch.version.hip set, torch.cuda.{is_available, device_count,
    get_device_properties(i)} with name, gcnArchName ('gfx942:sramecc+:xnack-'),
    total_memory (bytes) and multi_processor_count. Importing it touches `marker`.
    `arch_name=False`: a release before pytorch PR #107477, without gcnArchName.
    `total_memory`: a value to report instead of each GPU's (a fault: NaN, infinity)."""
    package = folder / "torch"
    package.mkdir(parents=True, exist_ok=True)
    devices = [
        {
            "name": g.market_name,
            **({"gcnArchName": f"{g.gfx}:sramecc+:xnack-"} if arch_name else {}),
            "total_memory": g.vram_bytes if total_memory is None else total_memory,
            "multi_processor_count": g.compute_units,
            "major": 9,
            "minor": 4,
        }
        for g in gpus
    ]
    (package / "devices.json").write_text(json.dumps(devices))
    (package / "__init__.py").write_text(
        "import json, os, types\n"
        + (f"open({str(marker)!r}, 'a').write('imported\\n')\n" if marker else "")
        + "_DEVICES = json.load(open(os.path.join(os.path.dirname(__file__), 'devices.json')))\n"
        "version = types.SimpleNamespace(hip='6.2.41133', cuda=None)\n"
        "class _Props(types.SimpleNamespace):\n    pass\n"
        "cuda = types.SimpleNamespace(\n"
        "    is_available=lambda: bool(_DEVICES),\n"
        "    device_count=lambda: len(_DEVICES),\n"
        "    get_device_properties=lambda i: _Props(**_DEVICES[i]),\n"
        ")\n"
    )
    return folder
