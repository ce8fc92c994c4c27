"""detect.py and pick.py called directly: decoding, sysfs parsing, levels, partitions, groups.

Fixtures: tests/aim_pick/hosts.py (reference sections named there and below).


Sections named "#..." are those of docs/reference/hardware.md."""

from __future__ import annotations

import json

import pytest

from aim_pick import detect, pick

from . import hosts

# --- decoding gfx_target_version (#gfx_target_version-decoding); the misprinted "GFX Version" (#rocm-smi-cli)


@pytest.mark.parametrize(
    "version, name",
    [
        (90008, "gfx908"),
        (90010, "gfx90a"),
        (90402, "gfx942"),
        (90500, "gfx950"),
        (110000, "gfx1100"),
        (120001, "gfx1201"),
        (0, None),
    ],
)
def test_gfx_target_version_decodes_minor_and_stepping_in_hex(version, name):
    assert detect.gfx_name(version) == name  # the #gfx_target_version-decoding list, CPU node (0) included


@pytest.mark.parametrize(
    "printed, name",
    [
        ("gfx9010", "gfx90a"),  # rocm-smi/amdsmi compute it in decimal (#rocm-smi-cli pitfalls)
        ("gfx9008", "gfx908"),
        ("gfx11000", "gfx1100"),  # the W7900 capture in #rocm-smi-cli
        ("gfx942", "gfx942"),  # gfx94x/gfx95x come out right
        ("gfx950", "gfx950"),
        ("gfx942:sramecc+:xnack-", "gfx942"),  # torch's gcnArchName (#pytorch)
        ("", None),
        (None, None),
        ("N/A", None),
    ],
)
def test_misprinted_gfx_versions_are_normalised(printed, name):
    assert detect.normalise_gfx(printed) == name


@pytest.mark.parametrize(
    "value, out",
    [("0x74a1", "0x74a1"), ("74A1", "0x74a1"), (29857, "0x74a1"), ("0x0", None), ("garbage", None), (None, None)],
)
def test_pci_ids(value, out):
    assert detect.hex_id(value) == out


# --- #sysfs-kfd-topology sysfs --------------------------------------------------------------------------------


def test_sysfs_mi300x_spx_reads_kfd_nodes_and_drm_cards(tmp_path):
    root = hosts.sysfs_tree(tmp_path, [hosts.MI300X] * 8)
    found = detect.from_sysfs(str(root))
    assert len(found) == 8  # CPU nodes 0 and 1 (simd_count 0) are skipped
    first = found[0]
    assert first["device_id"] == "0x74a1" and first["gfx"] == "gfx942"
    assert first["vram_bytes"] == 206141652992  # mem_info_vram_total, not local_mem_size 0
    assert first["partition"] == "SPX" and first["render_minor"] == 128
    assert first["physical"] == "0000:47:00"  # location_id 18176 = bus 0x47 (#sysfs-kfd-topology sample)
    assert [d["render_minor"] for d in found] == list(range(128, 136))
    assert len({d["physical"] for d in found}) == 8


def test_sysfs_full_node_show_key_list_parses(tmp_path):
    root = hosts.sysfs_tree(tmp_path, [hosts.MI355X] * 2, full_properties=True)
    found = detect.from_sysfs(str(root))
    assert [(d["device_id"], d["gfx"], d["vram_bytes"]) for d in found] == [("0x75a3", "gfx950", 288 * hosts.GIB)] * 2


def test_sysfs_vf_and_apu_nodes(tmp_path):
    vf = detect.from_sysfs(str(hosts.sysfs_tree(tmp_path / "vf", [hosts.MI300X_VF])))
    assert [d["device_id"] for d in vf] == ["0x74b5"]
    # MI300A: the GPU node also has CPU cores (#sysfs-kfd-topology), it is still a GPU
    apu = detect.from_sysfs(str(hosts.sysfs_tree(tmp_path / "apu", [hosts.MI300A] * 4)))
    assert [d["device_id"] for d in apu] == ["0x74a0"] * 4 and apu[0]["vram_bytes"] == 64289 * hosts.MIB


def test_sysfs_cpx_secondary_partitions_use_the_primary_card(tmp_path):
    """#sysfs-kfd-topology: secondary partitions' cards link to platform devices without a vendor file;
    #partition-modes: the 8 KFD nodes of one GPU share location_id. Memory comes from the primary card
    and is split over the partitions (tools/sysfs repeat the full figure)."""
    root = hosts.sysfs_tree(tmp_path, [hosts.cpx(hosts.MI300X)] * 8)
    found = detect.from_sysfs(str(root))
    assert len(found) == 64
    assert {d["partition"] for d in found} == {"CPX"}
    assert {d["vram_bytes"] for d in found} == {206141652992}
    detect.apply_partitions(found)
    assert {d["vram_bytes"] for d in found} == {206141652992 // 8}
    groups = detect.partition_groups(found)
    assert len(groups) == 8 and all(len(v) == 8 for v in groups.values())
    assert groups["0000:47:00"] == list(range(8))


def test_sysfs_without_drm_files_still_finds_gpus_and_the_catalogue_splits_memory(tmp_path, api_dir):
    """No DRM data at all (only KFD): memory unknown. In CPX the partition re-check must
    still run, so the catalogue's per-GPU figure is split over the partitions."""
    root = hosts.sysfs_tree(tmp_path, [hosts.cpx(hosts.MI300X)] * 2, drm=False)
    found = detect.from_sysfs(str(root))
    assert len(found) == 16 and {d["vram_bytes"] for d in found} == {None}
    detect.apply_partitions(found)  # 8 nodes per location_id: CPX by count
    hardware = json.loads((api_dir / "index.json").read_text())["hardware"]
    pick.identify(found, hardware)
    assert {d["gpu"] for d in found} == {"MI300X"}
    assert {d["partition"] for d in found} == {"CPX"}
    assert {d["vram_bytes"] for d in found} == {hardware["MI300X"]["memory_bytes"] // 8}


def test_sysfs_missing_or_garbage(tmp_path):
    assert detect.from_sysfs(str(tmp_path / "nothing")) == []
    nodes = tmp_path / "class" / "kfd" / "kfd" / "topology" / "nodes"
    (nodes / "0").mkdir(parents=True)
    (nodes / "0" / "properties").write_text("\x00\x01 garbage\nsimd_count many\n")
    (nodes / "x").mkdir()
    assert detect.from_sysfs(str(tmp_path)) == []


# --- levels ------------------------------------------------------------------------------------


def _devices(n: int) -> list[dict]:
    return [detect.device("sysfs", device_id="0x74a1", render_minor=128 + i) for i in range(n)]


def test_container_level_counts_render_nodes_and_needs_kfd(tmp_path):
    devices = _devices(8)
    seen, note = detect.container_visible(devices, str(hosts.dev_tree(tmp_path / "a", [130, 131, 135])))
    assert seen == [2, 3, 7] and note == "3 of 8 render nodes present"
    seen, note = detect.container_visible(devices, str(hosts.dev_tree(tmp_path / "b", range(128, 136), kfd=False)))
    assert seen == [] and "kfd is missing" in note
    # a source without render minors (a tool): the number of nodes present
    tools = [detect.device("amd-smi", device_id="0x74a1") for _ in range(8)]
    seen, _ = detect.container_visible(tools, str(hosts.dev_tree(tmp_path / "c", range(128, 132))))
    assert seen == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "env, visible, warned",
    [
        ({}, list(range(8)), False),
        ({"HIP_VISIBLE_DEVICES": "0,1"}, [0, 1], False),
        ({"ROCR_VISIBLE_DEVICES": "4,5,6,7"}, [4, 5, 6, 7], False),
        ({"CUDA_VISIBLE_DEVICES": "2"}, [2], False),  # same effect as HIP (#visibility-variables)
        # ROCr first, then HIP indexes into what is left (#visibility-variables)
        ({"ROCR_VISIBLE_DEVICES": "1,2,3,4,5", "HIP_VISIBLE_DEVICES": "1,2"}, [2, 3], True),
        (
            {"ROCR_VISIBLE_DEVICES": "1", "HIP_VISIBLE_DEVICES": "1"},
            [],
            True,
        ),  # "leaves zero GPUs" (#visibility-variables)
        ({"HIP_VISIBLE_DEVICES": "0,1", "CUDA_VISIBLE_DEVICES": "0,1"}, [0, 1], False),  # identical: fine
        (
            {"HIP_VISIBLE_DEVICES": "0,1", "CUDA_VISIBLE_DEVICES": "2"},
            [0, 1],
            True,
        ),  # vLLM refuses (#visibility-variables)
        ({"HIP_VISIBLE_DEVICES": "1,9,2"}, [1], False),  # an invalid ordinal ends the list
        ({"HIP_VISIBLE_DEVICES": "-1"}, [], False),
    ],
)
def test_process_level_masks_stack(env, visible, warned):
    shown, warnings = detect.process_visible(list(range(8)), _devices(8), env)
    assert shown == visible
    assert bool(warnings) == warned


def test_masks_index_into_what_the_container_passed_in():
    """#visibility-variables Docker: inside a container, indices refer to the devices passed in."""
    shown, _ = detect.process_visible([2, 3, 4, 5, 6, 7], _devices(8), {"ROCR_VISIBLE_DEVICES": "1,2"})
    assert shown == [3, 4]


# --- pick.py -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hardware(api_dir):
    return json.loads((api_dir / "index.json").read_text())["hardware"]


def test_identify_by_pci_id_never_by_market_name(hardware):
    devices = [
        detect.device("amd-smi", device_id="0x74b5", name="AMD Radeon Graphics"),  # a generic name
        detect.device("amd-smi", device_id="0x740c", gfx="gfx90a"),
        detect.device("amd-smi", device_id="0x738c", gfx="gfx908"),
    ]  # MI100: not in the catalogue
    pick.identify(devices, hardware)
    assert [d["gpu"] for d in devices] == ["MI300X", "MI250X", None]


def test_identify_without_a_pci_id(hardware):
    """torch gives a name and a target, no PCI id: the exact product name, or a target
    only one GPU type has; gfx942 alone is ambiguous (MI300A/X, MI308X, MI325X)."""
    devices = [
        detect.device("torch", gfx="gfx942", name="AMD Instinct MI300X"),
        detect.device("torch", gfx="gfx942", name="AMD Radeon Graphics"),
        detect.device("torch", gfx="gfx1100", name="AMD Radeon Graphics"),
    ]
    pick.identify(devices, hardware)
    assert [d["gpu"] for d in devices] == ["MI300X", None, "W7900"]


def test_largest_homogeneous_group():
    devices = [{"gpu": "MI300X", "vram_bytes": 1}] * 2 + [{"gpu": "MI355X", "vram_bytes": 2}] * 4 + [{"gpu": None}] * 3
    assert pick.choose_group(devices, list(range(9))) == ("MI355X", [2, 3, 4, 5])
    # only what is usable counts
    assert pick.choose_group(devices, [0, 1, 2]) == ("MI300X", [0, 1])
    # a tie goes to the GPU type with more memory
    assert pick.choose_group(devices, [0, 1, 2, 3]) == ("MI355X", [2, 3])
    assert pick.choose_group(devices, [6, 7]) == (None, [])


def test_request_key_is_clamped_to_the_published_grid():
    assert pick.request_key(64, False, "auto", "auto") == "8/auto/auto/auto/latency"
    assert pick.request_key(3, True, "fp8", "vllm", "throughput") == "3/exact/fp8/vllm/throughput"


def test_fits_device_rechecks_only_smaller_devices():
    candidate = {"total_bytes_per_gpu": 30 * hosts.GIB, "budget_bytes_per_gpu": 0.9 * 192 * hosts.GIB}
    full = 192 * hosts.GIB
    assert pick.fits_device(candidate, None, full)
    assert pick.fits_device(candidate, full, full)
    assert pick.fits_device(candidate, 48 * hosts.GIB, full)  # QPX: 43.2 GiB usable
    assert not pick.fits_device(candidate, 24 * hosts.GIB, full)  # CPX: 21.6 GiB usable


def test_sysfs_memory_from_mem_banks_when_no_drm_card(tmp_path):
    """#sysfs-kfd-topology: with no DRM card, the largest frame-buffer bank (heap_type 1 or 2);
    system memory (heap_type 0) never counts, nor a bank of impossible size."""
    root = hosts.sysfs_tree(tmp_path, [hosts.MI300X], drm=False)
    hosts.mem_banks(root, 2, [(0, 512 * hosts.GIB), (1, 206141652992), (2, 1024), (1, -5)])
    [device] = detect.from_sysfs(str(root))
    assert device["vram_bytes"] == 206141652992


# --- identification (#identification) ---------------------------------------------------------


@pytest.mark.parametrize(
    "name, gpu",
    [
        ("AMD Instinct MI300X", "MI300X"),
        ("AMD Instinct MI300X OAM", "MI300X"),  # #rocm-smi-cli: a form-factor suffix
        ("amd instinct mi300x", "MI300X"),  # case
        ("Aqua Vanjaram [Instinct MI300X]", "MI300X"),  # pci.ids style: codename [product]
        ("MI300A", "MI300A"),  # #amd-smi-cli MI300A capture: market_name without a vendor prefix
        ("Aqua Vanjaram [Instinct MI300A]", "MI300A"),  # the same capture's board.product_name
        ("AMD Instinct MI350 OAM", "MI350X"),  # #amd-smi-cli MI350X capture's product_name: the family name
        ("AMD Instinct MI250X/MI250", "MI250X"),  # #rocminfo marketing name of an MI250X GCD
        ("AMD Radeon PRO W7900", "W7900"),
        ("Arcturus GL-XL [AMD Instinct MI100]", None),  # #rocm-smi-cli MI100 capture: not in the catalogue
        ("AMD Radeon Graphics", None),  # #pytorch: an integrated GPU
        ("", None),
        (None, None),
        ("MI３00X", None),  # a full-width digit is not an ASCII digit: no match, no error
    ],
)
def test_names_match_loosely(hardware, name, gpu):
    [device] = [detect.device("rocm-smi", name=name)]
    pick.identify([device], hardware)
    assert device["gpu"] == gpu


def test_a_pci_id_wins_over_any_name(hardware):
    """An id decides, even against a name that matches another GPU; an id outside the catalogue
    stays unknown instead of falling back to the name."""
    devices = [
        detect.device("amd-smi", device_id="0x74a5", name="AMD Instinct MI300X"),
        detect.device("amd-smi", device_id="0x738c", name="AMD Instinct MI300X"),  # MI100's id
    ]
    pick.identify(devices, hardware)
    assert [d["gpu"] for d in devices] == ["MI325X", None]


def test_memory_tells_apart_gpus_that_share_a_name_pattern(hardware):
    """A family name matches several GPUs ('MI300' -> MI300A, MI300X); so does a gfx target
    alone (gfx942: MI300A, MI300X, MI308X, MI325X). The reported memory keeps the one it fits,
    and leaves the device unknown when it fits several (MI300X and MI308X report the same)
    or none (an RX 7900 XTX's 24 GiB is no W7900)."""
    cases = [
        (dict(name="AMD Instinct MI300", vram_bytes=64289 * hosts.MIB), "MI300A"),
        (dict(name="AMD Instinct MI300", vram_bytes=206141652992), "MI300X"),
        (dict(name="AMD Instinct MI300"), None),  # no memory to tell
        (dict(gfx="gfx942", vram_bytes=64289 * hosts.MIB), "MI300A"),
        (dict(gfx="gfx942", vram_bytes=int(255.5 * hosts.GIB)), "MI325X"),  # "slightly less" than 256 GiB
        (dict(gfx="gfx942", vram_bytes=206141652992), None),  # MI300X or MI308X
        (dict(gfx="gfx1100", vram_bytes=48 * hosts.GIB), "W7900"),
        (dict(gfx="gfx1100", vram_bytes=24 * hosts.GIB), None),
        (dict(gfx="gfx1100"), "W7900"),  # only one catalogue GPU has gfx1100
        # a partition whose figure apply_partitions already split (MI300A in CPX: 6 per GPU): the
        # whole GPU's memory is compared
        (dict(gfx="gfx942", vram_bytes=64289 * hosts.MIB // 6, partitions_on_gpu=6), "MI300A"),
    ]
    for fields, gpu in cases:
        device = detect.device("torch", **fields)
        pick.identify([device], hardware)
        assert device["gpu"] == gpu, fields


# --- values no GPU can have -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, scale, out",
    [
        (206141652992, 1, 206141652992),
        ("206141652992", 1, 206141652992),
        (196592, 1024**2, 206141652992),
        (float("nan"), 1, None),
        (float("inf"), 1, None),
        (-206141652992, 1, None),
        ("-206141652992", 1, None),
        ("nan", 1, None),
        ("1e999", 1, None),
        ("9" * 5000, 1, None),
        ("²⁰⁶", 1, None),
        (True, 1, None),
        (0, 1, None),
        (None, 1, None),
        ({"value": 1}, 1, None),
        (2**60, 1, None),  # more than 1 PiB
    ],
)
def test_memory_figures(value, scale, out):
    assert detect.memory_bytes(value, scale) == out


@pytest.mark.parametrize(
    "raw, parsed",
    [
        (b'noise {"a": 1}', {"a": 1}),
        (b'{"size": NaN, "b": Infinity, "c": -Infinity}', {"size": None, "b": None, "c": None}),
        (b'{"size": 1e999}', {"size": None}),
        (b'{"size": ' + b"9" * 5000 + b"}", {"size": None}),
        (b"[" * 100000 + b"]" * 100000, None),  # deeper than the parser's recursion limit
        (b"garbage", None),
        (b"", None),
    ],
)
def test_tool_json(raw, parsed):
    assert detect.parse_json(raw) == parsed


@pytest.mark.parametrize(
    "text, name",
    [("gfx9²¹⁰", None), ("gfx" + "9" * 5000, None), ("gfx٩٤٢", None), ("gfx942", "gfx942")],
)
def test_gfx_versions_with_strange_digits(text, name):
    assert detect.normalise_gfx(text) == name


@pytest.mark.parametrize(
    "value, seconds, warned",
    [
        (None, detect.DEFAULT_BUDGET, False),
        ("", detect.DEFAULT_BUDGET, False),
        ("0.5", 0.5, False),
        ("nan", detect.DEFAULT_BUDGET, True),
        ("NaN", detect.DEFAULT_BUDGET, True),
        ("inf", detect.DEFAULT_BUDGET, True),
        ("-inf", detect.DEFAULT_BUDGET, True),
        ("1e999", detect.DEFAULT_BUDGET, True),
        ("0", detect.DEFAULT_BUDGET, True),
        ("-3", detect.DEFAULT_BUDGET, True),
        ("five", detect.DEFAULT_BUDGET, True),
        ("3600", detect.MAX_BUDGET, True),
        ("9" * 5000, detect.DEFAULT_BUDGET, True),  # parses as infinity
    ],
)
def test_detection_budget(value, seconds, warned):
    env = {} if value is None else {"AIM_DETECT_TIMEOUT": value}
    got, warning = detect.budget(env)
    assert got == seconds and (warning is not None) == warned
    if warning:
        assert len(warning) < 200


@pytest.mark.parametrize(
    "value, visible", [("²", []), ("¹,0", []), ("٣", []), ("9" * 5000, []), ("0," + "9" * 5000 + ",1", [0])]
)
def test_visibility_masks_with_strange_digits(value, visible):
    """Not an ordinal (HIP/CUDA read ASCII decimal): the list ends there, nothing raises."""
    shown, _ = detect.process_visible(list(range(8)), _devices(8), {"HIP_VISIBLE_DEVICES": value})
    assert shown == visible
