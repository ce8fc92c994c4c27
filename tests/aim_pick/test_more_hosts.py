"""aim-pick on one host, for a model that needs more hosts of its GPU type: no command (one host
cannot run it), and a warning naming the multi-node plan and the Kubernetes route to it."""

from __future__ import annotations

from aim_pick.errors import EXIT_NO_PLAN

from . import hosts

LLAMA_405B = "meta-llama/Llama-3.1-405B-Instruct"
PLAN = "llama-3.1-405b-instruct-mi250x-bf16-vllm-4x8-generic"


def test_a_model_one_host_cannot_hold_gets_the_kubernetes_route(host):
    mi250x = host.gpus([hosts.MI250X_GCD] * 8)
    result = mi250x.pick(LLAMA_405B, "--precision", "bf16", "--format", "json")
    assert result.code == EXIT_NO_PLAN
    body = result.json()
    assert body["plan"] is None
    (warning,) = [w for w in body["warnings"] if "more than one host" in w]
    assert "4 hosts x 8 MI250X" in warning and f"kubectl apply -k k8s/{PLAN}/" in warning
    assert f"docker/{PLAN}-leader.sh" in warning
    # the listing still says why nothing on this host serves it
    assert any(c["reason"] == "does-not-fit" for c in body["candidates"])


def test_a_model_one_host_holds_gets_no_multi_node_warning(host):
    mi250x = host.gpus([hosts.MI250X_GCD] * 8)
    result = mi250x.pick(LLAMA_405B, "--format", "json")  # auto: the MXFP4 variant on this host
    assert result.code == 0
    assert not [w for w in result.json()["warnings"] if "more than one host" in w]
