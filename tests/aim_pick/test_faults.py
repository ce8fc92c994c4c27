"""Broken hosts: detection is bounded and never a traceback.

With the default budget (AIM_DETECT_TIMEOUT unset) every case here answers within 3 s, falls
through to the next source (or to the next memory figure), never shows negative memory,
and ends with a documented exit status (0, 2, 3, 4, 5), never 70 or a traceback.

Each fault breaks a format the reference documents (sections of docs/reference/hardware.md,
builders in hosts.py): the JSON shapes of #amd-smi-cli and #rocm-smi-cli, the KFD topology of
#sysfs-kfd-topology, the modules of #amdsmi-python-module and #pytorch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from . import hosts
from .conftest import PYTHON

pytestmark = pytest.mark.slow  # real processes and timeouts

MODEL = "Qwen/Qwen3-32B"
GPUS = [hosts.MI300X] * 8
DOCUMENTED = (0, 2, 3, 4, 5)
LIMIT = 3.0  # seconds, the whole aim-pick run

# Peak memory of one aim-pick run (and of the children it reaped), in KiB on Linux.
MEASURED = r"""
import resource, subprocess, sys

done = subprocess.run(sys.argv[1:], capture_output=True, text=True, stdin=subprocess.DEVNULL)
sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + "\n" + str(done.returncode) + "\n")
sys.stdout.write(done.stdout)
sys.stderr.write(done.stderr)
"""


@pytest.fixture
def tools_host(host):
    """No KFD GPU in sysfs; /dev/kfd and 8 render nodes: detection reaches the tools."""
    hosts.dev_tree(host.dev, hosts.render_minors(GPUS))
    return host


def bounded(host, *args, env=None):
    """aim-pick with the default detection budget: within LIMIT seconds, no traceback, a
    documented exit status."""
    start = time.monotonic()
    result = host.pick(MODEL, "--format", "json", *args, env={"AIM_DETECT_TIMEOUT": None, **(env or {})})
    elapsed = time.monotonic() - start
    assert elapsed < LIMIT, f"took {elapsed:.2f} s"
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    assert result.code in DOCUMENTED, result.err
    return result


def detected(result) -> dict:
    assert result.code == 0, result.err
    found = result.json()["detected"]
    figures = [found["memory_bytes_per_device"], *(d["vram_bytes"] for d in found["devices"])]
    assert all(f is None or f > 0 for f in figures), figures  # never negative (nor 0)
    return found


def peak_kib(host, *args, env=None) -> tuple[int, int, str]:
    """(peak RSS in KiB, exit status, stdout) of one aim-pick run."""
    argv = [sys.executable, "-c", MEASURED, PYTHON, "-m", "aim_pick", MODEL, "--api", str(host.api), *args]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=host.environment({"AIM_DETECT_TIMEOUT": None, **(env or {})}),
        cwd=host.tmp,
        timeout=60,
    )
    kib, code, out = done.stdout.split("\n", 2)
    assert "Traceback" not in done.stderr, done.stderr
    return int(kib), int(code), out


def rocm_smi_answers(host) -> None:
    hosts.fake_tool(host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, hosts.rocm_smi_new(GPUS))


# --- bounded detection ---------------------------------------------------------------------------


def test_a_hanging_amd_smi(tools_host):
    hosts.hanging_tool(tools_host.bin, "amd-smi")
    rocm_smi_answers(tools_host)
    found = detected(bounded(tools_host))
    assert (found["source"], found["count"]) == ("rocm-smi", 8)


def test_two_hanging_tools_then_the_module_answers(tools_host):
    hosts.hanging_tool(tools_host.bin, "amd-smi")
    hosts.hanging_tool(tools_host.bin, "rocm-smi")
    hosts.fake_amdsmi(tools_host.mods, GPUS)
    found = detected(bounded(tools_host))
    assert (found["source"], found["count"]) == ("amdsmi", 8)


def test_every_source_hangs(tools_host):
    """The worst case: both tools, amdsmi_init and the torch import all hang. One deadline."""
    hosts.hanging_tool(tools_host.bin, "amd-smi")
    hosts.hanging_tool(tools_host.bin, "rocm-smi")
    (tools_host.mods / "amdsmi.py").write_text("import time\ntime.sleep(60)\n")
    (tools_host.mods / "torch.py").write_text("import time\ntime.sleep(60)\n")
    result = bounded(tools_host)
    assert result.code == 4 and "no AMD GPU found" in result.err
    assert "did not answer" in result.err


def test_a_tool_whose_child_keeps_the_pipe_open(tools_host):
    """Killing only the tool would leave its child holding standard output: the whole process
    group is killed."""
    hosts.hanging_child_tool(tools_host.bin, "amd-smi")
    rocm_smi_answers(tools_host)
    assert detected(bounded(tools_host))["source"] == "rocm-smi"


def test_a_tool_that_prints_without_end(tools_host):
    """#amd-smi-cli gpu_data shape never closed: read up to the size limit, then the tool is
    killed; aim-pick's memory stays small (it reached 8 GB reading without a limit)."""
    hosts.endless_tool(tools_host.bin, "amd-smi", hosts.amd_smi_gpus([hosts.MI300X])[0])
    rocm_smi_answers(tools_host)
    found = detected(bounded(tools_host))
    assert found["source"] == "rocm-smi"
    assert "printed more than" in " ".join(bounded(tools_host).json()["warnings"])
    kib, code, _ = peak_kib(tools_host)
    assert code == 0 and kib < 200 * 1024


def test_100_mb_of_json(tools_host):
    """A complete, valid #amd-smi-cli gpu_data document of 100 MB: over the size limit, so the
    next source answers, in bounded time and memory."""
    entry = json.dumps(hosts.amd_smi_gpus([hosts.MI300X])[0])
    count = 100 * 1024 * 1024 // (len(entry) + 1) + 1
    with (tools_host.bin / "amd-smi.out").open("w") as handle:
        handle.write('{"gpu_data": [' + ",".join([entry] * count) + "]}\n")
    assert (tools_host.bin / "amd-smi.out").stat().st_size > 100 * 1024 * 1024
    hosts.script_tool(tools_host.bin, "amd-smi", 'exec cat "$(dirname "$0")/amd-smi.out"\n')
    rocm_smi_answers(tools_host)
    assert detected(bounded(tools_host))["source"] == "rocm-smi"
    kib, code, _ = peak_kib(tools_host)
    assert code == 0 and kib < 200 * 1024


def test_deeply_nested_json(tools_host):
    """#amd-smi-cli gpu_data shape whose list nests 100 000 levels deep."""
    hosts.fake_tool(tools_host.bin, "amd-smi", hosts.AMD_SMI_ARGS, '{"gpu_data": ' + "[" * 100000 + "]" * 100000 + "}")
    rocm_smi_answers(tools_host)
    assert detected(bounded(tools_host))["source"] == "rocm-smi"


@pytest.mark.parametrize("where", ["properties", "mem_info_vram_total"])
def test_a_fifo_where_a_sysfs_file_should_be(host, where):
    """#sysfs-kfd-topology files replaced by FIFOs: opening one would block for ever. `properties`:
    the node is skipped, so sysfs finds nothing and amd-smi answers. `mem_info_vram_total`: sysfs
    still answers; the memory comes from the next figure, the node's mem_banks."""
    host.gpus(GPUS)
    nodes = host.sys / "class" / "kfd" / "kfd" / "topology" / "nodes"
    if where == "properties":
        for node in range(2, 10):
            hosts.fifo(nodes / str(node) / "properties")
        hosts.fake_tool(host.bin, "amd-smi", hosts.AMD_SMI_ARGS, hosts.amd_smi_gpu_data_shape(GPUS))
        found = detected(bounded(host))
        assert (found["source"], found["count"]) == ("amd-smi", 8)
    else:
        for index, bus in enumerate(hosts.BUSES[:8]):
            hosts.fifo(host.sys / "devices" / "pci0000:00" / f"0000:{bus:02x}:00.0" / "mem_info_vram_total")
            hosts.mem_banks(host.sys, 2 + index, [(1, 206141652992)])
        found = detected(bounded(host))
        assert (found["source"], found["count"], found["memory_bytes_per_device"]) == ("sysfs", 8, 206141652992)


# --- values that used to end in a traceback ------------------------------------------------------


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", "-196592", "0"])
def test_amd_smi_vram_that_no_gpu_has(tools_host, value):
    """#amd-smi-cli gpu_data shape with `vram.size.value` NaN, infinite, 1e999 (a float that
    overflows), negative or 0: the figure is absent (the device is still identified by its id,
    and planned with the catalogue's memory), never negative."""
    text = hosts.amd_smi_gpu_data_shape(GPUS).replace('"value": 196592', f'"value": {value}')
    assert value in text
    hosts.fake_tool(tools_host.bin, "amd-smi", hosts.AMD_SMI_ARGS, text)
    found = detected(bounded(tools_host))
    assert (found["gpu"], found["count"], found["source"]) == ("MI300X", 8, "amd-smi")
    assert found["memory_bytes_per_device"] is None


@pytest.mark.parametrize("value", ["nan", "inf", "1e999", "-206141652992", "9" * 5000])
def test_rocm_smi_vram_that_no_gpu_has(tools_host, value):
    """#rocm-smi-cli (ROCm >= 6.1 keys, every value a string) with `VRAM Total Memory (B)` NaN,
    infinite, 1e999, negative or 5000 digits long."""
    hosts.fake_tool(
        tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, hosts.rocm_smi_new(GPUS).replace("206141652992", value)
    )
    found = detected(bounded(tools_host))
    assert (found["gpu"], found["count"], found["memory_bytes_per_device"]) == ("MI300X", 8, None)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_torch_and_amdsmi_memory_that_no_gpu_has(tools_host, value):
    """#pytorch total_memory and #amdsmi-python-module vram_size NaN, infinite or negative."""
    hosts.fake_amdsmi(tools_host.mods, GPUS)
    data = json.loads((tools_host.mods / "amdsmi_data.json").read_text())
    for handle in data:
        handle["vram"]["vram_size"] = value
    (tools_host.mods / "amdsmi_data.json").write_text(json.dumps(data))
    found = detected(bounded(tools_host))
    assert (found["source"], found["gpu"], found["memory_bytes_per_device"]) == ("amdsmi", "MI300X", None)
    (tools_host.mods / "amdsmi.py").unlink()
    hosts.fake_torch(tools_host.mods, GPUS, total_memory=value)
    found = detected(bounded(tools_host))
    assert (found["source"], found["gpu"], found["memory_bytes_per_device"]) == ("torch", "MI300X", None)


@pytest.mark.parametrize("value", ["-206141652992", "nan", "9" * 5000, "²⁰⁶¹⁴¹⁶⁵²⁹⁹²"])
def test_sysfs_vram_that_no_gpu_has(host, value):
    """#sysfs-kfd-topology `mem_info_vram_total` negative, NaN, 5000 digits or in superscript digits:
    the next figure (mem_banks) is used, else none."""
    host.gpus(GPUS)
    for bus in hosts.BUSES[:8]:
        (host.sys / "devices" / "pci0000:00" / f"0000:{bus:02x}:00.0" / "mem_info_vram_total").write_text(value + "\n")
    hosts.mem_banks(host.sys, 2, [(1, 206141652992)])
    found = detected(bounded(host))
    assert (found["source"], found["count"]) == ("sysfs", 8)
    assert found["devices"][0]["vram_bytes"] == 206141652992
    assert {d["vram_bytes"] for d in found["devices"][1:]} == {None}


@pytest.mark.parametrize("key", ["card²", "card¹", "card" + "1" * 5000, "card٣"])
def test_rocm_smi_keys_with_strange_digits(tools_host, key):
    """#rocm-smi-cli keys are `card<N>` with N in ASCII digits; a key with superscript or other
    scripts' digits, or 5000 digits, is not a card (formatJson never prints one)."""
    body = json.loads(hosts.rocm_smi_new(GPUS))
    body[key] = dict(body["card0"])
    hosts.fake_tool(tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, json.dumps(body))
    found = detected(bounded(tools_host))
    assert (found["source"], found["count"]) == ("rocm-smi", 8)
    # only such keys: no card at all, so no GPU (exit 4)
    hosts.fake_tool(tools_host.bin, "rocm-smi", hosts.ROCM_SMI_ARGS, json.dumps({key: body["card0"]}))
    result = bounded(tools_host)
    assert result.code == 4 and "no AMD GPU found" in result.err


@pytest.mark.parametrize("name", ["²", "¹", "٣", "1" * 200])
def test_sysfs_node_names_with_strange_digits(host, name):
    """#sysfs-kfd-topology node folders are bare ASCII integers; a folder named otherwise (even
    holding a GPU's properties) is not a node."""
    host.gpus(GPUS)
    nodes = host.sys / "class" / "kfd" / "kfd" / "topology" / "nodes"
    (nodes / name).mkdir()
    (nodes / name / "properties").write_text((nodes / "2" / "properties").read_text())
    found = detected(bounded(host))
    assert (found["source"], found["count"]) == ("sysfs", 8)


@pytest.mark.parametrize("name", ["renderD²", "renderD¹²⁸", "renderD" + "1" * 200, "renderD١٢٨"])
@pytest.mark.parametrize("source", ["sysfs", "tools"])
def test_render_node_names_with_strange_digits(host, name, source):
    """/dev/dri/renderD<minor> with a minor that is not ASCII digits is no render node: it neither
    breaks detection nor counts as a GPU (the tools' count is capped by the real nodes)."""
    if source == "sysfs":
        host.gpus(GPUS)
    else:
        hosts.dev_tree(host.dev, hosts.render_minors(GPUS))
        hosts.fake_tool(host.bin, "amd-smi", hosts.AMD_SMI_ARGS, hosts.amd_smi_gpu_data_shape([hosts.MI300X] * 9))
    (host.dev / "dri" / name).write_text("")
    found = detected(bounded(host))
    assert found["levels"]["container"] == 8


def test_over_long_digit_strings_in_sysfs_properties(host):
    """#sysfs-kfd-topology `properties` values of 5000 digits (Python refuses to convert more than
    4300): the value is absent. A node whose simd_count is unreadable is no GPU node."""
    host.gpus(GPUS)
    nodes = host.sys / "class" / "kfd" / "kfd" / "topology" / "nodes"
    text = (nodes / "2" / "properties").read_text()
    (nodes / "2" / "properties").write_text(text.replace("device_id 29857", "device_id " + "9" * 5000))
    (nodes / "3" / "properties").write_text(text.replace("drm_render_minor 128", "drm_render_minor " + "9" * 5000))
    (nodes / "4" / "properties").write_text(text.replace("simd_count 1216", "simd_count " + "9" * 5000))
    found = detected(bounded(host))
    # node 4 is no GPU node (host 7); node 3 has no render node to open (container 6); node 2 has
    # no id, and its gfx942 and memory fit both MI300X and MI308X, so it stays unknown (usable 5)
    assert found["levels"] == {"host": 7, "container": 6, "process": 6, "usable": 5}
    assert found["devices"][0]["device_id"] is None and found["devices"][0]["gpu"] is None
    assert found["devices"][1]["device_id"] == "0x74a1"


@pytest.mark.parametrize("value", ["9" * 5000, "²", "0,¹", "١"])
def test_visibility_variables_with_strange_digits(host, value):
    """HIP_VISIBLE_DEVICES with 5000 digits or non-ASCII digits: not an ordinal, so the list ends
    there (what HIP does with an invalid entry)."""
    host.gpus(GPUS)
    result = bounded(host, env={"HIP_VISIBLE_DEVICES": value})
    expected = 1 if value.startswith("0,") else 0
    if expected:
        assert detected(result)["levels"]["process"] == 1
    else:
        assert result.code == 4 and "no usable GPU left after visibility settings" in result.err


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "infinity", "-inf", "1e999"])
def test_detect_timeout_nan_or_infinite(tools_host, value):
    """AIM_DETECT_TIMEOUT that is no finite number of seconds: the default budget, with a warning,
    so a hanging tool still costs at most its share of it."""
    hosts.hanging_tool(tools_host.bin, "amd-smi")
    rocm_smi_answers(tools_host)
    result = bounded(tools_host, env={"AIM_DETECT_TIMEOUT": value})
    assert detected(result)["source"] == "rocm-smi"
    assert any("AIM_DETECT_TIMEOUT" in w and "using 2.5 s" in w for w in result.json()["warnings"])
    assert "warning: AIM_DETECT_TIMEOUT=" in result.err


def test_aim_gpu_count_with_strange_digits(host):
    """AIM_GPU_COUNT of 5000 digits or superscript digits: a usage error (exit 2), no traceback."""
    for value in ("9" * 5000, "²", "1" + "0" * 7):
        result = bounded(host, env={"AIM_GPU_MODEL": "MI300X", "AIM_GPU_COUNT": value})
        assert result.code == 2 and "AIM_GPU_COUNT" in result.err
        assert len(result.err) < 300
