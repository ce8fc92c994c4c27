"""Reading the engines' config classes: field annotations, Literal values, nested key trees.

Engines declare their options as dataclass fields (vLLM's ``vllm.config.*`` classes,
SGLang's ``ServerArgs``). The annotations say more than argparse sees: Literal values for
``str`` options, and the nested dataclass behind each JSON option (``--compilation-config``
-> ``CompilationConfig`` -> ``PassConfig``), whose fields are the keys the dotted
``--compilation-config.<key>`` spelling may use.

Only the standard library may be imported here: this runs inside the throw-away venv.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import inspect
import json
import re
import sys
import types
import typing

from .serialise import jsonable

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def literal_values(hint):
    """All Literal members inside a (possibly Optional/Union/Annotated) hint, else None."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return list(typing.get_args(hint))
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        values = []
        for arg in typing.get_args(hint):
            values.extend(literal_values(arg) or [])
        return values or None
    return None


def _members(hint, accept) -> list:
    """Classes satisfying `accept` anywhere inside a hint (unions, generics, Annotated)."""
    found = []
    if isinstance(hint, type) and accept(hint):
        found.append(hint)
    for arg in typing.get_args(hint):
        if isinstance(arg, list):  # Callable[[...], X]
            for a in arg:
                found.extend(_members(a, accept))
        else:
            found.extend(_members(arg, accept))
    return list(dict.fromkeys(found))


def enums_in(hint) -> list[type[enum.Enum]]:
    return _members(hint, lambda t: issubclass(t, enum.Enum))


def dataclasses_in(hint) -> list[type]:
    """Dataclasses directly in the hint or its unions (not inside list[...] / dict[...])."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        out = []
        for arg in typing.get_args(hint):
            out.extend(dataclasses_in(arg))
        return list(dict.fromkeys(out))
    return [hint] if isinstance(hint, type) and dataclasses.is_dataclass(hint) else []


def hint_text(hint) -> str:
    """A short, stable spelling of a type hint: ``int | None``, ``list[str]``, ``Literal``."""
    if hint is None or hint is type(None):
        return "None"
    if hint is Ellipsis:
        return "..."
    if isinstance(hint, str):
        return hint
    if isinstance(hint, list):
        return "[" + ", ".join(hint_text(a) for a in hint) + "]"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return hint_text(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(hint_text(a) for a in args)
    if origin is typing.Literal:
        return "Literal"
    if origin is not None:
        name = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        return f"{name}[{', '.join(hint_text(a) for a in args)}]" if args else name
    if isinstance(hint, type):
        return hint.__name__
    name = getattr(hint, "__name__", None)
    if name:
        return name
    return _ADDRESS.sub("", repr(hint)).replace("typing.", "")


def field_hint(cls, name: str):
    """The evaluated annotation of dataclass field `name` (None if unknown).

    String annotations are evaluated in the module of the class that declares the field;
    names bound only under ``if TYPE_CHECKING:`` are evaluated as a type checker would.
    """
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    field = next((f for f in dataclasses.fields(cls) if f.name == name), None)
    if field is None:
        return None
    if not isinstance(field.type, str):
        return field.type
    for klass in cls.__mro__:
        if name in vars(klass).get("__annotations__", {}):
            module = sys.modules.get(klass.__module__)
            try:
                return eval(field.type, dict(vars(module)) if module else {})
            except Exception:
                return type_checking_annotation(cls, name)
    return None


def dataclass_literal(cls, field_name: str):
    """Literal values in the annotation of ``cls.<field_name>``, if any."""
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    field = next((f for f in dataclasses.fields(cls) if f.name == field_name), None)
    if field is None:
        return None
    values = literal_values(field.type)
    if values is None:
        # The Literal may only exist for type checkers: vLLM imports e.g.
        # QuantizationMethods / LoadFormats under `if TYPE_CHECKING:` and
        # binds the name to `str` at runtime (to avoid import cycles).
        values = literal_values(type_checking_annotation(cls, field.name))
    return values


def type_checking_annotation(cls, field_name: str):
    """Evaluate a field's annotation as a type checker would.

    Re-reads the source of the class that declares the field, runs the
    imports of its module's ``if TYPE_CHECKING:`` blocks, and evaluates the
    annotation text with them. Returns None when anything is missing.
    """
    for klass in cls.__mro__:
        if field_name not in vars(klass).get("__annotations__", {}):
            continue
        parsed = type_checking_namespace(klass.__module__)
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
def type_checking_namespace(module_name: str):
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


def _sorted_values(values) -> list:
    unique = {json.dumps(jsonable(v), sort_keys=True): jsonable(v) for v in values}
    return [unique[k] for k in sorted(unique)]


def key_tree(cls, _path: tuple = ()) -> dict[str, dict]:
    """The keys a JSON value for dataclass `cls` may hold, nested.

    Each key: ``type`` (hint_text), and where cheap ``choices`` (Literal members),
    ``enum`` (name of an Enum in the hint) with ``enum_names`` and ``enum_values``, and
    ``keys`` (the nested dataclass's own tree). Fields with ``init=False`` cannot be passed and are
    left out.
    """
    out: dict[str, dict] = {}
    if cls in _path or len(_path) > 5:
        return out
    for field in dataclasses.fields(cls):
        if not field.init:
            continue
        hint = field_hint(cls, field.name)
        entry: dict[str, typing.Any] = {"type": hint_text(hint if hint is not None else field.type)}
        literal = literal_values(hint)
        if literal:
            entry["choices"] = _sorted_values(literal)
        found_enums = enums_in(hint)
        if len(found_enums) == 1:
            entry["enum"] = found_enums[0].__name__
            entry["enum_names"] = sorted(m.name for m in found_enums[0])
            entry["enum_values"] = _sorted_values(m.value for m in found_enums[0])
        nested = dataclasses_in(hint)
        if len(nested) == 1:
            entry["keys"] = key_tree(nested[0], (*_path, cls))
        out[field.name] = entry
    return out


def qualname(obj) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"
