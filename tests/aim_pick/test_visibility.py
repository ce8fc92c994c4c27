"""The process level end to end (#visibility-variables): HIP_/ROCR_/CUDA_VISIBLE_DEVICES on an 8 x MI300X
host, their stacking, and what the emitted command pins (one variable: HIP_VISIBLE_DEVICES,
host ordinals).

Sections named "#..." are those of docs/reference/hardware.md."""

from __future__ import annotations

import pytest

from . import hosts
from .conftest import env_of

MODEL = "Qwen/Qwen3-32B"


@pytest.fixture
def mi300x(host):
    return host.gpus([hosts.MI300X] * 8)


@pytest.mark.parametrize(
    "env, devices, warned",
    [
        ({"HIP_VISIBLE_DEVICES": "0,1"}, [0, 1], False),
        ({"ROCR_VISIBLE_DEVICES": "4,5,6,7"}, [4, 5, 6, 7], False),
        ({"CUDA_VISIBLE_DEVICES": "2"}, [2], False),
        ({"ROCR_VISIBLE_DEVICES": "1,2,3,4,5", "HIP_VISIBLE_DEVICES": "1,2"}, [2, 3], True),  # HIP indexes into ROCr's
        ({"ROCR_VISIBLE_DEVICES": "2,3,4,5,6,7", "CUDA_VISIBLE_DEVICES": "0,5"}, [2, 7], False),
        ({"HIP_VISIBLE_DEVICES": "6,7", "CUDA_VISIBLE_DEVICES": "0"}, [6, 7], True),  # differ: vLLM refuses
    ],
    ids=["hip", "rocr", "cuda", "rocr+hip", "rocr+cuda", "hip!=cuda"],
)
def test_visibility_variables(mi300x, env, devices, warned):
    result = mi300x.pick(MODEL, "--format", "json", env=env)
    assert result.code == 0, result.err
    body = result.json()
    assert body["detected"]["levels"] == {"host": 8, "container": 8, "process": len(devices), "usable": len(devices)}
    assert body["detected"]["group"] == devices
    assert body["plan"]["gpu_count"] <= len(devices) and body["request"]["gpus"] == len(devices)
    assert bool(body["warnings"]) == warned
    docker = mi300x.pick(MODEL, env=env)
    argv_env = env_of(docker.argv())
    count = body["plan"]["gpu_count"]
    assert argv_env["HIP_VISIBLE_DEVICES"] == ",".join(str(i) for i in devices[:count])
    assert "ROCR_VISIBLE_DEVICES" not in argv_env and "CUDA_VISIBLE_DEVICES" not in argv_env
    assert ("warning:" in docker.err) == warned


def test_both_rocr_and_hip_set_warns_about_stacking(mi300x):
    docker = mi300x.pick(MODEL, env={"ROCR_VISIBLE_DEVICES": "0,1,2,3", "HIP_VISIBLE_DEVICES": "0,1,2,3"})
    assert docker.code == 0
    assert "ROCR_VISIBLE_DEVICES and HIP_VISIBLE_DEVICES are both set" in docker.err


@pytest.mark.parametrize(
    "env",
    [
        {"ROCR_VISIBLE_DEVICES": "1", "HIP_VISIBLE_DEVICES": "1"},
        {"HIP_VISIBLE_DEVICES": "-1"},
        {"CUDA_VISIBLE_DEVICES": "8"},
    ],
)
def test_masks_that_hide_everything(mi300x, env):
    result = mi300x.pick(MODEL, "--format", "json", env=env)
    assert result.code == 4 and "no usable GPU left after visibility settings" in result.err
    assert result.json()["detected"]["levels"]["process"] == 0


def test_masks_index_into_the_render_nodes_the_container_has(host):
    """#visibility-variables: inside a container, indices refer to the devices passed in (here GPUs 2-7)."""
    host.gpus([hosts.MI300X] * 8, render_minors=range(130, 136))
    body = host.pick(MODEL, "--format", "json", env={"ROCR_VISIBLE_DEVICES": "1,2"}).json()
    assert body["detected"]["levels"] == {"host": 8, "container": 6, "process": 2, "usable": 2}
    assert body["detected"]["group"] == [3, 4]
    argv_env = env_of(host.pick(MODEL, env={"ROCR_VISIBLE_DEVICES": "1,2"}).argv())
    assert argv_env["HIP_VISIBLE_DEVICES"] == ",".join(["3", "4"][: body["plan"]["gpu_count"]])
