"""aim_pick needs nothing outside the standard library, and build/aim-pick.pyz runs with a
bare python3 on its embedded API."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from . import hosts
from .conftest import REPO

MODEL = "Qwen/Qwen3-32B"

# Runs under `python -I -S`: no site-packages, no PYTHON* variables. A meta-path finder
# refuses every top-level module that is neither stdlib nor aim_pick, then every module
# is imported and full picks run (all formats; one host where detection falls through
# every source, so the amdsmi and torch imports are attempted and refused).
BLOCKED_RUN = r"""
import io, json, os, sys
compiler, api, empty_sys = sys.argv[1:4]
stdlib = set(sys.stdlib_module_names)
refused = []

class RefuseNonStdlib:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top == "aim_pick" or top in stdlib:
            return None
        refused.append(name)
        raise ImportError(f"blocked: {name} is not in the standard library")

sys.meta_path.insert(0, RefuseNonStdlib())
sys.path.insert(0, compiler)
import aim_pick.cli, aim_pick.detect, aim_pick.pick, aim_pick.contract.reader, aim_pick.contract.deploy

def pick(*args):
    out = io.StringIO()
    sys.stdout, saved = out, sys.stdout
    try:
        code = aim_pick.cli.main([*args, "--api", api])
    finally:
        sys.stdout = saved
    return code, out.getvalue()

results = {"docker": pick("Qwen/Qwen3-32B")}
heavy = sorted(m for m in ("subprocess", "threading", "shutil", "urllib.request", "dataclasses", "inspect", "hashlib",
                           "tempfile", "zipfile", "typing", "argparse", "gettext", "locale", "selectors")
               if m in sys.modules)
for fmt in ("json", "explain", "compose", "k8s", "env"):
    results[fmt] = pick("Qwen/Qwen3-32B", "--format", fmt)
os.environ["AIM_SYSFS_ROOT"] = empty_sys
results["fallthrough"] = pick("Qwen/Qwen3-32B")
outside = sorted({m.partition(".")[0] for m in sys.modules} - stdlib - {"aim_pick", "__main__"})
print(json.dumps({"results": results, "heavy_on_docker_path": heavy, "outside_stdlib": outside, "refused": refused}))
"""


def test_aim_pick_imports_only_the_standard_library(host, api_dir):
    host.gpus([hosts.MI300X] * 8)
    env = host.environment()
    env["PATH"] = "/usr/bin:/bin"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", BLOCKED_RUN, str(REPO / "compiler"), str(api_dir), str(host.tmp / "none")],
        capture_output=True,
        text=True,
        env=env,
        cwd=host.tmp,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["outside_stdlib"] == []
    results = report["results"]
    code, out = results["docker"]
    assert code == 0 and out.startswith("docker run ")
    assert json.loads(results["json"][1])["detected"]["source"] == "sysfs"
    assert all(results[fmt][0] == 0 for fmt in ("json", "explain", "compose", "k8s", "env"))
    # every source failed (the modules were refused like missing ones): no GPU
    assert results["fallthrough"][0] == 4
    assert {"amdsmi", "torch"} <= set(report["refused"])
    # start-up: the sysfs + docker path imports none of the heavier modules
    assert report["heavy_on_docker_path"] == []


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A venv with nothing installed (no pip, no aim_pick, no jinja2/yaml)."""
    folder = tmp_path_factory.mktemp("bare") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"
    for module in ("aim_pick", "jinja2", "yaml", "pip"):
        assert subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode != 0
    return python


def test_zipapp_runs_with_a_bare_python_on_its_embedded_api(host, built, bare_python):
    host.gpus([hosts.MI300X] * 8)
    pyz = built / "aim-pick.pyz"
    env = host.environment()
    env["PATH"] = "/usr/bin:/bin"
    env.pop("PYTHONPATH")
    done = subprocess.run(
        [bare_python, str(pyz), MODEL], capture_output=True, text=True, env=env, cwd=host.tmp, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("docker run ")
    assert done.stdout == host.pick(MODEL).out  # same build, read from the folder by the installed package
    assert done.stderr == ""  # the embedded catalogue: no fallback to ./build/api, nothing to warn about
    body = json.loads(
        subprocess.run(
            [bare_python, str(pyz), MODEL, "--format", "json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=host.tmp,
            timeout=60,
        ).stdout
    )
    assert (body["detected"]["gpu"], body["detected"]["count"], body["detected"]["source"]) == ("MI300X", 8, "sysfs")
    # no GPU: exit 4 from the zipapp too; an explicit --api still wins over the embedded copy
    empty = dict(env, AIM_SYSFS_ROOT=str(host.tmp / "none"))
    assert (
        subprocess.run(
            [bare_python, str(pyz), MODEL], capture_output=True, env=empty, cwd=host.tmp, timeout=60
        ).returncode
        == 4
    )
    missing = subprocess.run(
        [bare_python, str(pyz), MODEL, "--api", str(host.tmp / "none")],
        capture_output=True,
        env=env,
        cwd=host.tmp,
        timeout=60,
    )
    assert missing.returncode == 5


def test_zipapp_profiles_read_the_plan_bundles(host, built, bare_python):
    """The zipapp stores plans bundled per GPU type and model; --profile still finds any
    plan, and still refuses one for another GPU with the reason (exit 3)."""
    host.gpus([hosts.MI300X] * 8)
    env = host.environment()
    env["PATH"] = "/usr/bin:/bin"
    env.pop("PYTHONPATH")
    pyz = built / "aim-pick.pyz"

    def run(*args):
        return subprocess.run(
            [bare_python, str(pyz), MODEL, *args], capture_output=True, text=True, env=env, cwd=host.tmp, timeout=60
        )

    plans = {p.stem: json.loads(p.read_text()) for p in (built / "api" / "plans").glob("*.json")}
    own = next(
        pid for pid, p in plans.items() if p["model"] == MODEL and p["hardware"] == "MI300X" and p["gpu_count"] == 1
    )
    other = next(pid for pid, p in plans.items() if p["model"] == MODEL and p["hardware"] == "MI355X")
    done = run("--profile", own, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["plan"]["plan_id"] == own
    refused = run("--profile", other)
    assert refused.returncode == 3 and "is for MI355X" in refused.stderr
    assert run("--profile", "no-such-plan").returncode == 2


# Reads, inside the zipapp (its own reader, zipimport loader), every file of the embedded API and
# prints a digest of each parsed document by its published path.
EMBEDDED_DIGESTS = r"""
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
from aim_pick.contract import reader
api = reader.Api(None)
assert api.embedded is not None, "not reading the embedded copy"
def digest(doc):
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
out = {}
for name, entry in api.embedded.index.items():
    if name.startswith("plan-bundles/"):
        hw, slug = name[len("plan-bundles/"):].split("/")
        bundle = api.embedded.pack(name)
        first = min(bundle.index)  # the reader's own way in, for one plan of each bundle
        out[f"plans/{first}.json"] = digest(api.read_plan(first, hw, slug))
        for plan_id in bundle.index:
            out.setdefault(f"plans/{plan_id}.json", digest(json.loads(bundle.read(plan_id))))
    elif name != "plan-index.json":
        out[name] = digest(api.read(name))
print(json.dumps(out))
"""


def test_zipapp_embeds_every_published_api_file(built, bare_python):
    """The pack in front of the zip holds the whole API: every file under build/api, read back
    through aim-pick's own reader from the zipapp, is the published document; the zip itself
    holds only aim-pick's modules (zipimport reads its whole directory at every start)."""
    import hashlib
    import zipfile

    pyz = built / "aim-pick.pyz"
    done = subprocess.run(
        [bare_python, "-I", "-c", EMBEDDED_DIGESTS, str(pyz)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    embedded = json.loads(done.stdout)
    api = built / "api"
    published = {
        str(p.relative_to(api)): hashlib.sha256(
            json.dumps(json.loads(p.read_bytes()), sort_keys=True).encode()
        ).hexdigest()
        for p in api.rglob("*.json")
    }
    assert embedded == published
    with zipfile.ZipFile(pyz) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
    assert names[0] == "__main__.py" and all(n.startswith("aim_pick/") for n in names[1:])


@pytest.mark.parametrize("damage", ["magic", "index", "member"])
def test_a_damaged_zipapp_catalogue_is_exit_5_not_a_traceback(host, built, bare_python, tmp_path, damage):
    host.gpus([hosts.MI300X] * 8)
    env = host.environment()
    env["PATH"] = "/usr/bin:/bin"
    env.pop("PYTHONPATH")
    data = bytearray((built / "aim-pick.pyz").read_bytes())
    start = data.index(b"\n") + 1  # the pack follows the shebang line
    assert data[start : start + 8] == b"AIMPACK1"
    size = int.from_bytes(data[start + 8 : start + 16], "big")
    where = {"magic": start, "index": start + 16 + size // 2, "member": start + 16 + size + 10}[damage]
    data[where : where + 4] = b"\xff\x00\xff\x00"
    damaged = tmp_path / "aim-pick.pyz"
    damaged.write_bytes(bytes(data))
    done = subprocess.run(
        [bare_python, str(damaged), MODEL], capture_output=True, text=True, env=env, cwd=host.tmp, timeout=60
    )
    assert done.returncode == 5, done.stderr
    assert done.stderr.startswith("aim-pick: catalogue missing or corrupt") and "Traceback" not in done.stderr
