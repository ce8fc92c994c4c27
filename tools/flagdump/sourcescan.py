"""Facts read from the installed package's source with ``ast``, without importing it.

* environment variables the code reads ad hoc (``os.environ.get("X")``, ``os.getenv``,
  ``os.environ["X"]``, ``"X" in os.environ``, ``get_bool_env_var("X")`` and friends);
* loops over ``os.environ`` that test a prefix (how an engine spots unknown variables);
* log / warning calls whose message says an option is deprecated, with the option.

Only the standard library may be imported here: this runs inside the throw-away venv.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")
# Helpers named like get_bool_env_var / get_int_env_var / _get_env / read_env.
_ENV_HELPER = re.compile(r"^_?(?:get|read)_?\w*env\w*$", re.IGNORECASE)
_LOG_CALLS = {"warn", "warning", "warning_once", "info", "info_once", "deprecated", "print_warning_once"}
DEPRECATION_WORDS = re.compile(r"deprecat|will be removed", re.IGNORECASE)
_LEAD = re.compile(r"[\W_]*")  # punctuation before a message's first word ("[", "** ")
OPTION_MENTION = re.compile(r"(?<![\w-])(--[a-z0-9][a-z0-9_-]*[a-z0-9])")
# Subpackages that are the engine's own test/CI code, not the server.
SKIPPED_PARTS = frozenset({"test", "tests"})


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module


def iter_modules(package_dir: Path, package: str) -> Iterator[Module]:
    """Every parseable .py module of an installed package, sorted by module name."""
    paths = sorted(package_dir.rglob("*.py"))
    for path in paths:
        rel = path.relative_to(package_dir).with_suffix("")
        parts = [package, *rel.parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if SKIPPED_PARTS & set(parts[1:]):
            continue
        tree = parse(path)
        if tree is not None:
            yield Module(".".join(parts), path, tree)


@functools.cache
def parse(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8", errors="replace"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None


def text_of(node: ast.AST | None, consts: dict[str, str] | None = None) -> str | None:
    """The text of a string expression: literals, f-strings (``{expr}`` kept), ``+``,
    implicit concatenation, ``"...".format(...)`` and module-level string constants."""
    consts = consts or {}
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                parts.append("{" + ast.unparse(value.value) + "}")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = text_of(node.left, consts), text_of(node.right, consts)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return text_of(node.func.value, consts)
    return None


def module_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments (in order, so later ones may use earlier)."""
    consts: dict[str, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            value = text_of(stmt.value, consts)
            if value is not None:
                consts[stmt.targets[0].id] = value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            value = text_of(stmt.value, consts)
            if value is not None:
                consts[stmt.target.id] = value
    return consts


def _is_environ(node: ast.AST) -> bool:
    """``os.environ`` or a bare ``environ``."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def _call_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def _first_env_arg(call: ast.Call) -> str | None:
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        name = call.args[0].value
        return name if ENV_NAME.match(name) else None
    return None


def env_reads(tree: ast.Module) -> set[str]:
    """Names of environment variables a module reads (literal names only)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in ("get", "pop", "setdefault")
                and _is_environ(func.value)
            ):
                name = _first_env_arg(node)
            elif isinstance(func, ast.Attribute) and func.attr == "getenv":
                name = _first_env_arg(node)
            elif isinstance(func, ast.Name) and func.id == "getenv":
                name = _first_env_arg(node)
            else:
                called = _call_name(func)
                name = _first_env_arg(node) if called and _ENV_HELPER.match(called) else None
            if name:
                found.add(name)
        elif isinstance(node, ast.Subscript) and _is_environ(node.value) and isinstance(node.ctx, ast.Load):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str) and ENV_NAME.match(key.value):
                found.add(key.value)
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            left = node.left
            if (
                _is_environ(node.comparators[0])
                and isinstance(left, ast.Constant)
                and isinstance(left.value, str)
                and ENV_NAME.match(left.value)
            ):
                found.add(left.value)
    return found


class _Scopes(ast.NodeVisitor):
    """Visits a module keeping the dotted name of the enclosing class/function."""

    def __init__(self):
        self.stack: list[str] = []

    @property
    def where(self) -> str:
        return ".".join(self.stack) or "<module>"

    def _scoped(self, node):
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _scoped


class _PrefixLoops(_Scopes):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def visit_For(self, node: ast.For):
        it = node.iter
        if isinstance(it, ast.Call) and getattr(it.func, "id", None) in ("list", "sorted", "tuple") and it.args:
            it = it.args[0]  # list(os.environ.items())
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and _is_environ(it.func.value):
            it = it.func.value  # os.environ.items() / .keys()
        if _is_environ(it):
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Attribute)
                    and sub.func.attr == "startswith"
                    and sub.args
                    and isinstance(sub.args[0], ast.Constant)
                    and isinstance(sub.args[0].value, str)
                ):
                    self.found.append((self.where, sub.args[0].value))
        self.generic_visit(node)


def environ_prefix_loops(tree: ast.Module) -> list[tuple[str, str]]:
    """(function, prefix) for every ``for k in os.environ: ... k.startswith(prefix)``."""
    visitor = _PrefixLoops()
    visitor.visit(tree)
    return visitor.found


@dataclass(frozen=True)
class Message:
    where: str  # enclosing class/function in the module
    call: str  # warning, warning_once, warn, ...
    text: str


class _Messages(_Scopes):
    def __init__(self, consts):
        super().__init__()
        self.consts = consts
        self.found: list[Message] = []

    def visit_Call(self, node: ast.Call):
        called = _call_name(node.func)
        if called in _LOG_CALLS and node.args:
            text = text_of(node.args[0], self.consts)
            if text is not None and DEPRECATION_WORDS.search(text):
                self.found.append(Message(self.where, called, " ".join(text.split())))
        self.generic_visit(node)


def deprecation_messages(tree: ast.Module) -> list[Message]:
    """Log/warning calls in a module whose message talks about deprecation."""
    visitor = _Messages(module_constants(tree))
    visitor.visit(tree)
    return visitor.found


def deprecated_options(text: str, spellings: dict[str, str]) -> list[str]:
    """The options a deprecation message is about (primary names, sorted).

    `spellings` maps every accepted spelling to its option's primary name. The subject
    is each option mentioned before the first "deprecat"/"will be removed". When none is,
    only a message that *opens* with the keyword ("Deprecated: --x ...") is about its
    first option; otherwise the options after the keyword are replacements ("the env
    variable X is deprecated ... use --y").
    """
    keyword = DEPRECATION_WORDS.search(text)
    mentioned = []
    for m in OPTION_MENTION.finditer(text):
        spelling = m.group(1)
        name = spellings.get(spelling) or spellings.get(spelling.replace("_", "-"))
        if name:
            mentioned.append((m.start(), name))
    if not mentioned:
        return []
    before = [name for pos, name in mentioned if keyword and pos < keyword.start()]
    if before:
        return sorted(set(before))
    opens_with_keyword = keyword is not None and keyword.start() <= len(_LEAD.match(text).group(0))
    return [mentioned[0][1]] if opens_with_keyword else []


class _CallSites(_Scopes):
    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.found: list[tuple[str, ast.Call]] = []

    def visit_Call(self, node: ast.Call):
        if _call_name(node.func) == self.name:
            self.found.append((self.where, node))
        self.generic_visit(node)


def call_sites(tree: ast.Module, name: str) -> list[tuple[str, ast.Call]]:
    """(enclosing function, call node) for every call of a function/method called `name`."""
    visitor = _CallSites(name)
    visitor.visit(tree)
    return visitor.found


def class_dict_keys(tree: ast.Module, cls: str, attr: str) -> list[str] | None:
    """String keys of a dict literal assigned to ``cls.attr`` in a class body (None if absent)."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ClassDef) and node.name == cls):
            continue
        for stmt in node.body:
            targets = (
                stmt.targets
                if isinstance(stmt, ast.Assign)
                else [stmt.target]
                if isinstance(stmt, ast.AnnAssign)
                else []
            )
            if any(isinstance(t, ast.Name) and t.id == attr for t in targets) and isinstance(stmt.value, ast.Dict):
                return [k.value for k in stmt.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    return None


class _RegistryUses(_Scopes):
    """One pass over a module: where registry variable names occur, what each attribute is
    loaded by, and every name the module refers to."""

    def __init__(self, names: frozenset[str]):
        super().__init__()
        self.names = names
        self.parents: dict[ast.AST, ast.AST] = {}
        self.reads: set[str] = set()  # names used in any other way than being stored
        self.stores: dict[str, set[str]] = {}  # name -> attributes its value is stored in
        self.attr_loads: dict[str, set[str | None]] = {}  # attribute -> loading functions (None: not in one)
        self.referenced: set[str] = set()
        self.functions: list[str] = []

    def run(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
        self.visit(tree)

    def _function(self, node):
        self.functions.append(node.name)
        self._scoped(node)
        self.functions.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def _hit(self, node: ast.AST, name: str) -> None:
        expr = node  # climb to the whole value: envs.X, envs.X.get(), int(envs.X) stays a read
        parent = self.parents.get(expr)
        while isinstance(parent, (ast.Attribute, ast.Call)) and (
            not isinstance(parent, ast.Call) or parent.func is expr
        ):
            expr, parent = parent, self.parents.get(parent)
        if isinstance(parent, ast.Assign) and parent.value is expr and len(parent.targets) == 1:
            target = parent.targets[0]
            if isinstance(target, ast.Attribute):
                self.stores.setdefault(name, set()).add(target.attr)
                return
            if isinstance(target, ast.Name) and isinstance(self.parents.get(parent), ast.ClassDef):
                self.stores.setdefault(name, set()).add(target.id)
                return
        self.reads.add(name)

    def visit_Attribute(self, node: ast.Attribute):
        if node.attr in self.names:
            self._hit(node, node.attr)
        if isinstance(node.ctx, ast.Load):
            self.attr_loads.setdefault(node.attr, set()).add(self.functions[-1] if self.functions else None)
            self.referenced.add(node.attr)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name):
        if isinstance(node.ctx, ast.Load):
            self.referenced.add(node.id)
            # a class attribute read by its bare name inside the class body
            self.attr_loads.setdefault(node.id, set()).add(self.functions[-1] if self.functions else None)

    def visit_Constant(self, node: ast.Constant):
        if isinstance(node.value, str):
            if node.value in self.names:
                self._hit(node, node.value)
            if node.value.isidentifier():
                self.referenced.add(node.value)  # getattr(x, "name"), registries of names


def unused_registry_variables(modules: list[Module], names: set[str], registry_module: str) -> dict[str, str]:
    """Registry variables no code outside the registry module acts on: name -> why.

    A variable is used when its name occurs outside the registry in any way (``envs.X``,
    ``"X"``, ``Envs.X.get()``) except being stored in an attribute; a stored value is used
    when some code loads the attribute outside a function, or in a function that is referred
    to anywhere. So ``_X = envs.X`` whose only reader is a method nothing calls is unused.
    """
    frozen = frozenset(names)
    scans = []
    for module in modules:
        if module.name == registry_module:
            continue
        scan = _RegistryUses(frozen)
        scan.run(module.tree)
        scans.append((module.name, scan))
    reads = set().union(*(s.reads for _, s in scans)) if scans else set()
    referenced = set().union(*(s.referenced for _, s in scans)) if scans else set()
    out: dict[str, str] = {}
    for name in sorted(names - reads):
        stores = sorted({(mod, attr) for mod, s in scans for attr in s.stores.get(name, ())})
        if not stores:
            out[name] = f"no code outside {registry_module} refers to it"
            continue
        why = []
        for mod, attr in stores:
            loaders = set().union(*(s.attr_loads.get(attr, set()) for _, s in scans))
            called = {f for f in loaders if f is not None and f in referenced}
            if None in loaders or called:
                break
            readers = ", ".join(f"{f}()" for f in sorted(f for f in loaders if f)) or "no code"
            why.append(f"stored in {mod}:{attr}, which only {readers} reads, and nothing calls it")
        else:
            out[name] = "; ".join(why)
    return out
