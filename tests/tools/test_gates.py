"""Three-valued evaluation of hardware gates read from source."""

from __future__ import annotations

import ast
import textwrap

import pytest
from tools.flagdump import gates

MODULE = ast.parse(
    textwrap.dedent(
        """
        _is_hip = is_hip()

        class NativeKernel:
            @classmethod
            def is_supported(cls):
                if not current_platform.supports_mx():
                    return False, "needs MX hardware"
                if is_aiter_found():
                    return True, None
                return False, "AITER missing"

        class EmulationKernel:
            @classmethod
            def can_implement(cls, config):
                if config.act not in (None, 1):
                    return False, "bad activations"
                if not current_platform.supports_mx():
                    logger.warning("emulating")
                return True, None

        class Config:
            @classmethod
            def from_config(cls, config):
                if _is_hip:
                    if is_gfx95_supported():
                        return cls()
                    else:
                        raise ValueError(f"Current platform {arch} not support mxfp4 computation")
                return cls()

        def experts_supported():
            return on_gfx942() or on_gfx950()

        REGISTRY = {"fp8": A, "awq": B}
        if is_cuda() or _is_gfx95:
            REGISTRY.update({"mxfp4": C})
        _is_gfx95 = is_gfx95_supported()
        if maybe():
            REGISTRY["maybe"] = D
        """
    )
)


def fn(qualname):
    return gates.find_function(MODULE, qualname)


def test_accepting_branch_under_an_unknown_test_is_taken():
    verdict = gates.evaluate(fn("NativeKernel.is_supported"), MODULE, {"supports_mx": True})
    assert verdict.result is True
    assert verdict.gates == ["supports_mx"]
    assert verdict.conditions == [{"if": "is_aiter_found()", "then": True, "message": None}]


def test_rejecting_gate():
    verdict = gates.evaluate(fn("NativeKernel.is_supported"), MODULE, {"supports_mx": False})
    assert (verdict.result, verdict.message) == (False, "needs MX hardware")


def test_rejecting_branch_under_an_unknown_test_is_a_requirement():
    verdict = gates.evaluate(fn("EmulationKernel.can_implement"), MODULE, {"supports_mx": False})
    assert verdict.result is True
    assert verdict.conditions == [{"if": "config.act not in (None, 1)", "then": False, "message": "bad activations"}]


@pytest.mark.parametrize(
    "preds, result",
    [
        ({"is_hip": True, "is_gfx95_supported": True}, True),
        ({"is_hip": True, "is_gfx95_supported": False}, False),
        ({"is_hip": False, "is_gfx95_supported": False}, True),
    ],
)
def test_module_alias_and_raise(preds, result):
    verdict = gates.evaluate(fn("Config.from_config"), MODULE, preds)
    assert verdict.result is result
    if result is False:
        assert verdict.message == "Current platform {arch} not support mxfp4 computation"


def test_returned_boolean_expression():
    assert gates.evaluate(fn("experts_supported"), MODULE, {"on_gfx942": False, "on_gfx950": True}).result is True
    assert gates.evaluate(fn("experts_supported"), MODULE, {"on_gfx942": False, "on_gfx950": False}).result is False
    assert gates.evaluate(fn("experts_supported"), MODULE, {"on_gfx942": False}).result is None


def test_registry_updates_follow_the_device():
    on_mi355 = gates.registry_updates(MODULE, "REGISTRY", {"is_cuda": False, "is_gfx95_supported": True})
    on_mi300 = gates.registry_updates(MODULE, "REGISTRY", {"is_cuda": False, "is_gfx95_supported": False})
    assert sorted(on_mi355) == ["awq", "fp8", "maybe", "mxfp4"]
    assert sorted(on_mi300) == ["awq", "fp8", "maybe"]
    assert on_mi355["mxfp4"] == {"gates": ["is_cuda", "is_gfx95_supported"], "conditional": False}
    assert on_mi355["maybe"]["conditional"] is True
