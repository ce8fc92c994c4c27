"""Detection sources after sysfs: fake `amd-smi` / `rocm-smi` executables on PATH (#rocm-smi-cli,
#amd-smi-cli), a fake `amdsmi` module (#amdsmi-python-module) and a fake `torch` (#pytorch) on PYTHONPATH. Each source
falls through on any failure: missing, non-zero exit, hang, garbage output.

Here sysfs has no KFD GPU nodes (a host whose sysfs is not mounted in the container), so
detection reaches the tools; /dev has the render nodes and /dev/kfd.


Sections named "#..." are those of docs/reference/hardware.md."""

from __future__ import annotations

import json
import time

import pytest

from aim_pick import detect

from . import hosts

MODEL = "Qwen/Qwen3-32B"
GPUS = [hosts.MI300X] * 8


@pytest.fixture
def tools_host(host):
    hosts.dev_tree(host.dev, hosts.render_minors(GPUS))
    return host


def detected(result, codes=(0,)) -> dict:
    assert result.code in codes, result.err
    return result.json()["detected"]


NO_PLAN = (0, 3)  # MI300A and W7900 have no recipes: detection is what is tested, exit 3 is fine


@pytest.mark.parametrize("shape", [hosts.amd_smi_list_shape, hosts.amd_smi_gpu_data_shape], ids=["list", "gpu_data"])
def test_amd_smi_both_json_shapes(tools_host, shape):
    hosts.fake_tool(tools_host.bin, "amd-smi", hosts.AMD_SMI_ARGS, shape(GPUS))
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert (found["gpu"], found["count"], found["source"], found["partition"]) == ("MI300X", 8, "amd-smi", "SPX")
    assert found["memory_bytes_per_device"] == 196592 * hosts.MIB  # vram.size in MB (MiB)
    assert found["levels"] == {"host": 8, "container": 8, "process": 8, "usable": 8}
    assert hosts.calls(tools_host.bin) == ["amd-smi static --json"]  # the first tool that answers ends the search


def test_amd_smi_cpx_partitions_are_grouped_by_bdf(tools_host):
    """#partition-modes: 64 entries, functions .0-.7 of 8 BDFs, each reporting the full VRAM."""
    gpus = [hosts.cpx(hosts.MI300X)] * 8
    hosts.dev_tree(tools_host.dev, hosts.render_minors(gpus))
    hosts.fake_tool(tools_host.bin, "amd-smi", hosts.AMD_SMI_ARGS, hosts.amd_smi_gpu_data_shape(gpus))
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert (found["gpu"], found["count"], found["partition"]) == ("MI300X", 64, "CPX")
    assert found["memory_bytes_per_device"] == 196592 * hosts.MIB // 8


def test_amd_smi_market_name_is_not_trusted(tools_host):
    """#amd-smi-cli: newer amd-smi may print a generic market_name; the PCI id decides."""
    entries = hosts.amd_smi_gpus([hosts.MI300X] * 2)
    for entry in entries:
        entry["asic"]["market_name"] = "AMD Radeon Graphics"
    hosts.fake_tool(tools_host.bin, "amd-smi", hosts.AMD_SMI_ARGS, json.dumps({"gpu_data": entries}))
    assert detected(tools_host.pick(MODEL, "--format", "json"))["gpu"] == "MI300X"


def test_rocm_smi_keys_from_rocm_6_1(tools_host):
    hosts.fake_tool(tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, hosts.rocm_smi_new(GPUS))
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert (found["gpu"], found["count"], found["source"]) == ("MI300X", 8, "rocm-smi")
    assert found["memory_bytes_per_device"] == 206141652992  # "VRAM Total Memory (B)", a string
    assert {d["device_id"] for d in found["devices"]} == {"0x74a1"}  # "Card Model" holds the device id
    assert hosts.calls(tools_host.bin) == ["rocm-smi --showproductname --showmeminfo vram --json"]  # amd-smi missing


def test_rocm_smi_keys_before_rocm_6_1(tools_host):
    """Lower-case keys; 'Card model' held the subsystem id, so it is not taken as the
    device id; the exact product name in 'Card series' still names the GPU."""
    hosts.fake_tool(tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, hosts.rocm_smi_old(GPUS, subsystem_id="0x0c34"))
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert (found["gpu"], found["count"], found["source"]) == ("MI300X", 8, "rocm-smi")
    assert found["memory_bytes_per_device"] == 206141652992
    assert {d["device_id"] for d in found["devices"]} == {None}


def test_rocm_smi_before_6_1_on_an_unknown_card(tools_host, monkeypatch):
    """#rocm-smi-cli verbatim MI100 --csv capture, as the JSON formatJson() prints: nothing but a
    name to go by, and no catalogue GPU of that name: no supported GPU (exit 4)."""
    mi100 = {
        "card0": {
            "Card series": "Arcturus GL-XL [AMD Instinct MI100]",
            "Card model": "0x0c34",
            "Card vendor": "Advanced Micro Devices Inc. [AMD/ATI]",
            "Card SKU": "D34316",
        }
    }
    hosts.fake_tool(tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, json.dumps(mi100))
    monkeypatch.setenv("PATH", f"{tools_host.bin}:/usr/bin:/bin")
    [device] = detect.from_rocm_smi()
    assert device["device_id"] is None and device["name"] == "Arcturus GL-XL [AMD Instinct MI100]"
    result = tools_host.pick(MODEL)
    assert result.code == 4 and "no supported GPU among Arcturus GL-XL [AMD Instinct MI100]" in result.err


def test_a_source_that_cannot_identify_falls_through(tools_host):
    """rocm-smi before 6.1 gives neither a PCI id nor a target: a later source that does
    (amdsmi here) is preferred."""
    hosts.fake_tool(tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, hosts.rocm_smi_old([hosts.MI355X] * 8))
    hosts.fake_amdsmi(tools_host.mods, [hosts.MI355X] * 8)
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert (found["gpu"], found["source"], found["sources_tried"]) == (
        "MI355X",
        "amdsmi",
        ["sysfs", "amd-smi", "rocm-smi", "amdsmi"],
    )


def test_hanging_tool_falls_through_after_its_share_of_the_timeout(tools_host):
    """AIM_DETECT_TIMEOUT is one deadline for all sources; a source with others after it
    gets at most half of what is left, so the next one still runs."""
    hosts.hanging_tool(tools_host.bin, "amd-smi")
    hosts.fake_tool(tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, hosts.rocm_smi_new(GPUS))
    start = time.monotonic()
    result = tools_host.pick(MODEL, "--format", "json", env={"AIM_DETECT_TIMEOUT": "0.5"})
    elapsed = time.monotonic() - start
    assert detected(result)["source"] == "rocm-smi"
    assert 0.25 <= elapsed < 3
    assert [c.split()[0] for c in hosts.calls(tools_host.bin)] == ["amd-smi", "rocm-smi"]
    assert "amd-smi did not answer within" in " ".join(result.json()["warnings"])
    assert "warning: amd-smi did not answer" in result.err


@pytest.mark.parametrize(
    "output, code",
    [
        ("Traceback (most recent call last):\n  ... amdsmi.AmdSmiLibraryException\n", 0),  # garbage, exit 0
        ('{"gpu_data": [{"gpu": 0, "asic": ', 0),  # cut short
        ('{"gpu_data": "N/A"}\n', 0),  # valid JSON, wrong shape
        (hosts.amd_smi_gpu_data_shape(GPUS), 1),  # good JSON but a failing exit status
    ],
)
def test_garbage_or_failing_tool_falls_through(tools_host, output, code):
    hosts.fake_tool(tools_host.bin, "amd-smi", hosts.AMD_SMI_ARGS, output, exit_code=code)
    hosts.fake_tool(tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, hosts.rocm_smi_new(GPUS))
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert (found["source"], found["count"]) == ("rocm-smi", 8)


def test_missing_tools_fall_through_to_the_amdsmi_module(tools_host):
    hosts.fake_amdsmi(tools_host.mods, [hosts.cpx(hosts.MI300X)] * 8)
    hosts.dev_tree(tools_host.dev, hosts.render_minors([hosts.cpx(hosts.MI300X)] * 8))
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert (found["gpu"], found["count"], found["source"], found["partition"]) == ("MI300X", 64, "amdsmi", "CPX")
    # no PCI address to group by: the reported mode splits the repeated full figure (8 XCCs)
    assert found["memory_bytes_per_device"] == 206141652992 // hosts.MIB * hosts.MIB // 8
    assert hosts.calls(tools_host.bin) == []


def test_torch_is_the_last_source(tools_host):
    marker = tools_host.tmp / "torch-imported"
    hosts.fake_torch(tools_host.mods, GPUS, marker=marker)
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert (found["gpu"], found["count"], found["source"]) == ("MI300X", 8, "torch")
    assert found["sources_tried"] == ["sysfs", "amd-smi", "rocm-smi", "amdsmi", "torch"]
    assert found["devices"][0]["gfx"] == "gfx942"  # ':sramecc+:xnack-' stripped
    assert marker.exists()


def test_torch_and_tools_untouched_when_sysfs_answers(host):
    host.gpus(GPUS)
    marker = host.tmp / "torch-imported"
    hosts.fake_torch(host.mods, GPUS, marker=marker)
    hosts.fake_tool(host.bin, "amd-smi", hosts.AMD_SMI_ARGS, hosts.amd_smi_gpu_data_shape(GPUS))
    hosts.fake_tool(host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, hosts.rocm_smi_new(GPUS))
    assert detected(host.pick(MODEL, "--format", "json"))["source"] == "sysfs"
    assert not marker.exists() and hosts.calls(host.bin) == []


def test_hanging_module_falls_through(tools_host):
    """amdsmi_init that never returns (a wedged driver): the module source gets the same
    timeout as the tools, then torch answers."""
    hosts.fake_amdsmi(tools_host.mods, GPUS)
    module = tools_host.mods / "amdsmi.py"
    module.write_text(module.read_text().replace("_state['init'] = True", "import time; time.sleep(60)"))
    hosts.fake_torch(tools_host.mods, GPUS)
    start = time.monotonic()
    found = detected(tools_host.pick(MODEL, "--format", "json", env={"AIM_DETECT_TIMEOUT": "0.5"}))
    assert found["source"] == "torch" and time.monotonic() - start < 10


def test_every_source_failing_is_no_gpu(tools_host):
    hosts.hanging_tool(tools_host.bin, "amd-smi")
    hosts.fake_tool(tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, "garbage\n")
    (tools_host.mods / "amdsmi.py").write_text("raise ImportError('libamd_smi.so: cannot open shared object file')\n")
    hosts.fake_torch(tools_host.mods, [])  # torch.cuda.is_available() is False
    result = tools_host.pick(MODEL, env={"AIM_DETECT_TIMEOUT": "0.5"})
    assert result.code == 4 and "no AMD GPU found" in result.err


# --- hosts found only by the tools, in every format the reference documents ---------------------


def _sysfs_unreadable(host, state: str) -> None:
    """A sysfs root from which KFD gives no GPU: not mounted, only CPU nodes, or GPU nodes whose
    `properties` cannot be read (a FIFO: opening it would block)."""
    if state == "cpu-only":
        hosts.sysfs_tree(host.sys, [])
    elif state == "fifo-properties":
        hosts.sysfs_tree(host.sys, GPUS)
        nodes = host.sys / "class" / "kfd" / "kfd" / "topology" / "nodes"
        for node in range(2, 2 + len(GPUS)):
            hosts.fifo(nodes / str(node) / "properties")


TOOL_FORMATS = {
    # #amd-smi-cli: ROCm 6.2/6.3 list, newer {"gpu_data": [...]}
    "amd-smi-list": ("amd-smi", hosts.AMD_SMI_ARGS, lambda: hosts.amd_smi_list_shape(GPUS)),
    "amd-smi-gpu_data": ("amd-smi", hosts.AMD_SMI_ARGS, lambda: hosts.amd_smi_gpu_data_shape(GPUS)),
    # #rocm-smi-cli: keys of ROCm >= 6.1, and before 6.1 with a suffixed product name
    "rocm-smi-6.1": ("rocm-smi", hosts.ROCM_SMI_ARGS, lambda: hosts.rocm_smi_new(GPUS)),
    "rocm-smi-before-6.1": (
        "rocm-smi",
        hosts.ROCM_SMI_ARGS,
        lambda: hosts.rocm_smi_old([hosts.MI300X_OAM] * 8, subsystem_id="0x0c34"),
    ),
}


@pytest.mark.parametrize("state", ["missing", "cpu-only", "fifo-properties"])
@pytest.mark.parametrize("fmt", sorted(TOOL_FORMATS))
def test_a_host_only_the_tools_see_is_detected_with_the_right_count(tools_host, state, fmt):
    """sysfs topology unreadable, the render nodes and /dev/kfd present: the tool's GPUs, all 8 of
    them at every level, identified."""
    _sysfs_unreadable(tools_host, state)
    tool, args, output = TOOL_FORMATS[fmt]
    hosts.fake_tool(tools_host.bin, tool, args, output())
    start = time.monotonic()
    result = tools_host.pick(MODEL, "--format", "json")
    assert time.monotonic() - start < 3
    found = detected(result)
    assert (found["gpu"], found["count"], found["source"]) == ("MI300X", 8, tool)
    assert found["levels"] == {"host": 8, "container": 8, "process": 8, "usable": 8}
    assert result.json()["plan"]["hardware"] == "MI300X"


def test_rocm_smi_before_6_1_with_a_suffixed_name_is_a_supported_gpu(tools_host):
    """The issue's host: `Card series` "AMD Instinct MI300X OAM", `Card model` the subsystem id,
    no GFX Version. The name, matched loosely, names the GPU (it was "no supported GPU")."""
    hosts.fake_tool(
        tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, hosts.rocm_smi_old([hosts.MI300X_OAM] * 8, "0x0c34")
    )
    result = tools_host.pick(MODEL)
    assert result.code == 0, result.err
    assert result.out.startswith("docker run ")
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert {d["device_id"] for d in found["devices"]} == {None}  # the subsystem id is never taken as the id
    assert found["memory_bytes_per_device"] == 206141652992


@pytest.mark.parametrize("old_keys", [False, True], ids=["rocm-6.1", "before-6.1"])
def test_rocm_smi_w7900_capture_the_bare_id_is_the_device_id(tools_host, old_keys):
    """#rocm-smi-cli W7900 capture: `Card Series: 0x7448` is the PCI id (pci.ids had no name), in
    both key spellings; `GFX Version: gfx11000` is read as gfx1100."""
    hosts.dev_tree(tools_host.dev, [128])
    hosts.fake_tool(tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, hosts.rocm_smi_w7900_capture(old_keys=old_keys))
    found = detected(tools_host.pick("meta-llama/Llama-3.1-8B-Instruct", "--format", "json"), NO_PLAN)
    assert (found["gpu"], found["count"], found["source"]) == ("W7900", 1, "rocm-smi")
    [device] = found["devices"]
    assert device["device_id"] == "0x7448" and device["vram_bytes"] == 48 * hosts.GIB
    assert device["gfx"] == (None if old_keys else "gfx1100")


@pytest.mark.parametrize("shape", ["list", "gpu_data"])
@pytest.mark.parametrize("which, gpu", [("MI350X", "MI350X"), ("MI300A", "MI300A")])
def test_amd_smi_captures(tools_host, shape, which, gpu):
    """#amd-smi-cli verbatim MI350X (board.product_name "AMD Instinct MI350 OAM") and MI300A
    (market_name "MI300A", 64289 MB) captures, in both JSON shapes: identified by device id."""
    entries = [dict(hosts.amd_smi_capture(which), gpu=i) for i in range(4)]
    for i, entry in enumerate(entries):
        if "bus" in entry:
            entry["bus"] = {"bdf": f"0000:{hosts.BUSES[i]:02x}:00.0"}
    body = entries if shape == "list" else {"gpu_data": entries, "cpu_data": []}
    hosts.fake_tool(tools_host.bin, "amd-smi", hosts.AMD_SMI_ARGS, json.dumps(body))
    found = detected(tools_host.pick(MODEL, "--format", "json"), NO_PLAN)
    assert (found["gpu"], found["count"], found["source"]) == (gpu, 4, "amd-smi")
    if gpu == "MI300A":
        assert found["apu"] and found["memory_bytes_per_device"] == 64289 * hosts.MIB


def test_amd_smi_without_a_device_id_is_named_by_its_product_name(tools_host):
    """An entry whose asic section has no device_id: the board's product name (with its "OAM"
    suffix) names it loosely, the entry is kept and counted."""
    entries = [dict(hosts.amd_smi_capture("MI350X"), gpu=i) for i in range(2)]
    for i, entry in enumerate(entries):
        entry["asic"] = {k: v for k, v in entry["asic"].items() if k not in ("device_id", "market_name")}
        entry["bus"] = {"bdf": f"0000:{hosts.BUSES[i]:02x}:00.0"}
    hosts.fake_tool(tools_host.bin, "amd-smi", hosts.AMD_SMI_ARGS, json.dumps({"gpu_data": entries}))
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert (found["gpu"], found["count"], found["source"]) == ("MI350X", 2, "amd-smi")


def test_torch_before_gcn_arch_name_is_named_by_its_device_name(tools_host):
    """#pytorch: gcnArchName exists since pytorch PR #107477; an older torch gives only the name
    ('AMD Instinct MI300X') and the memory."""
    hosts.fake_torch(tools_host.mods, GPUS, arch_name=False)
    found = detected(tools_host.pick(MODEL, "--format", "json"))
    assert (found["gpu"], found["count"], found["source"]) == ("MI300X", 8, "torch")
    assert found["devices"][0]["gfx"] is None


def test_torch_generic_name_is_told_apart_by_memory(tools_host):
    """#pytorch: a device may carry a generic name ('AMD Radeon Graphics'); gfx942 is shared by
    MI300A, MI300X, MI308X and MI325X, and the reported memory tells which: 64289 MB is only the
    MI300A's (#amd-smi-cli capture)."""
    apu = hosts.replace(hosts.MI300A, market_name="AMD Radeon Graphics")
    hosts.fake_torch(tools_host.mods, [apu] * 4)
    found = detected(tools_host.pick(MODEL, "--format", "json"), NO_PLAN)
    assert (found["gpu"], found["count"], found["source"]) == ("MI300A", 4, "torch")
