"""Captures beyond the parser that work the same for every engine.

* ``startup_deprecations``: options the engine's code says are deprecated when it starts
  (log/warning calls found by sourcescan), option -> messages;
* ``ad_hoc_env``: variables read with os.environ/getenv/helpers outside the registry;
* ``unused_env``: registry variables no code acts on (defined, never effectively read);
* ``environ_checks``: loops over os.environ testing a prefix (unknown-variable checks);
* ``files_read_at_launch``: options whose value the launch opens as a file before it parses argv;
* ``registry_entry``: the common shape of one ``registries`` entry;
* ``capture_logs`` / ``capture_warnings``: run engine code and keep what it says.

Only the standard library may be imported here: this runs inside the throw-away venv.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
import time
import warnings
from pathlib import Path

from . import sourcescan


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {package} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def modules(package: str) -> list[sourcescan.Module]:
    return list(sourcescan.iter_modules(package_dir(package), package))


def spelling_table(options: dict[str, dict]) -> dict[str, str]:
    """Every accepted spelling (name, aliases, negations) -> the option's primary name."""
    table = {}
    for name, opt in options.items():
        for spelling in (name, *opt.get("aliases", ()), *opt.get("negations", ())):
            table.setdefault(spelling, name)
    return table


def startup_deprecations(package: str, options: dict[str, dict]) -> dict:
    """Option -> deprecation messages its engine logs or warns at start-up (from the source)."""
    table = spelling_table(options)
    found: dict[str, list[dict]] = {}
    for module in modules(package):
        for message in sourcescan.deprecation_messages(module.tree):
            for option in sourcescan.deprecated_options(message.text, table):
                found.setdefault(option, []).append(
                    {"message": message.text, "source": f"{module.name}:{message.where}", "call": message.call}
                )
    for option in found:
        found[option] = sorted({(m["source"], m["message"]): m for m in found[option]}.values(), key=_by_source)
    return dict(sorted(found.items()))


def _by_source(item: dict) -> tuple:
    return item["source"], item["message"]


def ad_hoc_env(package: str, known: set[str], prefix: str | None = None) -> dict[str, list[str]]:
    """Variables read outside the registry: name -> reading modules (sorted)."""
    found: dict[str, set[str]] = {}
    for module in modules(package):
        for name in sourcescan.env_reads(module.tree):
            if name in known or (prefix and not name.startswith(prefix)):
                continue
            found.setdefault(name, set()).add(module.name)
    return {name: sorted(mods) for name, mods in sorted(found.items())}


def unused_env(package: str, names: set[str], registry_module: str) -> dict:
    """Registry variables nothing outside the registry acts on (sourcescan), less those whose
    name appears in a compiled file of the package (a binary may read them)."""
    unused = sourcescan.unused_registry_variables(modules(package), names, registry_module)
    root = package_dir(package)
    compiled = [p for p in sorted(root.rglob("*")) if p.is_file() and p.suffix not in (".py", ".pyc", ".pyi")]
    for path in compiled:
        if not unused:
            break
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for name in [n for n in unused if n.encode() in data]:
            del unused[name]
    return {
        "how": f"ast scan of the installed package outside {registry_module}: a variable is unused when no code "
        "refers to its name except to store its value in an attribute that only uncalled functions read; "
        "names found in the package's non-Python files (compiled code may read them) are left out",
        "variables": unused,
    }


def environ_checks(package: str) -> list[dict]:
    """Where the engine loops over os.environ looking for a prefix."""
    out = []
    for module in modules(package):
        for where, prefix in sourcescan.environ_prefix_loops(module.tree):
            out.append({"source": f"{module.name}:{where}", "prefix": prefix})
    return sorted(out, key=lambda d: (d["source"], d["prefix"]))


# A path no machine has: an option whose probe fails naming it opens its value as a file.
PROBE_FILE = "/nonexistent/aim-flagdump-probe/options.yaml"


def files_read_at_launch(options: dict[str, dict], launch, source: str) -> dict:
    """Options whose value the launch opens as a file while it reads the command line (vLLM's and
    SGLang's ``--config``): `launch(argv)` runs the engine's own argv handling on
    ``[option, PROBE_FILE]`` and returns what it raised (None: nothing). A missing file stops
    the launch, and the options in the file are out of sight of anything that reads argv."""
    found = {}
    for name, opt in sorted(options.items()):
        if opt.get("kind") != "value" or opt.get("type") != "str" or opt.get("choices") or opt.get("nargs"):
            continue
        raised = launch([name, PROBE_FILE])
        if raised and PROBE_FILE in raised:
            found[name] = {"missing_file": raised.replace(PROBE_FILE, "{path}")}
    return {
        "source": source,
        "how": "each str option given a path that does not exist, through the launch's own argv handling; "
        "listed when what it raised names the path",
        "options": found,
    }


def registry_entry(values, source: str, options: list[str], enforced: bool, **extra) -> dict:
    entry = {
        "values": sorted({str(v) for v in values}),
        "source": source,
        "options": sorted(options),
        "enforced_by_parser": enforced,
    }
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


class _Grab(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record):
        self.records.append(record.getMessage())


@contextlib.contextmanager
def capture_logs(*logger_names: str):
    """Collect log messages (root + the named loggers, which may not propagate)."""
    grab = _Grab()
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in logger_names)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(grab)
        lg.setLevel(logging.DEBUG)
    try:
        yield grab.records
    finally:
        for lg, level in zip(loggers, levels):
            lg.removeHandler(grab)
            lg.setLevel(level)


@contextlib.contextmanager
def capture_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        messages: list[str] = []
        yield messages
        messages.extend(str(w.message) for w in caught)


@contextlib.contextmanager
def environ(**values: str):
    """os.environ with `values` set, restored exactly afterwards."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def template(text: str, probe: str, placeholder: str = "{name}") -> str:
    """A captured message with the probe value put back as a placeholder."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text).replace(probe, placeholder)


@contextlib.contextmanager
def timed(what: str):
    """Report on stderr how long a capture took (the snapshot itself has no timings)."""
    t0 = time.monotonic()
    print(f"capture {what} ...", file=sys.stderr, flush=True)
    yield
    print(f"capture {what}: {time.monotonic() - t0:.1f}s", file=sys.stderr, flush=True)


def home_relative(value):
    """`value` with the (throw-away) home directory written as ``~``: defaults computed
    from HOME at import time must not make the snapshot depend on the temp dir."""
    home = os.path.expanduser("~")
    if isinstance(value, str) and home not in ("~", "/") and value.startswith(home):
        return "~" + value[len(home) :]
    if isinstance(value, list):
        return [home_relative(v) for v in value]
    if isinstance(value, dict):
        return {k: home_relative(v) for k, v in value.items()}
    return value
