"""Facts in hardware.json that the reference pins down (amd-hardware.md §1-2)."""

from __future__ import annotations


def test_required_gpus_present(catalogue):
    assert {"MI210", "MI250X", "MI300A", "MI300X", "MI308X", "MI325X", "MI350X", "MI355X", "W7900"} <= set(
        catalogue.hardware
    )


def test_gfx_targets_and_versions(catalogue):
    hw = catalogue.hardware
    assert hw["MI300X"].gfx_target == "gfx942" and hw["MI300X"].gfx_target_version == 90402
    assert hw["MI325X"].gfx_target == "gfx942"
    assert hw["MI250X"].gfx_target == "gfx90a" and hw["MI250X"].gfx_target_version == 90010
    assert hw["MI355X"].gfx_target == "gfx950" and hw["W7900"].gfx_target == "gfx1100"
    for gpu in hw.values():  # decode with hex minor/stepping
        v = gpu.gfx_target_version
        assert gpu.gfx_target == f"gfx{v // 10000}{(v // 100) % 100:x}{v % 100:x}"


def test_device_ids_include_virtual_functions(catalogue):
    hw = catalogue.hardware
    assert {"0x74a1", "0x74b5"} <= set(hw["MI300X"].device_ids)
    assert "0x74b9" in hw["MI325X"].device_ids
    ids = [i for gpu in hw.values() for i in gpu.device_ids]
    assert len(ids) == len(set(ids)), "a PCI id maps to two GPUs"


def test_precision_support(catalogue):
    hw = catalogue.hardware
    assert hw["MI250X"].precision_support("fp8") is None
    assert hw["MI300X"].precision_support("fp8") == "native" and hw["MI300X"].fp8_format == "e4m3fnuz"
    assert hw["MI355X"].precision_support("mxfp4") == "native" and hw["MI355X"].fp8_format == "e4m3fn"
    assert hw["MI300X"].precision_support("mxfp4") == "emulated"
    assert hw["MI250X"].precision_support("mxfp4") == "emulated"


def test_memory_as_reported(catalogue):
    assert catalogue.hardware["MI300X"].memory_bytes == 206141652992
    assert catalogue.hardware["MI250X"].memory_bytes == 64 * 1024**3  # one GCD
    assert catalogue.hardware["MI300A"].apu
