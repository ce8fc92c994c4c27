"""Fake heavy modules for the inner run: a ``sys.meta_path`` finder for an explicit list.

Engines import torch, triton, ... on the way to building their parser, but only use them
for class bodies, decorators and device probes. The finder serves permissive fake modules
for the packages named in ``EngineSpec.fake_modules`` (never for hardware probes such as
amdsmi: a fake one makes the engine believe a GPU exists). ``simulate_rocm_device`` makes
the fake torch look like a ROCm build on a given gfx target, for the quantization capture
(which runs after the parser is serialised).

Only the standard library may be imported here: this runs inside the throw-away venv.
"""

from __future__ import annotations

import abc
import collections.abc
import contextlib
import importlib.abc
import importlib.machinery
import importlib.metadata
import inspect
import os
import re
import sys
import types
import typing
from pathlib import Path

from .engines import EngineSpec

# `_ABSENT` makes an attribute (and the submodule of that name) not exist.
_ABSENT = object()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _fake_overrides(engine: str, torch_version: str) -> dict[str, object]:
    """Attributes of fake modules that must be real values rather than fakes,
    because engine code does string/version arithmetic on them at import time."""
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

    # `"gfx94" in torch.cuda.get_device_properties(0).gcnArchName`: without this,
    # `in` falls back to indexing 0, 1, 2, ... which __getitem__ never ends.
    def __contains__(cls, item):
        return False

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


def install_fakes(engine: str, spec: EngineSpec) -> None:
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


def is_fake(obj) -> bool:
    """A fake class or an instance of one (what calling a fake returns)."""
    return _is_fake_class(obj) or isinstance(obj, _Fake) or isinstance(obj, _FakeModule)


def fake_path(obj) -> str | None:
    """``torch.float16`` for the fake ``torch.float16``."""
    return vars(obj).get("_aim_fake_path") if _is_fake_class(obj) else None


@contextlib.contextmanager
def simulate_rocm_device(gfx: str, hip_version: str = "6.4.0"):
    """Make the fake torch look like a ROCm build with one ``gfx`` device.

    ``torch.version.hip`` becomes a version string and
    ``torch.cuda.get_device_properties(...).gcnArchName`` the target (with the feature
    suffix real devices report), which is how both engines detect the arch. Restored
    on exit.
    """
    saved = {k: _FAKE_OVERRIDES.get(k, _ABSENT) for k in ("torch.version.hip", "torch.cuda.get_device_properties")}
    props = types.SimpleNamespace(gcnArchName=f"{gfx}:sramecc+:xnack-", name=f"AMD {gfx}")
    _FAKE_OVERRIDES["torch.version.hip"] = hip_version
    _FAKE_OVERRIDES["torch.cuda.get_device_properties"] = lambda *args, **kwargs: props
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is _ABSENT:
                _FAKE_OVERRIDES.pop(key, None)
            else:
                _FAKE_OVERRIDES[key] = value
