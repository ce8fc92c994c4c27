"""`aim-engine cache download/verify` against the loopback hub, in real subprocesses.

huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE when it is imported, so every
command runs as its own process with the environment set, as a user would run it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from aim_pick.contract.cache_state import snapshot_state

from .conftest import BIG_WEIGHTS, LLAMA_MAIN, LLAMA_V1, LLAMA_WEIGHTS, cli, spawn
from .fakehub import sha256

pytestmark = pytest.mark.slow  # every test runs real aim-engine processes against the loopback hub: 2-7 s each

LLAMA = "fake-org/tiny-llama"
WEIGHTS = sha256(LLAMA_WEIGHTS)


def root_of(env: dict) -> Path:
    return Path(env["AIM_CACHE_DIR"])


def repo_folder(env: dict, repo_id: str = LLAMA) -> Path:
    return root_of(env) / "hub" / ("models--" + repo_id.replace("/", "--"))


def index(env: dict) -> dict:
    return json.loads((root_of(env) / "cache_index.json").read_text())


def content_gets(hub, digest: str) -> list[dict]:
    return [r for r in hub.requests("GET", f"/cdn/{digest}")]


def ok(result) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def test_download_records_the_entry_and_verifies(hub_env, fake_hub):
    ok(result := cli(hub_env, "cache", "download", LLAMA))
    assert f"cached {LLAMA} at commit {LLAMA_MAIN}" in result.stdout and "left out: *.pth" in result.stdout
    entry = index(hub_env)[LLAMA]
    assert entry["cached"] is True and entry["commit_hash"] == LLAMA_MAIN and entry["revision"] == "main"
    assert entry["pinned"] is False and entry["source_plan"] is None and entry["last_used"] and entry["cached_at"]
    assert entry["skipped"] == ["*.pth"] and "original/consolidated.00.pth" not in entry["files"]
    assert entry["files"]["model.safetensors"] == len(LLAMA_WEIGHTS) and entry["size"] >= len(LLAMA_WEIGHTS)
    state = snapshot_state(str(root_of(hub_env)), LLAMA)
    assert state["complete"] and state["commit"] == LLAMA_MAIN and state["files"] == 5
    assert (repo_folder(hub_env) / "blobs" / WEIGHTS).read_bytes() == LLAMA_WEIGHTS
    assert all(r["auth"] is None for r in fake_hub.requests())  # no token configured, none sent
    ok(result := cli(hub_env, "cache", "verify", LLAMA))
    assert "checked 5 file(s)" in result.stdout and "not downloaded by choice (*.pth): 1 file(s)" in result.stdout
    assert index(hub_env)[LLAMA]["verify"] == "ok"
    fake_hub.reset()
    ok(cli(hub_env, "cache", "download", LLAMA))  # already there: metadata calls only
    assert not fake_hub.requests("GET", "/cdn/") and not fake_hub.requests("GET", "/resolve/")


def test_verify_reports_corrupt_and_missing_files(hub_env, fake_hub):
    ok(cli(hub_env, "cache", "download", LLAMA))
    blob = repo_folder(hub_env) / "blobs" / WEIGHTS
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # same size: only a checksum can tell
    blob.write_bytes(bytes(data))
    assert snapshot_state(str(root_of(hub_env)), LLAMA)["complete"]  # the fast check cannot see it...
    result = cli(hub_env, "cache", "verify", LLAMA)
    assert result.returncode == 1 and "corrupt: model.safetensors (sha256" in result.stdout
    state = snapshot_state(str(root_of(hub_env)), LLAMA)  # ...but the recorded verdict now counts
    assert not state["complete"] and "cache verify` found corrupt files" in state["reason"]
    rows = json.loads(cli(hub_env, "cache", "list", "--json").stdout)
    assert rows[0]["complete"] is False and rows[0]["reason"] == state["reason"]
    (repo_folder(hub_env) / "snapshots" / LLAMA_MAIN / "tokenizer.json").resolve().unlink()
    result = cli(hub_env, "cache", "verify", LLAMA)
    assert result.returncode == 1 and "missing: tokenizer.json" in result.stdout
    ok(cli(hub_env, "cache", "remove", LLAMA))
    ok(cli(hub_env, "cache", "download", LLAMA))
    ok(cli(hub_env, "cache", "verify", LLAMA))
    assert snapshot_state(str(root_of(hub_env)), LLAMA)["complete"]


def test_a_cut_transfer_resumes_with_a_range_request(hub_env, fake_hub):
    """The connection drops mid-file; huggingface_hub asks for the rest with a Range request.

    It keeps what it has received in whole 10 MiB chunks, so the file is bigger than one.
    """
    big, digest = "fake-org/big-weights", sha256(BIG_WEIGHTS)
    fake_hub.cut_once(digest, 11_000_000)
    ok(cli(hub_env, "cache", "download", big))
    gets = content_gets(fake_hub, digest)
    assert len(gets) == 2 and gets[0]["range"] is None
    start = int(gets[1]["range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= 11_000_000  # continued, not restarted
    blob = repo_folder(hub_env, big) / "blobs" / digest
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest
    assert not list(blob.parent.glob("*.incomplete"))
    assert snapshot_state(str(root_of(hub_env)), big)["complete"]


def test_a_killed_download_is_finished_by_the_next_run(hub_env, fake_hub):
    stall = fake_hub.stall(WEIGHTS, 300_000)
    proc = spawn(hub_env, "cache", "download", LLAMA)
    try:
        assert stall.reached.wait(20), "the download never reached the weights"
        snapshot = repo_folder(hub_env) / "snapshots" / LLAMA_MAIN
        deadline = time.time() + 20
        while not all((snapshot / f).exists() for f in ("config.json", "tokenizer.json")) and time.time() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        fake_hub.stalls.pop(WEIGHTS, None)
        stall.release.set()
    root = str(root_of(hub_env))
    state = snapshot_state(root, LLAMA)
    assert not state["complete"] and "interrupted" in state["reason"]
    rows = json.loads(cli(hub_env, "cache", "list", "--json").stdout)
    assert (rows[0]["complete"], rows[0]["reason"]) == (False, state["reason"])
    ok(cli(hub_env, "cache", "download", LLAMA))
    assert len(fake_hub.requests("GET", "/resolve/" + LLAMA_MAIN + "/config.json")) == 1  # finished files kept
    assert len(content_gets(fake_hub, WEIGHTS)) == 2
    assert not list((repo_folder(hub_env) / "blobs").glob("*.incomplete"))  # the orphan is gone
    assert snapshot_state(root, LLAMA)["complete"]
    ok(cli(hub_env, "cache", "verify", LLAMA))


def test_two_processes_download_the_same_model_once(hub_env, fake_hub):
    fake_hub.chunk_delay = 0.05  # about 1 s for the weights, so the two runs overlap
    procs = [spawn(hub_env, "cache", "download", LLAMA) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out + err
    # Both went for the weights (neither found them finished), one transfer served both.
    assert len(fake_hub.requests("HEAD", f"/resolve/{LLAMA_MAIN}/model.safetensors")) == 2
    assert len(content_gets(fake_hub, WEIGHTS)) == 1
    for name in ("config.json", "tokenizer.json", "generation_config.json"):
        assert len(fake_hub.requests("GET", f"/resolve/{LLAMA_MAIN}/{name}")) == 1
    blobs = sorted(p.name for p in (repo_folder(hub_env) / "blobs").iterdir())
    assert len(blobs) == 5 and not [b for b in blobs if b.endswith(".incomplete")]
    assert (repo_folder(hub_env) / "blobs" / WEIGHTS).read_bytes() == LLAMA_WEIGHTS
    ok(cli(hub_env, "cache", "verify", LLAMA))


def test_gated_repo_needs_an_accepted_license_and_a_token(hub_env, fake_hub):
    gated = "fake-gated/tiny-gated"
    result = cli(hub_env, "cache", "download", gated)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "gated model (no token was sent): accept its license" in result.stderr and "HF_TOKEN" in result.stderr
    result = cli({**hub_env, "HF_TOKEN": "hf_not_granted"}, "cache", "download", gated)
    assert result.returncode == 1 and "the token sent has no access yet" in result.stderr
    fake_hub.reset()
    ok(cli({**hub_env, "HF_TOKEN": "hf_granted"}, "cache", "download", gated))
    assert {r["auth"] for r in fake_hub.requests("HEAD", "/resolve/")} == {"Bearer hf_granted"}
    assert all(r["auth"] is None for r in fake_hub.requests(contains="/cdn/"))  # never sent off the hub's origin
    assert index(hub_env)[gated]["gated"] is True
    result = cli(hub_env, "cache", "env", gated)
    assert result.stdout.splitlines() == [
        "HF_HOME=/workspace/model-cache",
        "HF_HUB_OFFLINE=1",
        f"# {gated} is gated: also export HF_TOKEN (never stored here)",
    ]


def test_missing_repo_revision_and_unreachable_hub(hub_env, fake_hub):
    result = cli(hub_env, "cache", "download", "fake-org/no-such-model")
    assert result.returncode == 1 and "no such model repo on the hub: fake-org/no-such-model" in result.stderr
    result = cli(hub_env, "cache", "download", LLAMA, "--revision", "v9")
    assert result.returncode == 1 and "has no revision 'v9'" in result.stderr
    assert not (root_of(hub_env) / "hub" / "models--fake-org--no-such-model").exists()
    result = cli({**hub_env, "HF_ENDPOINT": "http://127.0.0.1:9"}, "cache", "download", LLAMA)
    assert result.returncode == 1 and "cannot reach the hub at http://127.0.0.1:9" in result.stderr
    for args in (("cache", "download", "../../etc"), ("cache", "download", LLAMA, "--revision", "../main")):
        result = cli(hub_env, *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr


def test_revision_pin(hub_env, fake_hub):
    ok(cli(hub_env, "cache", "download", LLAMA, "--revision", "v1"))
    root = str(root_of(hub_env))
    assert index(hub_env)[LLAMA]["commit_hash"] == LLAMA_V1 and index(hub_env)[LLAMA]["revision"] == "v1"
    assert snapshot_state(root, LLAMA, "v1")["complete"]
    state = snapshot_state(root, LLAMA)  # an engine without --revision loads main: not cached yet
    assert not state["complete"] and "no ref 'main'" in state["reason"]
    config = repo_folder(hub_env) / "snapshots" / LLAMA_V1 / "config.json"
    assert json.loads(config.read_text())["max_position_embeddings"] == 1024
    ok(cli(hub_env, "cache", "download", LLAMA))
    assert snapshot_state(root, LLAMA)["complete"] and snapshot_state(root, LLAMA, "v1")["complete"]
    assert len(content_gets(fake_hub, WEIGHTS)) == 1  # both commits share the weights blob
    ok(cli(hub_env, "cache", "download", LLAMA, "--revision", LLAMA_V1))  # a bare commit works too
    rows = json.loads(cli(hub_env, "cache", "list", "--json").stdout)
    assert [(r["commit"], r["refs"]) for r in rows[0]["revisions"]] == sorted(
        [(LLAMA_V1, ["v1"]), (LLAMA_MAIN, ["main"])]
    )


def test_download_the_checkpoint_a_plan_serves(hub_env, fake_hub, tmp_path):
    plans = tmp_path / "api" / "plans"
    plans.mkdir(parents=True)
    (plans / "tiny-mi300x-fp8-vllm-tp1.json").write_text(
        json.dumps({"plan_id": "tiny-mi300x-fp8-vllm-tp1", "model": LLAMA, "checkpoint": "fake-org/tiny-llama-FP8"})
    )
    api = ["--api", str(tmp_path / "api")]
    ok(result := cli(hub_env, "cache", "download", LLAMA, "--plan", "tiny-mi300x-fp8-vllm-tp1", *api))
    assert "from the checkpoint fake-org/tiny-llama-FP8" in result.stderr
    entries = index(hub_env)
    assert set(entries) == {"fake-org/tiny-llama-FP8"}
    assert entries["fake-org/tiny-llama-FP8"]["source_plan"] == "tiny-mi300x-fp8-vllm-tp1"
    result = cli(hub_env, "cache", "download", "fake-org/other", "--plan", "tiny-mi300x-fp8-vllm-tp1", *api)
    assert result.returncode == 2 and "serves fake-org/tiny-llama" in result.stderr
    for plan in ("absent-plan", "../plans/x"):
        result = cli(hub_env, "cache", "download", LLAMA, "--plan", plan, *api)
        assert result.returncode == 2 and "plan" in result.stderr and "Traceback" not in result.stderr


def test_offline_commands_work_from_the_cache(hub_env, fake_hub):
    ok(cli(hub_env, "cache", "download", LLAMA))
    offline = {**hub_env, "HF_HUB_OFFLINE": "1"}
    fake_hub.reset()
    for args in (
        ("cache", "list"),
        ("cache", "stats", "--json"),
        ("cache", "pin", LLAMA),
        ("cache", "volumes", LLAMA),
        ("cache", "download", LLAMA),
    ):
        ok(cli(offline, *args))
    assert "HF_HUB_OFFLINE=1" in cli(offline, "cache", "env", LLAMA).stdout
    for args, words in (
        (("cache", "download", "fake-org/tiny-moe"), "needs the network"),
        (("cache", "verify", LLAMA), "needs the network"),
        (("models", "import", LLAMA, "--out", str(root_of(hub_env) / "m")), "needs the network"),
    ):
        result = cli(offline, *args)
        assert result.returncode == 1 and words in result.stderr and "HF_HUB_OFFLINE=1" in result.stderr
    assert fake_hub.requests() == []  # nothing reached the hub
    ok(cli(offline, "cache", "remove", LLAMA))
    assert not repo_folder(hub_env).exists()
