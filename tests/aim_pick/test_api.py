"""Where the catalogue comes from (--api folder or http:// URL, AIM_API) and exit 5 when
it is missing or corrupt."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pytest

from . import hosts
from .test_hosts import published

QWEN = "Qwen/Qwen3-32B"
SLUG = "Qwen--Qwen3-32B"


@pytest.fixture
def mi300x(host):
    return host.gpus([hosts.MI300X] * 8)


def partial_api(api_dir, target, *, lookup=True, plan=True):
    """A copy of the files one MI300X pick of QWEN reads."""
    (target / "lookup" / "MI300X").mkdir(parents=True)
    (target / "plans").mkdir()
    shutil.copyfile(api_dir / "index.json", target / "index.json")
    if lookup:
        shutil.copyfile(api_dir / "lookup" / "MI300X" / f"{SLUG}.json", target / "lookup" / "MI300X" / f"{SLUG}.json")
    if plan:
        chosen = published(api_dir, "MI300X", QWEN, "8/auto/auto/auto/latency")
        shutil.copyfile(api_dir / "plans" / f"{chosen}.json", target / "plans" / f"{chosen}.json")
    return target


def test_a_copy_of_only_the_files_a_pick_reads_is_enough(mi300x, api_dir, tmp_path):
    api = partial_api(api_dir, tmp_path / "api")
    assert mi300x.pick(QWEN, "--api", str(api)).out == mi300x.pick(QWEN).out


def test_aim_api_environment_variable(mi300x, api_dir):
    result = mi300x.pick(QWEN, api=False, env={"AIM_API": str(api_dir)})
    assert result.code == 0 and result.out == mi300x.pick(QWEN).out


def test_without_api_it_reads_build_api_under_the_current_folder(mi300x, api_dir):
    partial_api(api_dir, mi300x.tmp / "build" / "api")
    assert mi300x.pick(QWEN, api=False).out == mi300x.pick(QWEN).out


@pytest.mark.parametrize(
    "damage",
    [
        "no-folder",
        "index-not-json",
        "index-not-a-catalogue",
        "no-lookup",
        "lookup-not-json",
        "lookup-malformed",
        "no-plan",
        "plan-not-json",
    ],
)
def test_missing_or_corrupt_catalogue_exits_5(mi300x, api_dir, tmp_path, damage):
    api = partial_api(api_dir, tmp_path / "api", lookup=damage != "no-lookup", plan=damage != "no-plan")
    lookup = api / "lookup" / "MI300X" / f"{SLUG}.json"
    plan = api / "plans" / f"{published(api_dir, 'MI300X', QWEN, '8/auto/auto/auto/latency')}.json"
    if damage == "no-folder":
        shutil.rmtree(api)
    elif damage == "index-not-json":
        (api / "index.json").write_text('{"models": [')
    elif damage == "index-not-a-catalogue":
        (api / "index.json").write_text('["not", "an", "index"]')
    elif damage == "lookup-not-json":
        lookup.write_text("\x00\x01garbage")
    elif damage == "lookup-malformed":
        lookup.write_text('{"keys": {}, "decisions": {}}')
    elif damage == "plan-not-json":
        plan.write_text("{")
    result = mi300x.pick(QWEN, "--api", str(api))
    assert result.code == 5, result.err
    assert result.out == "" and "catalogue missing or corrupt" in result.err and "Traceback" not in result.err


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(api_dir, tmp_path):
    """The API over HTTP from a real http.server on 127.0.0.1 (a partial copy: with
    and without the lookup file)."""
    root = tmp_path / "www"
    partial_api(api_dir, root / "full")
    partial_api(api_dir, root / "nolookup", lookup=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_api_over_http(mi300x, served):
    result = mi300x.pick(QWEN, "--api", f"{served}/full/")
    assert result.code == 0, result.err
    assert result.out == mi300x.pick(QWEN).out
    assert mi300x.pick(QWEN, api=False, env={"AIM_API": f"{served}/full"}).out == result.out


def test_api_over_http_missing_files_exit_5(mi300x, served):
    assert mi300x.pick(QWEN, "--api", f"{served}/nolookup").code == 5  # 404 for the lookup file
    assert mi300x.pick(QWEN, "--api", f"{served}/nothing-here").code == 5  # 404 for index.json
    assert mi300x.pick(QWEN, "--api", "http://127.0.0.1:9/").code == 5  # nothing listening
