"""Evaluate an engine's hardware gates from its source, for a simulated device.

Support checks in both engines are short functions of platform predicates::

    def is_supported(cls):
        if not current_platform.supports_mx():
            return False, "current platform does not support native MXFP4 computation"
        ...

    if _is_hip:
        if is_gfx95_supported():
            return cls(...)
        else:
            raise ValueError(f"Current platform {platform} not support mxfp4 computation")

Given the predicate values of one device (``{"supports_mx": False, "is_hip": True, ...}``,
obtained by calling the engine's real predicate functions with a simulated device), this
module walks such a function's AST with three-valued logic and says whether it accepts
(True), rejects (False) or cannot tell (None). Tests it cannot evaluate (a package probe,
an env var, the layer's config) are assumed to go the accepting way (a rejecting branch
is not taken, an accepting one is) and recorded, with where they lead, as conditions:
the verdict is "accepted on this device if the runtime requirements hold".

Only the standard library may be imported here: this runs inside the throw-away venv.
"""

from __future__ import annotations

import ast
import inspect
import operator
from dataclasses import dataclass, field
from pathlib import Path

from .sourcescan import module_constants, parse, text_of

Predicates = dict[str, bool]


@dataclass
class Verdict:
    result: bool | None  # True accepted, False rejected, None unknown
    message: str | None = None  # why it rejects (the raise / `return False, "..."` text)
    gates: list[str] = field(default_factory=list)  # predicates evaluated on the way
    conditions: list[dict] = field(default_factory=list)  # untestable ifs: {"if", "then", "message"}


_CONTINUE = object()
_UNKNOWN = object()
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}


def _called_name(func: ast.AST) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


class _Evaluator:
    def __init__(
        self,
        preds: Predicates,
        aliases: dict[str, ast.expr],
        consts: dict[str, str],
        namespace: dict | None = None,
        depth: int = 0,
    ):
        self.preds = preds
        self.aliases = aliases
        self.consts = consts
        self.namespace = namespace  # the module's globals, to follow calls into helpers
        self.depth = depth
        self.gates: list[str] = []
        self.conditions: list[dict] = []

    def value(self, node: ast.AST, depth: int = 0):
        """The value of an expression on the device, or _UNKNOWN."""
        if depth > 8:
            return _UNKNOWN
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Call):
            name = _called_name(node.func)
            if name in self.preds and not node.args and not node.keywords:
                self.gates.append(name)
                return self.preds[name]
            return self.follow(node)
        if isinstance(node, ast.Name):
            if node.id in self.aliases and node.id not in self.preds:
                return self.value(self.aliases[node.id], depth + 1)
            return _UNKNOWN
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            left, right = self.value(node.left, depth + 1), self.value(node.comparators[0], depth + 1)
            if left is _UNKNOWN or right is _UNKNOWN:
                return _UNKNOWN
            try:
                return _COMPARE[type(node.ops[0])](left, right)
            except TypeError:
                return _UNKNOWN
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            value = self.expr(node.operand, depth + 1)
            return _UNKNOWN if value is None else not value
        if isinstance(node, ast.BoolOp):
            values = [self.expr(v, depth + 1) for v in node.values]
            if isinstance(node.op, ast.And):
                result = False if False in values else (True if all(v is True for v in values) else None)
            else:
                result = True if True in values else (False if all(v is False for v in values) else None)
            return _UNKNOWN if result is None else result
        return _UNKNOWN

    def expr(self, node: ast.AST, depth: int = 0) -> bool | None:
        value = self.value(node, depth)
        return None if value is _UNKNOWN else bool(value)

    def follow(self, call: ast.Call):
        """Evaluate a helper the gate calls (rocm_aiter_ops.is_linear_enabled(), another
        kernel's is_supported(cc)) from its own source, when the module's globals let us
        find it. Its parameters are unknown inside it, so only its device gates decide."""
        if self.namespace is None or self.depth >= 3:
            return _UNKNOWN
        fn = _resolve(call.func, self.namespace)
        package = str(self.namespace.get("__name__", "")).partition(".")[0]
        if fn is None or not getattr(fn, "__module__", "").startswith(package + "."):
            return _UNKNOWN  # only the engine's own helpers
        found = function_node(fn)
        if found is None:
            return _UNKNOWN
        node, tree, globals_ = found
        sub = _Evaluator(self.preds, module_aliases(tree), module_constants(tree), globals_, self.depth + 1)
        result, _ = sub.block(node.body)
        self.gates += sub.gates
        if result is _CONTINUE:
            return None  # fell off the end: returns None
        return _UNKNOWN if result is None else result

    def returned(self, node: ast.AST | None) -> bool | None:
        if node is None:
            return True
        if isinstance(node, ast.Tuple) and node.elts:
            node = node.elts[0]
        if isinstance(node, ast.Constant):
            return bool(node.value)
        if isinstance(node, ast.Call):
            name = _called_name(node.func) or ""
            if name[:1].isupper() or name == "cls":
                return True  # constructs an object: cls(...), SomeConfig(...)
        value = self.expr(node)
        if value is not None:
            return value
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            return True  # returns an object
        return None

    @staticmethod
    def _reason(node: ast.AST | None, consts) -> str | None:
        if isinstance(node, ast.Tuple) and len(node.elts) > 1:
            return text_of(node.elts[1], consts)
        return None

    def block(self, stmts: list[ast.stmt]):
        """(result, message) of the first terminal statement reached, or (_CONTINUE, None)."""
        for stmt in stmts:
            if isinstance(stmt, ast.Return):
                result = self.returned(stmt.value)
                return result, (self._reason(stmt.value, self.consts) if result is False else None)
            if isinstance(stmt, ast.Raise):
                exc = stmt.exc
                args = exc.args if isinstance(exc, ast.Call) else []
                return False, (text_of(args[0], self.consts) if args else ast.unparse(exc) if exc else None)
            if isinstance(stmt, ast.If):
                test = self.expr(stmt.test)
                if test is None:
                    # Not decidable from the device (a package probe, the layer's config):
                    # assume the runtime requirement is met, i.e. a branch that rejects
                    # is not taken and one that accepts is, and note where it leads.
                    text = ast.unparse(stmt.test)
                    result, message = self.block(stmt.body)
                    if result is not _CONTINUE:
                        self.conditions.append({"if": text, "then": result, "message": message})
                    if result is False:  # rejecting branch: not taken
                        result, message = self.block(stmt.orelse)
                    elif result is _CONTINUE:  # taken; note where the other branch would lead
                        other, other_message = self.block(stmt.orelse)
                        if other is not _CONTINUE:
                            self.conditions.append({"if": f"not ({text})", "then": other, "message": other_message})
                else:
                    result, message = self.block(stmt.body if test else stmt.orelse)
                if result is not _CONTINUE:
                    return result, message
            elif isinstance(stmt, (ast.With, ast.Try)):
                result, message = self.block(stmt.body)
                if result is not _CONTINUE:
                    return result, message
        return _CONTINUE, None


def module_aliases(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level ``_is_hip = is_hip()``-style names, as the expressions they stand for."""
    out: dict[str, ast.expr] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            out[stmt.targets[0].id] = stmt.value
    return out


def evaluate(
    function: ast.FunctionDef, module: ast.Module, preds: Predicates, namespace: dict | None = None
) -> Verdict:
    """Whether `function` (from `module`) accepts the device described by `preds`.

    With the module's globals as `namespace`, zero-argument helpers the function calls
    are followed into their own source (up to three calls deep).
    """
    body = [s for s in function.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if len(body) == 1 and isinstance(body[0], ast.Raise) and "NotImplementedError" in ast.unparse(body[0]):
        return Verdict(None, "abstract")
    ev = _Evaluator(preds, module_aliases(module), module_constants(module), namespace)
    result, message = ev.block(function.body)
    if result is _CONTINUE:
        result = True
    return Verdict(result, message, sorted(set(ev.gates)), ev.conditions)


def find_function(tree: ast.Module, qualname: str) -> ast.FunctionDef | None:
    """``Class.method`` or ``function`` in a module's AST."""
    scope: list[ast.stmt] = tree.body
    node = None
    for part in qualname.split("."):
        node = next(
            (
                n
                for n in scope
                if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        scope = node.body
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def method_source(cls: type, method: str) -> tuple[type, ast.FunctionDef, ast.Module] | None:
    """(defining class, its FunctionDef, its module AST) for `cls.method`, via the MRO."""
    for klass in cls.__mro__:
        if method not in vars(klass):
            continue
        try:
            path = Path(inspect.getfile(klass))
        except (TypeError, OSError):
            return None
        tree = parse(path)
        node = find_function(tree, f"{klass.__qualname__}.{method}") if tree else None
        if node is None:
            return None
        return klass, node, tree
    return None


def registry_updates(tree: ast.Module, registry: str, preds: Predicates) -> dict[str, dict]:
    """Keys a module-level dict registry holds on a device, from its top-level code.

    Reads ``REGISTRY = {...}`` and every top-level ``if <test>: REGISTRY.update({...})``
    (or ``REGISTRY[key] = ...``); keys of updates under tests that do not hold are left
    out. Returns key -> {"gates": [...], "conditional": bool}.
    """
    aliases = module_aliases(tree)
    ev = _Evaluator(preds, aliases, {})
    keys: dict[str, dict] = {}

    def dict_keys(node) -> list[str]:
        if isinstance(node, ast.Dict):
            return [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        return []

    def apply(stmts, gates, conditional):
        for stmt in stmts:
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    if isinstance(target, ast.Name) and target.id == registry:
                        for key in dict_keys(stmt.value):
                            keys[key] = {"gates": gates, "conditional": conditional}
                    elif (
                        isinstance(target, ast.Subscript)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == registry
                        and isinstance(target.slice, ast.Constant)
                    ):
                        keys[target.slice.value] = {"gates": gates, "conditional": conditional}
            elif (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Call)
                and isinstance(stmt.value.func, ast.Attribute)
                and stmt.value.func.attr == "update"
                and isinstance(stmt.value.func.value, ast.Name)
                and stmt.value.func.value.id == registry
                and stmt.value.args
            ):
                for key in dict_keys(stmt.value.args[0]):
                    keys[key] = {"gates": gates, "conditional": conditional}
            elif isinstance(stmt, ast.If):
                before = len(ev.gates)
                test = ev.expr(stmt.test)
                used = sorted(set(gates) | set(ev.gates[before:]))
                if test is None:
                    apply(stmt.body, used, True)
                    apply(stmt.orelse, used, True)
                else:
                    apply(stmt.body if test else stmt.orelse, used, conditional)

    apply(tree.body, [], False)
    return keys


def _resolve(func: ast.AST, namespace: dict):
    """The Python function a call expression names, looked up in a module's globals."""
    try:
        if isinstance(func, ast.Name):
            obj = namespace.get(func.id)
        elif isinstance(func, ast.Attribute):
            owner = (
                _resolve(func.value, namespace)
                if not isinstance(func.value, ast.Name)
                else namespace.get(func.value.id)
            )
            obj = getattr(owner, func.attr) if owner is not None else None
        else:
            return None
    except Exception:
        return None
    obj = getattr(obj, "__func__", obj)  # bound and class methods
    return obj if inspect.isfunction(obj) else None


def function_node(fn) -> tuple[ast.FunctionDef, ast.Module, dict] | None:
    """The FunctionDef a function object was compiled from (decorator wrappers included:
    found by the code object's file and first line), its module AST and globals."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    tree = parse(Path(code.co_filename))
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if code.co_firstlineno in (first, node.lineno) and node.name == code.co_name:
                return node, tree, fn.__globals__
    return None
