"""SGLang: build the ``launch_server`` parser and capture the facts around it.

Every fact comes from the installed package: the names below say only *where to look*
(modules, attributes), checked against SGLang 0.5.23. Several SGLang modules cannot be
imported without the real transformers (never faked: SGLang patches it), so facts that
live there are read from the source with ``ast`` instead.

Only the standard library may be imported at module level: this runs inside the
throw-away venv, and SGLang itself is imported inside the functions, after the fakes.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import functools
import importlib
import inspect
import io
import logging
import sys
import typing
from pathlib import Path

from . import captures, gates, sourcescan
from .annotations import dataclass_literal, qualname
from .engines import GFX_TARGETS
from .fakes import fake_path, is_fake, simulate_rocm_device
from .serialise import jsonable, option_actions

PACKAGE = "sglang"
# Where to look (SGLang 0.5.23).
SERVER_ARGS = "sglang.srt.server_args"  # ServerArgs.add_cli_args, the *_choices() helpers
LIST_REGISTRIES = {
    # registry -> (function the parser calls, options, (module, class, dict attr) of the real registry)
    "reasoning_parsers": (
        "_reasoning_parser_choices",
        ["--reasoning-parser"],
        ("sglang.srt.parser.reasoning_parser", "ReasoningParser", "DetectorMap"),
    ),
    "tool_call_parsers": (
        "_tool_call_parser_choices",
        ["--tool-call-parser"],
        ("sglang.srt.function_call.function_call_parser", "FunctionCallParser", "ToolCallParserEnum"),
    ),
}
CHOICES = "sglang.srt.arg_groups.choices"  # the *_CHOICES lists and their add_* helpers
ENVIRON = ("sglang.srt.environ", "Envs", "_DEPRECATED_ENVS", "_handle_deprecated_envs")
DEVICE_UTILS = "sglang.srt.utils.common"  # is_hip, is_gfx95_supported, ...
QUANT = ("sglang.srt.layers.quantization", "BASE_QUANTIZATION_METHODS")
QUANT_DIR = "sglang.srt.layers.quantization"  # functions gated by the arch, scanned
DTYPE = ("sglang.srt.configs.model_config", "_get_and_verify_dtype", "_STR_DTYPE_TO_TORCH_DTYPE")


@dataclasses.dataclass
class Built:
    parser: argparse.ArgumentParser


def build_parser() -> Built:
    """Mirror ``python3 -m sglang.launch_server``.

    sglang/launch_server.py calls ``prepare_server_args(sys.argv[1:])``
    (sglang/srt/server_args.py), which builds
    ``argparse.ArgumentParser(prog="sglang serve")`` and calls
    ``ServerArgs.add_cli_args`` on it. ``load_plugins()`` runs before that in
    launch_server, but only entry-point plugins could add options and a bare
    wheel ships none.
    """
    sys.argv = ["sglang.launch_server"]
    server_args = importlib.import_module(SERVER_ARGS)
    parser = argparse.ArgumentParser(prog="sglang serve")
    server_args.ServerArgs.add_cli_args(parser)
    return Built(parser)


def typing_choices(action: argparse.Action, group: str | None):
    """Literal-typed ServerArgs fields whose option has no argparse choices."""
    return dataclass_literal(importlib.import_module(SERVER_ARGS).ServerArgs, action.dest)


def _module_path(module: str) -> Path:
    """The source file of a module of the package, without importing it."""
    root = captures.package_dir(PACKAGE)
    parts = module.split(".")[1:]
    path = root.joinpath(*parts)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


# --- config keys / argv rewriting ---------------------------------------------------------


def config_keys(parser: argparse.ArgumentParser, options: dict) -> dict:
    """JSON options and the dataclass behind each (SGLang's are all free-form JSON)."""
    out = {}
    for name, action in option_actions(parser).items():
        if options[name]["type"] != "json":
            continue
        fn = action.type
        found = [
            d
            for d in (*(getattr(fn, "__defaults__", None) or ()),)
            if isinstance(d, type) and dataclasses.is_dataclass(d)
        ]
        out[name] = (
            {"config_class": qualname(found[0]), "how": "the option's type", "keys": None}
            if found
            else {"config_class": None, "keys": None, "how": "a free-form JSON value (no dataclass behind it)"}
        )
    return out


def shorthands(built: Built) -> dict:
    """SGLang hands argv to argparse unchanged: no dotted keys, no -O, no `_` for `-`."""
    cls = type(built.parser)
    rewrites = cls.parse_args is not argparse.ArgumentParser.parse_args or (
        cls.parse_known_args is not argparse.ArgumentParser.parse_known_args
    )
    return {
        "source": f"{SERVER_ARGS}.prepare_server_args",
        "parser_class": f"{cls.__module__}.{cls.__qualname__}",
        "rewrites_argv": rewrites,
        "allow_abbrev": bool(built.parser.allow_abbrev),
    }


def files_read_at_launch(options: dict) -> dict:
    """Options prepare_server_args reads as a file before its parser runs (SGLang's --config
    merge). argparse's own parse_args is stubbed for the probe: only the argv handling before it
    runs, and whatever it raises is kept."""
    server_args = importlib.import_module(SERVER_ARGS)

    def launch(argv: list[str]) -> str | None:
        original = argparse.ArgumentParser.parse_args
        argparse.ArgumentParser.parse_args = lambda self, args=None, namespace=None: argparse.Namespace()
        try:
            with captures.capture_logs(), contextlib.redirect_stdout(io.StringIO()):
                server_args.prepare_server_args(["--model-path", "MODEL", *argv])
        except (Exception, SystemExit) as e:  # the probe keeps whatever the launch raised
            return f"{type(e).__name__}: {e}"
        finally:
            argparse.ArgumentParser.parse_args = original
        return None

    return captures.files_read_at_launch(options, launch, f"{SERVER_ARGS}.prepare_server_args")


# --- registries ---------------------------------------------------------------------------


def registries(parser: argparse.ArgumentParser, options: dict) -> dict:
    server_args = importlib.import_module(SERVER_ARGS)
    out = {}
    for key, (function, names, (module, cls, attr)) in LIST_REGISTRIES.items():
        values = getattr(server_args, function)()
        tree = sourcescan.parse(_module_path(module))
        real = sourcescan.class_dict_keys(tree, cls, attr) if tree else None
        out[key] = captures.registry_entry(
            values,
            f"{SERVER_ARGS}.{function}()",
            names,
            True,
            parser_adds=sorted(set(options[names[0]]["choices"] or ()) - {str(v) for v in values}) or None,
            registry=f"{module}.{cls}.{attr}",
            registry_matches=None if real is None else sorted(real) == sorted({str(v) for v in values}),
        )
    choices = importlib.import_module(CHOICES)
    by_set: dict[frozenset, list[str]] = {}
    for name, opt in options.items():
        if opt["choices"]:
            by_set.setdefault(frozenset(opt["choices"]), []).append(name)
    for attr, value in sorted(vars(choices).items()):
        if not attr.endswith("_CHOICES") or not isinstance(value, (list, tuple, set, frozenset)):
            continue
        helpers = sorted(
            n for n, v in vars(choices).items() if getattr(v, "__self__", None) is value and not n.startswith("_")
        )
        out[attr.removesuffix("_CHOICES").lower()] = captures.registry_entry(
            value,
            f"{CHOICES}.{attr}",
            by_set.get(frozenset(str(v) for v in value), []),
            True,
            extensible=", ".join(f"{CHOICES}.{h}" for h in helpers) or None,
        )
    return dict(sorted(out.items()))


# --- environment variables ----------------------------------------------------------------


def env() -> dict:
    module_name, cls_name, deprecated_name, handler_name = ENVIRON
    environ = importlib.import_module(module_name)
    field_cls = environ.EnvField
    variables = {}
    for _attr, value in sorted(vars(getattr(environ, cls_name)).items()):
        if not isinstance(value, field_cls):
            continue
        entry = {"type": type(value).__name__, "secret": bool(getattr(value, "secret", False))}
        if callable(value.default):
            entry["default_computed_by"] = getattr(value.default, "__name__", None)
        else:
            entry["default"] = captures.home_relative(jsonable(value.default))
        if getattr(value, "deprecated_name", None):
            entry["deprecated_alias"] = value.deprecated_name
        variables[value.name] = entry

    deprecated = {}
    for old, dep in sorted(getattr(environ, deprecated_name).items()):
        with captures.environ(**{old: "1"}), captures.capture_warnings() as said:
            dep.apply(old)
        deprecated[old] = {
            "replacement": dep.replacement,
            "note": dep.note,
            "message": said[0] if said else None,
        }
    old_probe, new_probe = "SGL_AIM_FLAGDUMP_PROBE", "SGLANG_AIM_FLAGDUMP_PROBE"
    with captures.environ(**{old_probe: "1"}), captures.capture_warnings() as said:
        getattr(environ, handler_name)()
    prefix_message = next((m for m in said if old_probe in m), None)
    if prefix_message:
        prefix_message = captures.template(captures.template(prefix_message, new_probe, "{new_name}"), old_probe)
    checks = captures.environ_checks(PACKAGE)
    return {
        "registry": {
            "source": f"{module_name}.{cls_name}",
            "how": "the EnvField attributes of the Envs class (type = its EnvField subclass)",
            "variables": variables,
        },
        "deprecated": {
            "source": f"{module_name}.{deprecated_name}",
            "how": "each entry's apply() run with the variable set; the warning it gives",
            "variables": deprecated,
            "legacy_prefix": {"source": f"{module_name}.{handler_name}", "message": prefix_message},
        },
        "read_ad_hoc": {
            "how": "ast scan of the installed package, its test/ and tests/ subpackages left out "
            "(os.environ/os.getenv/environ[...]/'X' in os.environ/get_bool_env_var-style helpers "
            "with a literal name): every variable name missing from the registry, with the modules",
            "variables": captures.ad_hoc_env(PACKAGE, set(variables)),
        },
        "registry_unused": captures.unused_env(PACKAGE, set(variables), module_name),
        "unknown_variables": {
            "prefix_checks": checks,
            "behaviour": "warn" if any(c["prefix"].startswith("SGLANG_") for c in checks) else "none",
        },
    }


# --- quantization support per gfx target --------------------------------------------------


def _clear_caches():
    """Reset the lru_caches of SGLang's device probes (is_hip, is_gfx95_supported, ...)."""
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith(PACKAGE):
            continue
        for value in list(vars(module).values()):
            # isinstance, not getattr: some module attributes are lazy-import proxies.
            if isinstance(value, functools._lru_cache_wrapper) and value.__module__.startswith(PACKAGE):
                value.cache_clear()


def _predicates() -> dict[str, bool]:
    """Every zero-argument ``is_*`` probe of sglang.srt.utils.common, called now."""
    utils = importlib.import_module(DEVICE_UTILS)
    out = {}
    for name, fn in sorted(vars(utils).items()):
        raw = getattr(fn, "__wrapped__", fn)
        if not (name.startswith("is_") and inspect.isfunction(raw) and raw.__module__ == utils.__name__):
            continue
        try:
            params = inspect.signature(raw).parameters.values()
            if any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
                continue
            value = raw()
        except Exception:
            continue
        if is_fake(value):
            value = False
        if isinstance(value, bool):
            out[name] = value
    return out


def _imported_classes(tree: ast.Module) -> dict[str, str]:
    """Class name -> module, from a module's ``from X import Name`` statements."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                out[alias.asname or alias.name] = node.module
    return out


def _arch_gates(per_gfx: dict[str, dict], arch_preds: set[str]) -> dict:
    """Functions of the quantization package whose verdict depends on the gfx target."""
    directory = _module_path(QUANT_DIR).parent
    out = {}
    for module in sourcescan.iter_modules(directory, QUANT_DIR):
        for qual, fn in _functions(module.tree):
            called = {
                getattr(n.func, "attr", None) or getattr(n.func, "id", None)
                for n in ast.walk(fn)
                if isinstance(n, ast.Call)
            }
            names = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
            aliases = gates.module_aliases(module.tree)
            via_alias = {
                a
                for a in names & set(aliases)
                if any(getattr(c, "id", None) in arch_preds for c in ast.walk(aliases[a]) if isinstance(c, ast.Name))
                or any(
                    (getattr(c.func, "id", None) or getattr(c.func, "attr", None)) in arch_preds
                    for c in ast.walk(aliases[a])
                    if isinstance(c, ast.Call)
                )
            }
            if not (called & arch_preds) and not via_alias:
                continue
            rows = {gfx: gates.evaluate(fn, module.tree, per_gfx[gfx]) for gfx in GFX_TARGETS}
            results = {gfx: v.result for gfx, v in rows.items()}
            rejects = {
                gfx: tuple(c["message"] or c["if"] for c in v.conditions if c["then"] is False)
                for gfx, v in rows.items()
            }
            if len(set(results.values())) == 1 and len(set(rejects.values())) == 1:
                continue
            out[f"{module.name}:{qual}"] = {
                gfx: {
                    "result": v.result,
                    "message": v.message if v.result is False else None,
                    "rejects_when": sorted({c["if"]: c["message"] for c in v.conditions if c["then"] is False}.items()),
                }
                for gfx, v in rows.items()
            }
    return out


def _functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{sub.name}", sub


def quantization_support() -> dict:
    per_gfx = {}
    logging.disable(logging.CRITICAL)
    try:
        for gfx in GFX_TARGETS:
            with simulate_rocm_device(gfx):
                _clear_caches()
                per_gfx[gfx] = _predicates()
        _clear_caches()
    finally:
        logging.disable(logging.NOTSET)
    arch_preds = {
        name for name in set().union(*per_gfx.values()) if len({per_gfx[g].get(name) for g in GFX_TARGETS}) > 1
    }
    module_name, registry = QUANT
    tree = sourcescan.parse(_module_path(module_name))
    imported = _imported_classes(tree)
    keys_by_gfx = {gfx: gates.registry_updates(tree, registry, per_gfx[gfx]) for gfx in GFX_TARGETS}
    registered = {gfx: {k: v for k, v in keys.items() if not v["conditional"]} for gfx, keys in keys_by_gfx.items()}
    classes = _registry_classes(tree, registry)
    methods = {}
    for method in sorted(set().union(*keys_by_gfx.values())):
        row = {}
        cls_name = classes.get(method)
        for gfx in GFX_TARGETS:
            if method not in registered[gfx]:
                row[gfx] = {"support": "unsupported", "why": f"not in {registry} on this device"}
                continue
            verdict = _from_config(cls_name, imported, per_gfx[gfx])
            gated = set(registered[gfx][method]["gates"]) | set(verdict.gates if verdict else ())
            if verdict is not None and verdict.result is False:
                row[gfx] = {"support": "unsupported", "why": verdict.message}
            elif gated & arch_preds:
                row[gfx] = {"support": "native", "why": f"gated by {', '.join(sorted(gated & arch_preds))}"}
            else:
                row[gfx] = {"support": "accepted"}
        methods[method] = {"config_class": cls_name, "by_gfx": row}
    return {
        "gfx_targets": list(GFX_TARGETS),
        "how": "each gfx target simulated (ROCm torch build, gcnArchName); SGLang's device probes called; "
        f"{module_name}'s registry and each config's from_config evaluated from source (tools/flagdump/gates.py)",
        "arch_predicates": {name: {gfx: per_gfx[gfx].get(name) for gfx in GFX_TARGETS} for name in sorted(arch_preds)},
        "registry": f"{module_name}.{registry}",
        "methods": methods,
        "arch_gates": _arch_gates(per_gfx, arch_preds),
    }


def _registry_classes(tree: ast.Module, registry: str) -> dict[str, str]:
    """Method -> config class name, from every dict literal assigned to / merged into the registry."""
    out = {}
    for node in ast.walk(tree):
        target_dict = None
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == registry for t in targets):
                target_dict = node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "update"
            and getattr(node.func.value, "id", None) == registry
            and node.args
        ):
            target_dict = node.args[0]
        if isinstance(target_dict, ast.Dict):
            for k, v in zip(target_dict.keys, target_dict.values):
                if isinstance(k, ast.Constant) and isinstance(v, ast.Name):
                    out.setdefault(k.value, v.id)
    return out


def _from_config(cls_name: str | None, imported: dict[str, str], preds: dict) -> gates.Verdict | None:
    module = imported.get(cls_name or "")
    if not module or not module.startswith(PACKAGE):
        return None
    path = _module_path(module)
    tree = sourcescan.parse(path) if path.exists() else None
    fn = gates.find_function(tree, f"{cls_name}.from_config") if tree else None
    return gates.evaluate(fn, tree, preds) if fn else None


# --- dtype restrictions --------------------------------------------------------------------


def dtype_restrictions() -> dict:
    """What _get_and_verify_dtype does per model type, by running its source with probes.

    sglang.srt.configs.model_config cannot be imported here (it needs the real
    transformers), so the function and the spelling table are compiled on their own,
    with the fake torch and a capturing logger, and called with dict configs.
    """
    module_name, function, table = DTYPE
    tree = sourcescan.parse(_module_path(module_name))
    nodes = [
        n
        for n in tree.body
        if (isinstance(n, ast.FunctionDef) and n.name == function)
        or (isinstance(n, ast.Assign) and any(getattr(t, "id", None) == table for t in n.targets))
    ]
    namespace = {
        "torch": importlib.import_module("torch"),
        "logger": logging.getLogger("aim.flagdump.sglang"),
        "Union": typing.Union,
        "Optional": typing.Optional,
        "PretrainedConfig": dict,
    }
    exec(compile(ast.Module(nodes, []), str(_module_path(module_name)), "exec"), namespace)
    verify, spell = namespace[function], namespace[table]

    def name(dtype):
        return (fake_path(dtype) or str(dtype)).removeprefix("torch.")

    fn_node = next(n for n in nodes if isinstance(n, ast.FunctionDef))
    prefixes = sorted(
        {
            n.args[0].value
            for n in ast.walk(fn_node)
            if isinstance(n, ast.Call)
            and getattr(n.func, "attr", None) == "startswith"
            and n.args
            and isinstance(n.args[0], ast.Constant)
        }
    )
    checkpoint_dtypes = sorted({name(d) for d in spell.values()})
    auto, rejected = {}, {}
    for model_type in ["", *prefixes]:
        row = {}
        for checkpoint in checkpoint_dtypes:
            row[checkpoint] = name(verify({"model_type": model_type, "dtype": checkpoint}, "auto"))
        auto[model_type or "<other>"] = row
        for text in sorted(spell):
            try:
                verify({"model_type": model_type, "dtype": "bfloat16"}, text)
            except ValueError as e:
                rejected.setdefault(model_type or "<other>", {})[text] = str(e)
    return {
        "source": f"{module_name}.{function}",
        "key": "model_type (the HF config's model_type); prefixes are the startswith() tests in the function",
        "how": "the function's source compiled alone and called with dict configs for each probe",
        "model_types": rejected,
        "auto_resolution": {"by_model_type_then_checkpoint_dtype": auto, "model_type_prefixes": prefixes},
    }


# --- everything -----------------------------------------------------------------------------


def capture(built: Built, snap: dict) -> dict:
    options = snap["options"]
    out = {}
    with captures.timed("config_keys"):
        out["config_keys"] = config_keys(built.parser, options)
    with captures.timed("registries"):
        out["registries"] = registries(built.parser, options)
    out["shorthands"] = shorthands(built)
    with captures.timed("files_read_at_launch"):
        out["files_read_at_launch"] = files_read_at_launch(options)
    with captures.timed("env"):
        out["env"] = env()
    with captures.timed("startup_deprecations"):
        out["startup_deprecations"] = captures.startup_deprecations(PACKAGE, options)
    with captures.timed("dtype_restrictions"):
        out["dtype_restrictions"] = dtype_restrictions()
    with captures.timed("quantization_support"):
        out["quantization_support"] = quantization_support()
    return out
