#!/usr/bin/env python3
"""Snapshot the real command-line parser of a released vLLM / SGLang wheel as JSON.

The recipe compiler validates the engine flags a recipe uses against
``compiler/aim_engine/data/flags/<engine>-<version>.json``. Those files must
describe what the released engine *really* accepts, so this script never
types a flag by hand: it installs the pinned wheel from PyPI into a throwaway
virtualenv and asks the engine's own argument parser what it registered.

How to refresh a snapshot for a new release
--------------------------------------------
1. Run, from the repository root (needs PyPI access, no GPU)::

       python scripts/dump_engine_flags.py vllm 0.34.0
       python scripts/dump_engine_flags.py sglang 0.5.24

   The venv lands in ``/tmp/aim-engine-flags/<engine>-<version>`` (``--venv``
   to change it; it is reused when it exists, so a second run only re-dumps)
   and the JSON in ``compiler/aim_engine/data/flags/`` (``--out``).
2. If the inner run dies with ``ModuleNotFoundError: No module named 'X'``
   (or prints ``warning: ... TYPE_CHECKING import of X failed``, which costs
   an option its list of known values): if X is a small pure-Python package,
   add it to that engine's ``light_deps`` below; if it is a heavy/native one
   (GPU kernels, torch extensions, media codecs), add it to ``fake_modules``
   instead. Never fake a module the engine uses to *detect hardware* (amdsmi,
   pynvml, ...): a fake one makes it believe a GPU exists, which changes
   defaults and choices.
3. If the engine moved the code that builds its parser, update
   ``_build_vllm_parser`` / ``_build_sglang_parser`` so they keep doing what the
   real launch command does (their docstrings say which code they mirror).
4. Diff the new JSON against the previous release's file: removed options and
   new deprecations are exactly what the compiler's recipes need to hear about.
   Re-running the same version must give a byte-identical file.

How it works
------------
The outer run (system Python) creates the venv, ``pip install --no-deps`` the
engine wheel (its real dependency set includes torch and several GB of CUDA /
ROCm kernels we do not need to *parse arguments*), then installs the few light
pure-Python packages the parser's import chain touches, pinned with the
engine's own ``Requires-Dist`` specifiers where it declares them.

It then re-runs this same file inside the venv with the hidden ``--_inner``
flag and a scrubbed environment (engines read dozens of env vars, some of which
change defaults or choice lists). The inner run installs a ``sys.meta_path``
finder that serves permissive fake modules for an explicit list of heavy
packages (torch, triton, ...), builds the parser exactly like the engine's
launch command does, and serialises every option.

Expected noise: pip's list of engine requirements left out (hidden by this
script, only counted) and vLLM's "Failed to import from vllm._C_AVX2" (no
native extensions in the venv). Neither changes the snapshot.

Only the standard library may be imported at module level: the inner run
executes this file with the venv's interpreter.

Reading the output
------------------
One entry per argparse option, keyed by its first long spelling. Notes for
consumers:

* ``choices_source`` tells how binding ``choices`` is. ``argparse``: the
  engine rejects anything else. ``metavar`` / ``literal`` / ``typing``: the
  engine's list of known values (from the help metavar, a Literal type, or the
  Literal annotation of the config field behind the option) while still
  accepting other strings (plugins, custom methods); warn, don't reject.
* ``kind: "bool"`` options accept ``--x`` and ``negation`` (``--no-x``).
  vLLM (0.33.0 at least) also pairs ``--enable-x`` with ``--disable-x`` (and vice
  versa) on the same option; that inverse sets the opposite value, so it is
  not an alias: ``negations`` lists every "off" spelling the parser accepts.
* vLLM also accepts ``_`` for ``-`` in every long option, and ``-O<n>`` for
  ``--optimization-level <n>``, by rewriting argv before argparse runs;
  neither is registered with the parser, so neither is listed.
* ``default`` is the parser's default, taken on a CPU-only platform (no GPU
  is probed). Many are None and only resolved at startup from the real
  device and model.
"""

from __future__ import annotations

import abc
import argparse
import ast
import collections.abc
import dataclasses
import enum
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import inspect
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import types
import typing
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "compiler" / "aim_engine" / "catalogue" / "data" / "flags"
DEFAULT_VENV_ROOT = Path(tempfile.gettempdir()) / "aim-engine-flags"
GENERATED_BY = "scripts/dump_engine_flags.py"


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    package: str  # PyPI distribution name
    command: str  # the launch command whose parser we snapshot
    # Pure-Python packages the parser's import chain needs. Installed WITH
    # their dependencies, pinned by the engine's Requires-Dist when it has one
    # (an entry may carry its own specifier instead: "fastapi<0.137").
    light_deps: tuple[str, ...]
    # Heavy modules served by the fake-module finder. Keep this an explicit
    # list: faking "whatever is missing" would also fake hardware probes.
    fake_modules: tuple[str, ...]
    # Environment of the inner run on top of the scrubbed base environment.
    env: dict[str, str]
    # Fake modules that must also look *installed* to importlib.metadata
    # (version gates call importlib.metadata.version("torch")). Their version
    # is the engine's own `==` pin from Requires-Dist.
    fake_distributions: tuple[str, ...] = ()
    # Whether `Deprecated*Action`s are side-effect free (they only warn or
    # call parser.error), so firing one captures the engine's exact message.
    fire_deprecated_actions: bool = False


ENGINES: dict[str, EngineSpec] = {
    "vllm": EngineSpec(
        package="vllm",
        command="vllm serve",
        # Each one is imported on the way to make_arg_parser (checked for
        # 0.33.0 by blocking it: the build fails, or for einops, the
        # --load-format choices go missing).
        light_deps=(
            "aiohttp",
            "cachetools",
            "cbor2",
            "cloudpickle",
            "einops",
            "fastapi",
            "filelock",
            "huggingface_hub",
            "msgspec",
            "numpy",
            "openai",
            # vLLM >= 0.33 depends on this fork; it provides `openai_harmony`.
            "oss-harmony",
            "packaging",
            "partial-json-parser",
            "pillow",
            "prometheus_client",
            "psutil",
            "py-cpuinfo",
            "pybase64",
            "pydantic",
            "pyyaml",
            "pyzmq",
            "regex",
            "requests",
            "safetensors",
            "tqdm",
            "typing_extensions",
            "uvloop",
        ),
        # Imported unconditionally by the parser's import chain. Other heavy
        # deps (triton, scipy, cv2, torchvision, ...) are import-guarded in
        # vLLM and leave the snapshot unchanged whether faked or absent.
        fake_modules=("torch", "transformers", "xgrammar", "llguidance"),
        # Without a target device vLLM probes for CUDA/ROCm libraries; pin the
        # platform so the snapshot does not depend on the machine it ran on.
        env={"VLLM_TARGET_DEVICE": "cpu"},
        fake_distributions=("torch",),
    ),
    "sglang": EngineSpec(
        package="sglang",
        command="python3 -m sglang.launch_server",
        # Checked for 0.5.23 as for vLLM. Not needed, though SGLang imports
        # them when present: fastapi, uvloop, openai, transformers (never
        # *fake* transformers: SGLang patches PretrainedConfig at import).
        light_deps=(
            "aiohttp",
            "msgspec",
            "numpy",
            "orjson",
            "packaging",
            "pillow",
            "psutil",
            "pybase64",
            "pydantic",
            "pyzmq",
            "requests",
            "starlette",
            "tqdm",
        ),
        fake_modules=("torch", "triton", "IPython"),
        env={},
        fire_deprecated_actions=True,
    ),
}

# Attributes of fake modules that must be real values rather than fakes,
# because engine code does string/version arithmetic on them at import time.
# `_ABSENT` makes an attribute (and the submodule of that name) not exist.
_ABSENT = object()


def _fake_overrides(engine: str, torch_version: str) -> dict[str, object]:
    overrides = {
        # Parsed with packaging.version at import time (SGLang).
        "torch.__version__": torch_version,
        # Not a CUDA, ROCm or MUSA build: device probes take their CPU branch
        # (a fake object here would be truthy, i.e. "this is a HIP build").
        "torch.version.cuda": None,
        "torch.version.hip": None,
        "torch.version.musa": None,
        "torch.library.infer_schema": _infer_schema,
    }
    if engine == "sglang":
        # SGLang treats `hasattr(torch, "npu")` as "torch_npu is installed"
        # and then fails: "NPU device is not available or visible".
        overrides["torch.npu"] = _ABSENT
    return overrides


# ---------------------------------------------------------------------------
# Outer run: venv + pip + launching the inner run
# ---------------------------------------------------------------------------


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", shlex.join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


# After a --no-deps install pip lists every engine requirement we skipped on
# purpose (torch, kernels, ...). Expected; hide it, keep anything else.
_SKIPPED_DEP_NOISE = re.compile(
    r"^(?:ERROR: pip's dependency resolver does not currently take into account"
    r"|\S+ \S+ requires .*, which is not installed\.$)"
)


def _pip(cmd: list[str]) -> None:
    print("+", shlex.join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = (proc.stdout + proc.stderr).splitlines()
    if proc.returncode != 0:
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(f"pip failed ({proc.returncode})")
    skipped = [line for line in lines if _SKIPPED_DEP_NOISE.match(line)]
    for line in lines:
        if line not in skipped:
            print(line)
    n_skipped = sum(" requires " in line for line in skipped)
    if n_skipped:
        print(f"  ({n_skipped} engine requirements left out on purpose)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pinned_light_deps(spec: EngineSpec, requires: list[str]) -> list[str]:
    """Pin each light dep with the engine's own specifier when it has one.

    The engine's Requires-Dist already encodes which versions its imports
    work with (e.g. vLLM 0.33 wants fastapi<0.137), so reusing it keeps the
    venv close to a real install without pulling the heavy packages. Extras
    (``fastapi[standard]``) are dropped to stay light; markers are kept, pip
    evaluates them.
    """
    declared: dict[str, str] = {}
    for req in requires:
        if "extra ==" in req:  # optional extras of the engine: not installed
            continue
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)", req)
        if m:
            declared.setdefault(_norm(m.group(1)), m.group(3).strip())
    pinned = []
    for dep in spec.light_deps:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", dep):  # carries its own specifier
            pinned.append(dep)
            continue
        rest = declared.get(_norm(dep), "")
        pinned.append(f"{dep}{rest}" if rest.startswith(("<", ">", "=", "!", "~", ";")) else dep)
    return pinned


def _inner_env(spec: EngineSpec, home: Path) -> dict[str, str]:
    """A scrubbed environment: engines read env vars that change defaults.

    Nothing of the caller's environment is inherited except PATH's system
    part; HOME points to an empty directory so no user config file
    (~/.config/vllm, HF caches, ...) leaks into the snapshot.
    """
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        # Help texts are wrapped to the terminal width in some places.
        "COLUMNS": "100",
        # Belt and braces: nothing here should touch the network.
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }
    env.update(spec.env)
    return env


def outer_main(args: argparse.Namespace) -> int:
    spec = ENGINES[args.engine]
    venv = Path(args.venv) if args.venv else DEFAULT_VENV_ROOT / f"{args.engine}-{args.version}"
    out_dir = Path(args.out)
    out_file = out_dir / f"{args.engine}-{args.version}.json"
    py = venv / "bin" / "python"

    t0 = time.monotonic()
    if not py.exists():
        _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # --only-binary: we want the released wheel, never an sdist build.
    _pip(pip + ["--only-binary", ":all:", "--no-deps", f"{spec.package}=={args.version}"])
    requires = json.loads(
        subprocess.run(
            [
                str(py),
                "-c",
                f"import importlib.metadata as m, json, sys;print(json.dumps(m.requires({spec.package!r}) or []))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    _pip(pip + ["--only-binary", ":all:"] + _pinned_light_deps(spec, requires))
    t_install = time.monotonic() - t0

    out_dir.mkdir(parents=True, exist_ok=True)
    t1 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aim-flags-home-") as home:
        tmp_out = Path(home) / "out.json"
        _run(
            # -s: no user site-packages; -P-like safety comes from running a
            # file by absolute path with a venv interpreter.
            [
                str(py),
                "-s",
                str(Path(__file__).resolve()),
                "--_inner",
                args.engine,
                args.version,
                "--out",
                str(tmp_out),
            ],
            env=_inner_env(spec, Path(home)),
            cwd=home,  # keep the repo (and any ./vllm checkout) off sys.path
        )
        data = tmp_out.read_text()
    out_file.write_text(data)
    t_dump = time.monotonic() - t1

    snap = json.loads(data)
    n_bool = sum(1 for o in snap["options"].values() if o["kind"] == "bool")
    n_dep = sum(1 for o in snap["options"].values() if o["deprecated"])
    print(
        f"wrote {out_file}: {snap['option_count']} options "
        f"({n_bool} bool, {n_dep} deprecated); "
        f"install {t_install:.1f}s, dump {t_dump:.1f}s"
    )
    return 0


# ---------------------------------------------------------------------------
# Inner run, part 1: fake heavy modules
# ---------------------------------------------------------------------------


def _is_fake_class(obj) -> bool:
    return isinstance(obj, type) and "_aim_fake_path" in vars(obj)


def _returns_wrapped(args, kwargs) -> bool:
    """Whether a call on a fake looks like bare decorator use: ``@fake``."""
    return (
        len(args) == 1
        and not kwargs
        and (inspect.isfunction(args[0]) or inspect.isclass(args[0]) or inspect.ismethod(args[0]))
    )


class _FakeMeta(abc.ABCMeta):
    """Metaclass of every fake attribute.

    Fake attributes are *classes* so engine code can subclass them
    (``class X(torch.nn.Module)``, ``class Y(ABC, torch.autograd.Function)``
    — hence ABCMeta) and use them in annotations (``torch.Tensor | None``).
    Calling one acts like calling a function: bare decorator use returns the
    decorated object, anything else returns a fake instance.
    """

    def __getattr__(cls, attr):
        if not _is_fake_class(cls):  # real subclasses of fakes: normal classes
            raise AttributeError(attr)
        path = f"{cls._aim_fake_path}.{attr}"
        if attr.startswith("__") and path not in _FAKE_OVERRIDES:
            raise AttributeError(attr)
        return _fake_attr(path)

    def __call__(cls, *args, **kwargs):
        if _is_fake_class(cls) and _returns_wrapped(args, kwargs):
            return args[0]
        return super().__call__(*args, **kwargs)

    def __getitem__(cls, item):  # torch.Tensor[...] in annotations
        return cls

    def __repr__(cls):
        path = vars(cls).get("_aim_fake_path")
        return f"<fake {path}>" if path else super().__repr__()

    # Numeric-looking module constants (torch.finfo(...).max, -math.inf-ish
    # tricks) are used in class bodies; make the usual operators harmless.
    def __neg__(cls):
        return cls

    __pos__ = __abs__ = __invert__ = __neg__

    def __add__(cls, other):
        return cls

    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __add__
    __rtruediv__ = __floordiv__ = __pow__ = __mod__ = __and__ = __rand__ = __add__

    # Enum-like constants: int(torch.distributed.ReduceOp.SUM).
    def __int__(cls):
        return 0

    __index__ = __int__

    def __float__(cls):
        return 0.0


class _Fake(metaclass=_FakeMeta):
    """Instances: results of calling a fake (``torch.cuda.device_count()``)."""

    _aim_fake_path = "fake"

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _fake_attr(f"{type(self)._aim_fake_path}().{attr}")

    def __call__(self, *args, **kwargs):
        # `@torch.library.custom_op("x", mutates_args=())` -> instance -> call(fn)
        if _returns_wrapped(args, kwargs):
            return args[0]
        return _Fake()

    def __repr__(self):
        return f"<fake {type(self)._aim_fake_path}()>"

    # Falsy and zero-like: `if torch.cuda.is_available():` must say "no GPU".
    def __bool__(self):
        return False

    def __len__(self):
        return 0

    def __iter__(self):
        return iter(())

    def __int__(self):
        return 0

    __index__ = __int__

    def __float__(self):
        return 0.0

    def __getitem__(self, item):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __neg__(self):
        return self

    __pos__ = __abs__ = __invert__ = __neg__

    def __add__(self, other):
        return self

    __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __add__
    __rtruediv__ = __floordiv__ = __pow__ = __mod__ = __or__ = __ror__ = __add__
    __and__ = __rand__ = __matmul__ = __add__

    def __lt__(self, other):
        return False

    __le__ = __gt__ = __ge__ = __lt__
    __hash__ = object.__hash__


_FAKE_OVERRIDES: dict[str, object] = {}
_FAKE_CACHE: dict[str, object] = {}


def _fake_attr(path: str):
    if path in _FAKE_OVERRIDES:
        value = _FAKE_OVERRIDES[path]
        if value is _ABSENT:
            raise AttributeError(path)
        return value
    module = sys.modules.get(path)
    if isinstance(module, _FakeModule):  # `torch.cuda` after `import torch.cuda`
        return module
    if path not in _FAKE_CACHE:  # stable identity: torch.Tensor is torch.Tensor
        name = path.rsplit(".", 1)[-1]
        _FAKE_CACHE[path] = _FakeMeta(name, (_Fake,), {"_aim_fake_path": path})
    return _FAKE_CACHE[path]


class _FakeModule(types.ModuleType):
    def __getattr__(self, attr):
        path = f"{self.__name__}.{attr}"
        if attr.startswith("__") and path not in _FAKE_OVERRIDES:  # __version__ is
            raise AttributeError(attr)
        return _fake_attr(path)


class _FakeDistribution(importlib.metadata.Distribution):
    """Minimal installed-package metadata for a faked package."""

    def __init__(self, name: str, version: str):
        self._text = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"

    def read_text(self, filename):
        return self._text if filename in ("METADATA", "PKG-INFO") else None

    def locate_file(self, path):
        return Path(os.devnull)


class _FakeFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `_FakeModule`s for an explicit list of top-level packages."""

    def __init__(self, roots, distributions=None):
        self.roots = frozenset(roots)
        self.distributions = dict(distributions or {})

    def find_distributions(self, context=None):
        name = getattr(context, "name", None)
        names = self.distributions if name is None else [n for n in self.distributions if _norm(n) == _norm(name)]
        return iter([_FakeDistribution(n, self.distributions[n]) for n in names])

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] not in self.roots:
            return None
        if _FAKE_OVERRIDES.get(fullname) is _ABSENT:
            return None  # falls through to a genuine ModuleNotFoundError
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec):
        module = _FakeModule(spec.name)
        module.__path__ = []  # a package, so submodule imports work
        return module

    def exec_module(self, module):
        pass


_SCHEMA_SCALARS = {int: "int", float: "float", bool: "bool", str: "str"}
_SCHEMA_FAKES = {
    "Tensor": "Tensor",
    "SymInt": "SymInt",
    "dtype": "ScalarType",
    "device": "Device",
    "memory_format": "MemoryFormat",
}


def _schema_type(ann) -> str:
    """Torch schema spelling of one (evaluated) annotation, best effort."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if ann is None or ann is type(None):
        return "()"
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        base = _schema_type(inner[0]) if len(inner) == 1 else "Any"
        return base + "?" if type(None) in args else base
    if origin is tuple:
        return "(" + ", ".join(_schema_type(a) for a in args if a is not Ellipsis) + ")"
    if origin in (list, collections.abc.Sequence):
        return f"{_schema_type(args[0]) if args else 'Any'}[]"
    if ann in _SCHEMA_SCALARS:
        return _SCHEMA_SCALARS[ann]
    if _is_fake_class(ann):
        return _SCHEMA_FAKES.get(ann.__name__, "Any")
    if isinstance(ann, str):  # unevaluated annotation
        return "Tensor" if "Tensor" in ann else "Any"
    return "Any"


def _infer_schema(fn, *args, mutates_args=(), op_name=None, **kwargs) -> str:
    """Stand-in for ``torch.library.infer_schema``.

    vLLM concatenates the result into an op definition at import time and
    inspects it (counts the Tensors it returns), so it must be a real
    ``(Tensor(a!) x, int y) -> (Tensor, Tensor)`` string; the fake
    ``Library.define`` that receives it ignores it.
    """
    try:
        sig = inspect.signature(fn, eval_str=True)
    except Exception:  # unresolvable string annotations: keep them as text
        sig = inspect.signature(fn)
    mutated = set(mutates_args) if not isinstance(mutates_args, str) else set()
    params = []
    for name, p in sig.parameters.items():
        t = _schema_type(p.annotation) if p.annotation is not p.empty else "Any"
        if name in mutated and t.startswith("Tensor"):
            t = t.replace("Tensor", "Tensor(a!)", 1)
        params.append(f"{t} {name}")
    ret = sig.return_annotation
    ret_s = "()" if ret is sig.empty else _schema_type(ret)
    return f"({', '.join(params)}) -> {ret_s}"


def _install_fakes(engine: str, spec: EngineSpec) -> None:
    # Report the versions the engine was built against (its `==` pins), so
    # version gates (`is_torch_equal_or_newer(...)`) take the released path.
    pins = {}
    for req in importlib.metadata.requires(spec.package) or []:
        m = re.match(r"([A-Za-z0-9._-]+)\s*==\s*([0-9][^;,\s]*)", req)
        if m and "extra ==" not in req:
            pins.setdefault(_norm(m.group(1)), m.group(2))
    torch_version = pins.get("torch", "2.0.0")
    _FAKE_OVERRIDES.update(_fake_overrides(engine, torch_version))
    dists = {name: pins.get(_norm(name), "0") for name in spec.fake_distributions}
    sys.meta_path.insert(0, _FakeFinder(spec.fake_modules, dists))


# ---------------------------------------------------------------------------
# Inner run, part 2: build the real parsers
# ---------------------------------------------------------------------------


def _build_vllm_parser():
    """Mirror ``vllm serve``: vllm/entrypoints/cli/main.py + cli/serve.py.

    The root FlexibleArgumentParser gets a ``serve`` subparser, which
    ``make_arg_parser`` fills. We take the serve subparser: it is the one that
    parses the options of ``vllm serve <model> [options]``.
    """
    # vLLM only collects per-field help text when "--help" appears in argv
    # (vllm/engine/arg_utils.py: NEEDS_HELP, evaluated at import), and it
    # hides `--model` from `serve --help` (exact "--help" token only). The
    # `--help=all` spelling gets us the help texts AND the `--model` option a
    # real `vllm serve` accepts. Must be set before the first vllm import.
    sys.argv = ["vllm", "serve", "--help=all"]
    from vllm.entrypoints.common.cli_args import make_arg_parser
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    # ServeSubcommand.subparser_init (cli/serve.py) does exactly this, but
    # importing that module drags in the whole HTTP server (uvicorn, ...);
    # description/epilog, the only other things it sets, are not options.
    root = FlexibleArgumentParser(description="vLLM CLI")
    subparsers = root.add_subparsers(required=False, dest="subparser")
    serve = subparsers.add_parser("serve", usage="vllm serve [model_tag] [options]")
    return make_arg_parser(serve)


def _vllm_typing_choices(action: argparse.Action, group: str | None):
    """Known values for str options whose config field is typed with a Literal.

    vLLM names each argument group after the config dataclass it comes from
    (``ModelConfig``, ``CacheConfig``, ...). Some fields are annotated with a
    Literal that argparse never sees, e.g.
    ``ModelConfig.quantization: QuantizationMethods | str | None``: it gets
    plain ``str`` (plugins may register more methods), but the Literal is the
    list of built-in values, which is what a recipe should normally use.
    """
    if not group:
        return None
    import vllm.config
    from vllm.entrypoints.common import cli_args

    # "Frontend" options come from cli_args.FrontendArgs, the rest from the
    # vllm.config class the group is named after.
    cls = getattr(vllm.config, group, None) or getattr(cli_args, f"{group}Args", None)
    return _dataclass_literal(cls, action.dest)


def _dataclass_literal(cls, field_name: str):
    """Literal values in the annotation of ``cls.<field_name>``, if any."""
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    field = next((f for f in dataclasses.fields(cls) if f.name == field_name), None)
    if field is None:
        return None
    values = _literal_values(field.type)
    if values is None:
        # The Literal may only exist for type checkers: vLLM imports e.g.
        # QuantizationMethods / LoadFormats under `if TYPE_CHECKING:` and
        # binds the name to `str` at runtime (to avoid import cycles).
        values = _literal_values(_type_checking_annotation(cls, field.name))
    return values


def _type_checking_annotation(cls, field_name: str):
    """Evaluate a field's annotation as a type checker would.

    Re-reads the source of the class that declares the field, runs the
    imports of its module's ``if TYPE_CHECKING:`` blocks, and evaluates the
    annotation text with them. Returns None when anything is missing.
    """
    for klass in cls.__mro__:
        if field_name not in vars(klass).get("__annotations__", {}):
            continue
        parsed = _type_checking_namespace(klass.__module__)
        if parsed is None:
            return None
        tree, namespace, failed = parsed
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ClassDef) and node.name == klass.__name__):
                continue
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.AnnAssign)
                    and isinstance(stmt.target, ast.Name)
                    and stmt.target.id == field_name
                ):
                    used = {n.id for n in ast.walk(stmt.annotation) if isinstance(n, ast.Name)}
                    for name in sorted(used & failed.keys()):
                        # Usually a light dep missing from ENGINES[...].light_deps.
                        print(
                            f"warning: {klass.__name__}.{field_name}: TYPE_CHECKING "
                            f"import of {name} failed: {failed[name]}",
                            file=sys.stderr,
                        )
                    try:
                        return eval(ast.unparse(stmt.annotation), namespace)
                    except Exception:
                        return None
        return None
    return None


@functools.cache
def _type_checking_namespace(module_name: str):
    """(AST, globals + TYPE_CHECKING imports, {name: error}) of a module."""
    module = sys.modules.get(module_name)
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError):
        return None
    namespace = dict(vars(module))
    failed: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")):
            continue
        for stmt in node.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)):
                try:
                    exec(
                        compile(ast.Module([stmt], []), module.__file__, "exec"),
                        namespace,
                    )
                except Exception as e:
                    for alias in stmt.names:
                        failed[alias.asname or alias.name.split(".")[0]] = repr(e)
    return tree, namespace, failed


def _literal_values(hint):
    """All Literal members inside a (possibly Optional/Union/Annotated) hint."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return list(typing.get_args(hint))
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        values = []
        for arg in typing.get_args(hint):
            values.extend(_literal_values(arg) or [])
        return values or None
    return None


def _build_sglang_parser():
    """Mirror ``python3 -m sglang.launch_server``.

    sglang/launch_server.py calls ``prepare_server_args(sys.argv[1:])``
    (sglang/srt/server_args.py), which builds
    ``argparse.ArgumentParser(prog="sglang serve")`` and calls
    ``ServerArgs.add_cli_args`` on it. ``load_plugins()`` runs before that in
    launch_server, but only entry-point plugins could add options and a bare
    wheel ships none.
    """
    sys.argv = ["sglang.launch_server"]
    from sglang.srt.server_args import ServerArgs

    parser = argparse.ArgumentParser(prog="sglang serve")
    ServerArgs.add_cli_args(parser)
    return parser


def _sglang_typing_choices(action: argparse.Action, group: str | None):
    """Literal-typed ServerArgs fields whose option has no argparse choices."""
    from sglang.srt.server_args import ServerArgs

    return _dataclass_literal(ServerArgs, action.dest)


BUILDERS = {"vllm": _build_vllm_parser, "sglang": _build_sglang_parser}
TYPING_CHOICES = {"vllm": _vllm_typing_choices, "sglang": _sglang_typing_choices}


# ---------------------------------------------------------------------------
# Inner run, part 3: serialise the parser
# ---------------------------------------------------------------------------

# Closures that only wrap another type callable (vLLM's optional_type /
# parse_type): we report the callable they wrap.
_WRAPPER_NAMES = {"_optional_type", "_parse_type"}


def _unwrap_type(fn):
    for _ in range(5):
        if isinstance(fn, types.FunctionType) and fn.__name__ in _WRAPPER_NAMES and fn.__closure__:
            inner = [c.cell_contents for c in fn.__closure__ if callable(c.cell_contents)]
            if len(inner) == 1:
                fn = inner[0]
                continue
        if isinstance(fn, functools.partial):
            fn = fn.func
            continue
        break
    return fn


def _type_name(fn) -> str | None:
    if fn is None:
        return None
    if typing.get_origin(fn) is typing.Literal:
        return "Literal"
    return getattr(fn, "__name__", None) or type(fn).__name__


def _type_category(fn, kind: str) -> str:
    if kind in ("flag", "bool"):
        return "bool"
    if kind == "count":
        return "int"
    if fn is None:
        return "str"
    if typing.get_origin(fn) is typing.Literal:
        members = typing.get_args(fn)
        if members and all(isinstance(m, bool) for m in members):
            return "bool"
        if members and all(isinstance(m, int) for m in members):
            return "int"
        return "str"
    name = (_type_name(fn) or "").lower()
    if fn is int:
        return "int"
    if fn is float:
        return "float"
    if fn is str:
        return "str"
    if fn is bool or name in ("str2bool", "strtobool", "bool_type", "parse_bool"):
        return "bool"
    if "human_readable_int" in name:
        return "human_int"
    if fn is json.loads or "json" in name or name in ("loads", "parse_dataclass", "union_dict_and_str"):
        return "json"
    if fn is Path or "path" in name:
        return "path"
    return "str"


def _kind(action: argparse.Action) -> str:
    if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
        return "help"
    if isinstance(action, argparse.BooleanOptionalAction):
        return "bool"
    if isinstance(action, argparse._CountAction):
        return "count"
    if action.nargs == 0:  # store_true/false/const and custom 0-arg actions
        return "flag"
    return "value"


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _jsonable(value, depth: int = 0):
    """JSON-serialisable, deterministic rendering of a default value."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, enum.Enum):
        return _jsonable(value.value, depth + 1)
    if depth > 6:
        return _ADDRESS.sub("", repr(value))
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):  # engines use sets: sort them
        return sorted(
            (_jsonable(v, depth + 1) for v in value),
            key=lambda v: json.dumps(v, sort_keys=True),
        )
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name, None), depth + 1) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump") and not isinstance(value, type):  # pydantic
        try:
            return _jsonable(value.model_dump(mode="json"), depth + 1)
        except Exception:
            pass
    return _ADDRESS.sub("", repr(value))


def _choices_list(values) -> list[str]:
    """Sorted, de-duplicated strings; None (vLLM appends it for Optionals) dropped."""
    out = set()
    for v in values:
        if v is None:
            continue
        out.add(str(v.value) if isinstance(v, enum.Enum) else str(v))
    return sorted(out)


def _choices(action: argparse.Action, engine: str, group: str | None):
    if action.choices:
        return _choices_list(action.choices), "argparse"
    metavar = action.metavar
    # "{a,b,c}", possibly followed by prose such as vLLM's
    # "{hermes,...} or name registered in --tool-parser-plugin".
    m = re.match(r"\s*\{([^{}]+)\}", metavar) if isinstance(metavar, str) else None
    if m:
        return _choices_list(x.strip() for x in m.group(1).split(",")), "metavar"
    if isinstance(metavar, list) and len(metavar) > 1:
        # vLLM's literal_to_kwargs puts the Literal values in the metavar when
        # the field also accepts any str (so argparse cannot enforce them).
        # (A *tuple* metavar is argparse's way to name nargs=N values.)
        return _choices_list(metavar), "metavar"
    fn = _unwrap_type(action.type)
    if typing.get_origin(fn) is typing.Literal:
        return _choices_list(typing.get_args(fn)), "literal"
    lookup = TYPING_CHOICES.get(engine)
    values = lookup(action, group) if lookup else None
    if values:
        return _choices_list(values), "typing"
    return None, None


_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)(?<!\bapprox)\.(?=\s|$)")
# Help texts start lists/paragraphs with a blank line or "\n- ": the summary
# is what comes before.
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\n\s*(?:[-*+]|\d+\.)\s")


def _clean_help(text) -> str | None:
    """Help text as argparse would print it, minus the %-escaping."""
    if not text or text == argparse.SUPPRESS:
        return None
    return str(text).replace("%%", "%").strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _first_sentence(text: str | None, limit: int = 200) -> str | None:
    if not text:
        return None
    para = _one_line(_PARAGRAPH_BREAK.split(text, maxsplit=1)[0])
    m = _SENTENCE_END.search(para)
    return _clip(para[: m.end()] if m else para, limit)


# A help sentence flags the option itself as deprecated when it starts with
# "Deprecated" ("Deprecated: ...", "(Deprecated, use --x)", "[DEPRECATED]"),
# or names the option (or says "this option") AND uses "deprecated" as a verb
# ("--x is deprecated", "x will be deprecated", "deprecated and ...").
# Not matched, on purpose: "allow deprecated quantization methods" (vLLM
# --allow-deprecated-quantization), "the fallback to that flag ... is
# deprecated" (SGLang --unified-cache-external-linker-config).
_STARTS_DEPRECATED = re.compile(r"^\W*deprecated\b", re.IGNORECASE)
_DEPRECATED_VERB = re.compile(
    r"\b(?:is|are|was|were|been|be|being|now)\s+(?:now\s+)?deprecated\b"
    r"|\bdeprecated\s*[:;)\]]"
    r"|\bdeprecated\s+(?:and|in\s+favou?r|since|as\s+of)\b",
    re.IGNORECASE,
)
_THIS_OPTION = re.compile(r"\bthis\s+(?:option|flag|argument|parameter|field)\b", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    text, out, start = _one_line(text), [], 0
    for m in list(_SENTENCE_END.finditer(text)) + [None]:
        end = m.end() if m else len(text)
        if text[start:end].strip():
            out.append(text[start:end].strip())
        start = end
    return out


def _deprecation_sentence(text: str | None, names: list[str]) -> str | None:
    """The help sentence that says this option is deprecated, if any."""
    if not text:
        return None
    sentences = _sentences(text)
    for i, sentence in enumerate(sentences):
        about_self = _THIS_OPTION.search(sentence) or any(
            re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", sentence) for n in names
        )
        if _STARTS_DEPRECATED.search(sentence) or (about_self and _DEPRECATED_VERB.search(sentence)):
            if len(sentence) < 20 and i + 1 < len(sentences):
                # "Deprecated." alone says nothing: keep the "Use X" after it.
                sentence = f"{sentence} {sentences[i + 1]}"
            return _clip(sentence, 300)
    return None


class _ParserError(Exception):
    pass


class _CapturingParser(argparse.ArgumentParser):
    def error(self, message):
        raise _ParserError(message)


def _fire_deprecated_action(action: argparse.Action, option: str) -> str | None:
    """Run a ``Deprecated*Action`` once and capture the warning/error it emits.

    That is the exact text an operator sees, from the engine's own code, so we
    do not re-word it here.
    """
    records: list[str] = []

    class _Grab(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler = _Grab(level=logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # Loggers of the engine may not propagate: hook the action's module too.
    mod_logger = logging.getLogger(type(action).__module__)
    mod_logger.addHandler(handler)
    try:
        values = [] if action.nargs in ("*", "+") else (None if action.nargs == 0 else "x")
        action(_CapturingParser(add_help=False), argparse.Namespace(), values, option)
    except _ParserError as e:
        records.append(str(e))
    except Exception:
        pass
    finally:
        root.removeHandler(handler)
        mod_logger.removeHandler(handler)
        root.setLevel(old_level)
    # The same record may reach both handlers (module logger + root).
    unique = dict.fromkeys(_one_line(re.sub(r"\x1b\[[0-9;]*m", "", r)) for r in records)
    return " ".join(u for u in unique if u) or None


def _deprecation(action, parser, option, help_text, engine) -> tuple[bool, str | None]:
    names = [*action.option_strings, action.dest]
    # 1. Dedicated action classes (SGLang's Deprecated*Action family; vLLM has
    #    one too, DeprecatedLogConfigFileAction, whose help says it all).
    if type(action).__name__.startswith("Deprecated"):
        fired = _fire_deprecated_action(action, option) if ENGINES[engine].fire_deprecated_actions else None
        return True, (fired or _deprecation_sentence(help_text, names) or _first_sentence(help_text) or "deprecated")
    # 2. argparse's own `deprecated=` (Python >= 3.13, or vLLM's backport in
    #    FlexibleArgumentParser._deprecated on older Pythons).
    if getattr(action, "deprecated", False) or action in getattr(parser, "_deprecated", ()):
        return True, (_deprecation_sentence(help_text, names) or f"argument '{action.dest}' is deprecated")
    # 3. vLLM documents most deprecations only in the help text (and SGLang
    #    some of its store_true ones: "(Deprecated, use --smg-grpc-mode)").
    sentence = _deprecation_sentence(help_text, names)
    return (True, sentence) if sentence else (False, None)


def _primary(action: argparse.Action) -> str:
    longs = [o for o in action.option_strings if o.startswith("--") and not o.startswith("--no-")]
    return (longs or [o for o in action.option_strings if o.startswith("--")] or action.option_strings)[0]


def dump_parser(parser: argparse.ArgumentParser, engine: str) -> dict:
    # argparse's built-in "options"/"positional arguments" groups are not
    # groups the engine chose: report those options as ungrouped (null).
    group_of: dict[int, str | None] = {}
    for group in parser._action_groups:
        title = None if group in (parser._optionals, parser._positionals) else group.title
        for action in group._group_actions:
            group_of.setdefault(id(action), title)

    # Every accepted spelling: argparse's lookup table is the ground truth
    # (vLLM hides some spellings from `option_strings`, e.g. --no-enable-x).
    spellings: dict[int, list[str]] = {}
    for opt, action in parser._option_string_actions.items():
        spellings.setdefault(id(action), []).append(opt)

    options: dict[str, dict] = {}
    for action in parser._actions:
        if not action.option_strings:
            continue  # positionals (vllm serve's model_tag)
        kind = _kind(action)
        if kind == "help" and "--help" in action.option_strings:
            continue
        name = _primary(action)
        accepted = set(spellings.get(id(action), ())) | set(action.option_strings)
        negation = None
        negatives: set[str] = set()
        if kind == "bool":
            negation = f"--no-{name[2:]}"
            # Other "off" spellings (vLLM pairs --enable-x with --disable-x)
            # are not aliases: they set the opposite value.
            negatives = set(getattr(action, "negative_option_strings", ()))
            negatives |= {o for o in accepted if o.startswith("--no-")}
            accepted -= negatives
        aliases = sorted(accepted - {name})
        fn = _unwrap_type(action.type)
        group = group_of.get(id(action))
        choices, source = _choices(action, engine, group)
        help_text = _clean_help(action.help)
        deprecated, deprecation = _deprecation(action, parser, name, help_text, engine)
        default = None if action.default is argparse.SUPPRESS else _jsonable(action.default)
        nargs = None if action.nargs is None else str(action.nargs)
        options[name] = {
            "aliases": aliases,
            "negation": negation,
            "negations": sorted(negatives),
            "kind": kind,
            "type": _type_category(fn, kind),
            "type_name": _type_name(fn),
            "choices": choices,
            "choices_source": source,
            "nargs": nargs,
            "default": default,
            "deprecated": deprecated,
            "deprecation": deprecation,
            "group": group,
            "help": _first_sentence(help_text),
        }
    return {
        "allow_abbrev": bool(parser.allow_abbrev),
        "option_count": len(options),
        "options": options,
    }


def inner_main(args: argparse.Namespace) -> int:
    spec = ENGINES[args.engine]
    installed = importlib.metadata.version(spec.package)
    if installed != args.version:
        raise SystemExit(f"venv has {spec.package}=={installed}, expected {args.version}")
    _install_fakes(args.engine, spec)
    parser = BUILDERS[args.engine]()
    snap = {
        "engine": args.engine,
        "version": args.version,
        "package": f"{spec.package}=={args.version}",
        "command": spec.command,
        "generated_by": GENERATED_BY,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        **dump_parser(parser, args.engine),
    }
    text = json.dumps(snap, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    Path(args.out).write_text(text, encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Dump the real CLI parser of a released engine wheel to JSON.",
    )
    ap.add_argument("engine", choices=sorted(ENGINES))
    ap.add_argument("version", help="exact released version on PyPI, e.g. 0.33.0")
    ap.add_argument(
        "--out",
        default=str(DEFAULT_OUT),
        help="output directory (outer run) / output file (inner run)",
    )
    ap.add_argument(
        "--venv",
        default=None,
        help=f"virtualenv to (re)use; default {DEFAULT_VENV_ROOT}/<engine>-<version>",
    )
    # Hidden: set when this file re-runs itself inside the venv.
    ap.add_argument("--_inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    return inner_main(args) if args._inner else outer_main(args)


if __name__ == "__main__":
    sys.exit(main())
