"""vLLM: build the ``vllm serve`` parser and capture the facts around it.

Every fact comes from the installed package: the names below say only *where to look*
(modules, attributes), checked against vLLM 0.33.0. When a release moves one, the
capture fails loudly (ImportError / AttributeError) rather than writing a guess.

Only the standard library may be imported at module level: this runs inside the
throw-away venv, and vLLM itself is imported inside the functions, after the fakes.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import importlib.util
import inspect
import logging
import re
import sys
import types
from pathlib import Path

from . import captures, gates, sourcescan
from .annotations import (
    dataclass_literal,
    dataclasses_in,
    enums_in,
    field_hint,
    key_tree,
    literal_values,
    qualname,
)
from .engines import GFX_TARGETS
from .fakes import fake_path, is_fake, simulate_rocm_device
from .serialise import REJECTED, jsonable, none_spellings, option_actions, parse_one, string_constants, unwrap_type

PACKAGE = "vllm"
# Where to look (vLLM 0.33.0).
CLI_ARGS = "vllm.entrypoints.common.cli_args"  # make_arg_parser, FrontendArgs
ARGPARSE_UTILS = "vllm.utils.argparse_utils"  # FlexibleArgumentParser (dotted / -O rewriting)
ENGINE_ARGS = "vllm.engine.arg_utils"  # EngineArgs: one field per option, defaults name the config field
LIST_REGISTRIES = {
    # registry -> (module, callable, options, plugin option)
    "reasoning_parsers": ("vllm.reasoning", "ReasoningParserManager.list_registered", ["--reasoning-parser"]),
    "tool_call_parsers": ("vllm.tool_parsers", "ToolParserManager.list_registered", ["--tool-call-parser"]),
}
ENVS = "vllm.envs"  # environment_variables
ENV_CHECK = ("vllm.platforms.interface", "Platform", "validate_environ")
ROCM = ("vllm.platforms.rocm", "RocmPlatform")
QUANT_METHODS = ("vllm.model_executor.layers.quantization", "QuantizationMethods")
LINEAR_KERNELS = "vllm.model_executor.kernels.linear"  # _POSSIBLE_<FORMAT>_KERNELS[PlatformEnum.ROCM]
MOE_EXPERTS = "vllm.model_executor.layers.fused_moe.experts"  # classes' _supports_current_device
DTYPES = (
    "vllm.config.model",
    "_FLOAT16_NOT_SUPPORTED_MODELS",
    "_check_valid_dtype",
    "_is_valid_dtype",
    "_STR_DTYPE_TO_TORCH_DTYPE",
)


@dataclasses.dataclass
class Built:
    parser: argparse.ArgumentParser  # `vllm serve`'s own parser: the options
    root: argparse.ArgumentParser  # the `vllm` parser: its parse_args rewrites argv first


def build_parser() -> Built:
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
    make_arg_parser = importlib.import_module(CLI_ARGS).make_arg_parser
    FlexibleArgumentParser = importlib.import_module(ARGPARSE_UTILS).FlexibleArgumentParser

    # ServeSubcommand.subparser_init (cli/serve.py) does exactly this, but
    # importing that module drags in the whole HTTP server (uvicorn, ...);
    # description/epilog, the only other things it sets, are not options.
    root = FlexibleArgumentParser(description="vLLM CLI")
    subparsers = root.add_subparsers(required=False, dest="subparser")
    serve = subparsers.add_parser("serve", usage="vllm serve [model_tag] [options]")
    return Built(make_arg_parser(serve), root)


def typing_choices(action: argparse.Action, group: str | None):
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
    cls = _group_class(group)
    return dataclass_literal(cls, action.dest)


def _group_class(group: str | None):
    """The config dataclass an argument group is named after ("Frontend" -> FrontendArgs)."""
    if not group:
        return None
    config = importlib.import_module("vllm.config")
    cli_args = importlib.import_module(CLI_ARGS)
    return getattr(config, group, None) or getattr(cli_args, f"{group}Args", None)


def _mute():
    logging.disable(logging.CRITICAL)


def _unmute():
    logging.disable(logging.NOTSET)


# --- the config field behind each option --------------------------------------------------


def engine_args_fields() -> dict[str, tuple[type, str]]:
    """EngineArgs field -> (config class, field), read from the defaults in its source.

    ``attention_backend: ... = AttentionConfig.backend`` and
    ``compilation_config: ... = get_field(VllmConfig, "compilation_config")`` say which
    config field an option feeds (the option's dest is the EngineArgs field).
    """
    module = importlib.import_module(ENGINE_ARGS)
    tree = sourcescan.parse(Path(inspect.getfile(module)))
    cls_node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "EngineArgs")
    out = {}
    for stmt in cls_node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None):
            continue
        value = stmt.value
        if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
            owner, attr = value.value.id, value.attr
        elif (
            isinstance(value, ast.Call)
            and getattr(value.func, "id", None) == "get_field"
            and len(value.args) == 2
            and isinstance(value.args[0], ast.Name)
            and isinstance(value.args[1], ast.Constant)
        ):
            owner, attr = value.args[0].id, value.args[1].value
        else:
            continue
        cls = getattr(module, owner, None)
        if isinstance(cls, type) and dataclasses.is_dataclass(cls):
            out[stmt.target.id] = (cls, attr)
    return out


def _engine_args_hint(dest: str):
    module = importlib.import_module(ENGINE_ARGS)
    cli_args = importlib.import_module(CLI_ARGS)
    return field_hint(module.AsyncEngineArgs, dest) or field_hint(cli_args.FrontendArgs, dest)


def _config_class(action: argparse.Action, group: str | None, fields: dict) -> tuple[type | None, str | None]:
    """The dataclass a JSON option's value is validated as, and how we know."""
    fn = unwrap_type(action.type)
    for default in (*(getattr(fn, "__defaults__", None) or ()), *(getattr(fn, "__kwdefaults__", None) or {}).values()):
        if isinstance(default, type) and dataclasses.is_dataclass(default):
            return default, f"the option's type ({fn.__name__}) validates the JSON as this dataclass"
    if action.dest in fields:
        cls, attr = fields[action.dest]
        found = dataclasses_in(field_hint(cls, attr))
        if len(found) == 1:
            return found[0], f"EngineArgs.{action.dest} feeds {cls.__name__}.{attr}"
    owner = _group_class(group)
    found = dataclasses_in(field_hint(owner, action.dest)) if owner else []
    if len(found) == 1:
        return found[0], f"the JSON becomes {owner.__name__}.{action.dest}"
    return None, None


def config_keys(parser: argparse.ArgumentParser, options: dict) -> dict:
    """For every JSON option: the config dataclass behind it and its (nested) keys."""
    fields = engine_args_fields()
    out = {}
    for name, action in option_actions(parser).items():
        if options[name]["type"] != "json":
            continue
        cls, how = _config_class(action, options[name]["group"], fields)
        if cls is None:
            out[name] = {"config_class": None, "keys": None, "how": "a free-form JSON object (no dataclass behind it)"}
            continue
        pydantic_config = getattr(cls, "__pydantic_config__", None) or {}
        out[name] = {
            "config_class": qualname(cls),
            "how": how,
            "extra_keys": pydantic_config.get("extra"),
            "keys": key_tree(cls),
        }
    return out


# --- argv rewriting: dotted keys, -O, underscores ----------------------------------------


def rewritten_argv(root: argparse.ArgumentParser, args: list[str]) -> list[str] | str:
    """What FlexibleArgumentParser.parse_args hands to argparse for ``vllm serve MODEL <args>``."""
    seen: list[list[str]] = []
    original = argparse.ArgumentParser.parse_args

    def grab(self, args=None, namespace=None):
        seen.append(list(args))
        return argparse.Namespace()

    argparse.ArgumentParser.parse_args = grab
    try:
        with captures.capture_logs():
            root.parse_args(["serve", "MODEL", *args])
    except Exception as e:  # the rewriting itself refused the input
        return f"error: {type(e).__name__}: {e}"
    finally:
        argparse.ArgumentParser.parse_args = original
    out = seen[0] if seen else []
    return out[2:] if out[:2] == ["serve", "MODEL"] else out


def files_read_at_launch(built: Built, options: dict) -> dict:
    """Options ``vllm serve`` reads as a file before argparse (FlexibleArgumentParser.parse_args)."""

    def launch(argv: list[str]) -> str | None:
        result = rewritten_argv(built.root, argv)
        return result.removeprefix("error: ") if isinstance(result, str) else None

    return captures.files_read_at_launch(options, launch, f"{ARGPARSE_UTILS}.FlexibleArgumentParser.parse_args")


def shorthands(built: Built, options: dict, keys: dict, registries: dict) -> dict:
    """How ``vllm serve`` rewrites argv before argparse: dotted JSON keys, ``-O``, ``_``.

    Established by running the real FlexibleArgumentParser.parse_args on probe
    arguments built from the snapshot itself and recording what it hands to argparse.
    """
    json_aliases = {
        alias: name
        for name, opt in options.items()
        if opt["type"] == "json"
        for alias in opt["aliases"]
        if not alias.startswith("--")
    }
    probes: list[list[str]] = []
    # One `<alias>.<key>=1` per shorthand-aliased JSON option, then the other forms on
    # the JSON option with the most keys.
    for alias, name in sorted(json_aliases.items()):
        if keys.get(name, {}).get("keys"):
            probes.append([f"{alias}.{sorted(keys[name]['keys'])[0]}=1"])
    ranked = sorted((len(entry.get("keys") or {}), name) for name, entry in keys.items())
    if ranked and ranked[-1][0]:
        name = ranked[-1][1]
        tree = keys[name]["keys"]
        probes.append([f"{name}.{sorted(tree)[0]}", "1"])
        nested = next((k for k in sorted(tree) if tree[k].get("keys")), None)
        if nested:
            probes.append([f"{name}.{nested}.{sorted(tree[nested]['keys'])[0]}=true"])
        listed = next((k for k in sorted(tree) if tree[k]["type"].startswith("list[")), None)
        if listed:
            probes += [[f"{name}.{listed}+", "a,b"], [f"{name}.{listed}+=c"]]
        probes.append([f"{name}.{sorted(tree)[0]}=80g"])
    dashed = next((n for n in sorted(options) if n.count("-") >= 4), None)
    if dashed:
        probes.append([dashed.replace("-", "_").replace("__", "--", 1), "1"])

    levels = registries.get("OptimizationLevel", {})
    level_values = levels.get("values", [])
    level_option = (levels.get("options") or [None])[0]
    o_probes = []
    if level_values:
        top = max(int(v) for v in level_values if v.isdigit())
        candidates = [str(n) for n in range(top + 2)]
        o_probes = [[f"-O{candidates[-2]}"], [f"-O={candidates[-2]}"], ["-Oany"]]
        o_probes += [["-O", c] for c in candidates]
    results = [{"argv": p, "parsed_as": rewritten_argv(built.root, p)} for p in probes + o_probes]
    separate = [p["argv"][1] for p in results if p["argv"][:1] == ["-O"] and p["parsed_as"][:1] == [level_option]]
    attached = all(
        p["parsed_as"][:1] == [level_option] for p in results if p["argv"][0].startswith("-O") and p["argv"][0] != "-O"
    )
    return {
        "source": f"{ARGPARSE_UTILS}.FlexibleArgumentParser.parse_args",
        "json_option_aliases": dict(sorted(json_aliases.items())),
        "optimization_level": {
            "shorthand": "-O",
            "option": level_option,
            "levels": level_values,
            "attached_value_any_text": attached,
            "separate_values": separate,
        }
        if level_option
        else None,
        "probes": results,
    }


# --- registries ---------------------------------------------------------------------------


def _pydantic_before_validators(cls, field: str) -> list:
    decos = getattr(cls, "__pydantic_decorators__", None)
    if decos is None:
        return []
    out = []
    for name, deco in sorted(decos.field_validators.items()):
        if field in deco.info.fields and deco.info.mode == "before":
            out.append(getattr(cls, name))
    return out


def _enum_parser(enum_cls, owner, field: str):
    """A function text -> value that validates like the config field would, and its validators."""
    from pydantic import TypeAdapter

    hint = field_hint(owner, field) if owner else enum_cls
    adapter = TypeAdapter(hint if hint is not None else enum_cls)
    validators = _pydantic_before_validators(owner, field) if owner else []

    def parse(text):
        value = text
        for validate in validators:
            try:
                value = validate(value)
            except TypeError:
                value = validate(value, None)
        return adapter.validate_python(value)

    return parse, validators


def enum_registry(enum_cls, owner, field: str, option_names: list[str]) -> dict:
    """Spellings the config field behind an Enum-typed option accepts, found by trying them."""
    parse, validators = _enum_parser(enum_cls, owner, field)

    def accepts(text) -> tuple[bool, object]:
        try:
            return True, parse(text)
        except Exception:
            return False, None

    names = [m.name for m in enum_cls]
    values = [str(m.value) for m in enum_cls if isinstance(m.value, (str, int)) and len(str(m.value)) <= 40]
    by_name = [n for n in names if accepts(n)[0]]
    by_value = [v for v in values if accepts(v)[0]]
    accepted = by_name or by_value
    lower = [n.lower() for n in names]
    case_insensitive = bool(by_name) and all(accepts(n)[0] for n in lower)
    specials = {}
    for validate in validators:
        for text in sorted(string_constants(validate)):
            if text in names or text in values or text in lower:
                continue
            ok, value = accepts(text)
            if ok:
                specials[text] = jsonable(value)
    return captures.registry_entry(
        accepted,
        qualname(enum_cls),
        option_names,
        False,
        accepted_as="names" if by_name else "values",
        case_insensitive=case_insensitive,
        validated_by=[qualname(getattr(v, "__func__", v)) for v in validators] or None,
        special_values=specials or None,
        extensible=f"{enum_cls.__name__}.register" if callable(getattr(enum_cls, "register", None)) else None,
    )


def registries(parser: argparse.ArgumentParser, options: dict) -> dict:
    """Known values of open options, from vLLM's registries; sets their choices too."""
    actions = option_actions(parser)
    out = {}
    for key, (module, attr, names) in LIST_REGISTRIES.items():
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        out[key] = captures.registry_entry(obj(), f"{module}.{attr}()", names, False, extensible="plugin")
    fields = engine_args_fields()
    by_enum: dict[type, list[str]] = {}
    for name, action in actions.items():
        found = enums_in(_engine_args_hint(action.dest))
        if len(found) == 1:
            by_enum.setdefault(found[0], []).append(name)
    for enum_cls, names in sorted(by_enum.items(), key=lambda kv: kv[0].__name__):
        owner, field = fields.get(actions[names[0]].dest, (None, None))
        if owner is None:
            owner, field = _group_class(options[names[0]]["group"]), actions[names[0]].dest
        out[enum_cls.__name__] = enum_registry(enum_cls, owner, field, names)
    for entry in out.values():
        for name in entry["options"]:
            action = actions[name]
            extra = set(entry.get("special_values", {}))
            extra |= {t for t in string_constants(action.type) if t and _type_special(parser, action, t)}
            options[name]["choices"] = sorted({*entry["values"], *extra, *none_spellings(parser, action)})
            options[name]["choices_source"] = "registry" if entry.get("extensible") else "enum"
    return dict(sorted(out.items()))


def _type_special(parser, action, text) -> bool:
    """Whether the option's own type maps `text` to something else (vLLM: "none" -> "")."""
    value = parse_one(parser, action, text, check_choices=False)
    return value is not REJECTED and value != text


# --- environment variables ----------------------------------------------------------------


def _typed_env_declarations(envs_module) -> dict[str, dict]:
    """``if TYPE_CHECKING:`` declarations of vllm/envs.py: name -> type text and default."""
    tree = sourcescan.parse(Path(inspect.getfile(envs_module)))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    entry = {"type": ast.unparse(stmt.annotation)}
                    if stmt.value is not None:
                        try:
                            entry["default"] = jsonable(ast.literal_eval(stmt.value))
                        except ValueError:
                            entry["default_expr"] = ast.unparse(stmt.value)
                    out[stmt.target.id] = entry
    return out


def _getter_choices(getter) -> dict:
    """Choices a vLLM env getter validates against (env_with_choices and friends)."""
    code = getattr(getter, "__code__", None)
    cells = dict(zip(code.co_freevars, getter.__closure__ or ())) if code else {}
    out = {}
    if "choices" in cells:
        choices = cells["choices"].cell_contents
        if callable(choices):
            try:
                choices = choices()
            except Exception:
                choices = None
        if isinstance(choices, (list, tuple, set, frozenset)):
            out["choices"] = sorted(str(c) for c in choices)
    if "case_sensitive" in cells:
        out["case_sensitive"] = bool(cells["case_sensitive"].cell_contents)
    return out


def env(parser: argparse.ArgumentParser) -> dict:
    envs = importlib.import_module(ENVS)
    declared = _typed_env_declarations(envs)
    variables = {}
    for name, getter in sorted(envs.environment_variables.items()):
        entry = dict(declared.get(name, {}))
        entry.update(_getter_choices(getter))
        variables[name] = entry
    known = set(variables)

    module, cls_name, method = ENV_CHECK
    platform_cls = getattr(importlib.import_module(module), cls_name)
    probe = "VLLM_AIM_FLAGDUMP_PROBE"
    with captures.environ(**{probe: "1"}), captures.capture_logs(module) as logs:
        getattr(platform_cls, method)(False)
    warned = sorted({captures.template(r, probe) for r in logs if probe in r})
    error = None
    with captures.environ(**{probe: "1"}):
        try:
            getattr(platform_cls, method)(True)
        except Exception as e:
            error = captures.template(str(e), probe)
    called_from, error_option = [], None
    dests = {action.dest: name for name, action in option_actions(parser).items()}
    for mod in captures.modules(PACKAGE):
        for where, call in sourcescan.call_sites(mod.tree, method):
            called_from.append(f"{mod.name}:{where}")
            arg = call.args[0] if call.args else None
            if isinstance(arg, ast.Attribute) and arg.attr in dests:
                error_option = dests[arg.attr]
    return {
        "registry": {
            "source": f"{ENVS}.environment_variables",
            "how": "the keys of the dict vLLM reads every variable through; type and default from the "
            "`if TYPE_CHECKING:` declarations of the same file; choices from env_with_choices closures",
            "variables": variables,
        },
        "read_ad_hoc": {
            "how": "ast scan of the installed package (os.environ/os.getenv/environ[...]/'X' in os.environ/"
            "*_env_* helpers with a literal name) for VLLM_* names missing from the registry; "
            "such a variable is read, yet validate_environ calls it unknown",
            "variables": captures.ad_hoc_env(PACKAGE, known, prefix="VLLM_"),
        },
        "registry_unused": captures.unused_env(PACKAGE, known, ENVS),
        "unknown_variables": {
            "prefix_checks": captures.environ_checks(PACKAGE),
            "source": f"{module}.{cls_name}.{method}",
            "called_from": sorted(set(called_from)),
            "behaviour": "warn" if warned else "none",
            "warning": warned[0] if warned else None,
            "error_option": error_option,
            "error": error,
            "rocm_platform_overrides": _rocm_defines(method),
        },
    }


# --- quantization support per gfx target --------------------------------------------------


def _rocm_defines(method: str) -> bool:
    """Whether the ROCm platform class overrides `method` (read from source: importing
    vllm.platforms.rocm probes the device)."""
    spec = importlib.util.find_spec(ROCM[0])
    tree = sourcescan.parse(Path(spec.origin))
    return gates.find_function(tree, f"{ROCM[1]}.{method}") is not None


def _rocm_class(module):
    return getattr(module, ROCM[1])


def _load_copy(module_name: str) -> types.ModuleType:
    """A fresh copy of a module (its import-time device probes re-run); sys.modules untouched."""
    spec = importlib.util.find_spec(module_name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_PREDICATE_PREFIXES = ("is_", "supports_", "use_", "has_", "on_", "get_")


def _predicates(rocm) -> dict[str, object]:
    """Zero-argument probes of the ROCm platform class and module, called on the simulated
    device: bools (on_gfx950, supports_mx, ...) and plain values (get_cdna_version)."""
    out: dict[str, object] = {}
    platform = object.__new__(_rocm_class(rocm))
    for name in sorted(dir(platform)):
        if name.startswith(_PREDICATE_PREFIXES):
            _call_predicate(getattr(platform, name, None), name, out)
    for name, fn in sorted(vars(rocm).items()):
        if name.startswith(_PREDICATE_PREFIXES) and inspect.isfunction(fn) and fn.__module__ == rocm.__name__:
            _call_predicate(fn, name, out)
    return out


def _call_predicate(fn, name, out):
    if not callable(fn):
        return
    try:
        params = inspect.signature(fn).parameters.values()
        if any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params):
            return
        value = fn()
    except Exception:
        return
    if is_fake(value):
        value = False  # a fake torch answer: "no"
    if isinstance(value, (bool, int, str)):
        out[name] = value


def _kernel_verdict(kernel, preds) -> dict:
    """Whether a kernel class's own support checks accept the device described by `preds`."""
    result, requires, when, message = True, [], [], None
    for method in ("is_supported", "can_implement"):
        found = gates.method_source(kernel, method)
        if found is None:
            continue
        klass, node, tree = found
        owner = sys.modules.get(klass.__module__)
        verdict = gates.evaluate(node, tree, preds, vars(owner) if owner else None)
        requires += [{"if": c["if"], "message": c["message"]} for c in verdict.conditions if c["then"] is False]
        when += [c["if"] for c in verdict.conditions if c["then"] is True]
        if verdict.result is False:
            result, message = False, message or verdict.message
        elif verdict.result is None and result is True:
            result = None
    return {
        "kernel": kernel.__name__,
        "result": result,
        "message": message,
        "requires": requires,
        "accepted_when": when,
    }


def _kernel_choice(verdicts: list[dict]) -> dict:
    """native / emulated / unsupported for one device, from the kernels in priority order.

    ``native``: the first non-emulation kernel that accepts the device, with the runtime
    conditions its checks state (``requires``: tests that reject when true;
    ``accepted_when``: tests that accept when true, e.g. "aiter is enabled");
    ``emulation``: the first ``Emulation*`` kernel that does.
    """
    accepted = [v for v in verdicts if v["result"] is not False]
    native = next((v for v in accepted if "emulation" not in v["kernel"].lower()), None)
    emulation = next((v for v in accepted if "emulation" in v["kernel"].lower()), None)
    support = "native" if native else "emulated" if emulation else "unsupported"
    out: dict = {"support": support}
    for key, chosen in (("native", native), ("emulation", emulation)):
        if chosen:
            out[key] = {k: chosen[k] for k in ("kernel", "requires", "accepted_when") if chosen[k] or k == "kernel"}
    out["rejected"] = {v["kernel"]: v["message"] for v in verdicts if v["result"] is False}
    return out


def quantization_support() -> dict:
    methods = literal_values(getattr(importlib.import_module(QUANT_METHODS[0]), QUANT_METHODS[1])) or []
    linear = importlib.import_module(LINEAR_KERNELS)
    platform_enum = importlib.import_module("vllm.platforms.interface").PlatformEnum
    tables = {}
    for attr in sorted(dir(linear)):
        m = re.fullmatch(r"_POSSIBLE_(\w*?)_?KERNELS", attr)
        if not m:
            continue
        annotation = str(getattr(linear, "__annotations__", {}).get(attr, ""))
        base = re.findall(r"type\[([\w.]+)", annotation)
        key = m.group(1).lower() or (base[-1].rsplit(".", 1)[-1] if base else attr)
        tables[key] = (attr, getattr(linear, attr).get(platform_enum.ROCM, []))

    per_gfx, supported = {}, None
    verify_message = None
    for gfx in GFX_TARGETS:
        _mute()
        try:
            with simulate_rocm_device(gfx):
                rocm = _load_copy(ROCM[0])
                preds = _predicates(rocm)
                platform = _rocm_class(rocm)
                supported = list(platform.supported_quantization)
                probe = "aim_flagdump_probe"
                try:
                    platform.verify_quantization(probe)
                except Exception as e:
                    verify_message = captures.template(str(e), probe, "{quant}")
        finally:
            _unmute()
        per_gfx[gfx] = preds

    arch_predicates = {
        name: {gfx: per_gfx[gfx].get(name) for gfx in GFX_TARGETS}
        for name in sorted(set().union(*per_gfx.values()))
        if len({per_gfx[gfx].get(name) for gfx in GFX_TARGETS}) > 1
    }
    linear_out = {}
    for key, (attr, kernels) in sorted(tables.items()):
        by_gfx = {}
        for gfx in GFX_TARGETS:
            by_gfx[gfx] = _kernel_choice([_kernel_verdict(k, per_gfx[gfx]) for k in kernels])
        linear_out[key] = {
            "table": f"{LINEAR_KERNELS}.{attr}[PlatformEnum.ROCM]",
            "kernels": [k.__name__ for k in kernels],
            "by_gfx": by_gfx,
        }

    formats = sorted((k for k in linear_out if k.islower()), key=len, reverse=True)
    methods_out = {}
    for method in methods:
        fmt = next((f for f in formats if f in method), None)
        row = {}
        for gfx in GFX_TARGETS:
            if method not in supported:
                row[gfx] = "unsupported"
            elif fmt:
                row[gfx] = linear_out[fmt]["by_gfx"][gfx]["support"]
            else:
                row[gfx] = "accepted"
        methods_out[method] = {"support": row, "linear_kernels": fmt}

    return {
        "gfx_targets": list(GFX_TARGETS),
        "how": "each gfx target simulated (ROCm torch build, gcnArchName) and vllm/platforms/rocm.py re-executed; "
        "kernel support checks evaluated from their source with the platform's predicates (tools/flagdump/gates.py)",
        "platform": {
            "class": f"{ROCM[0]}.{ROCM[1]}",
            "supported_quantization": sorted(supported or []),
            "rejects_others": verify_message,
        },
        "arch_predicates": arch_predicates,
        "methods": methods_out,
        "linear_kernels": linear_out,
        "moe_experts": _moe_experts(per_gfx),
    }


def _moe_experts(per_gfx: dict) -> dict:
    """MoE expert classes' ``_supports_current_device`` per gfx target (from source)."""
    package = importlib.util.find_spec(MOE_EXPERTS)
    directory = Path(next(iter(package.submodule_search_locations)))
    out = {}
    for module in sourcescan.iter_modules(directory, MOE_EXPERTS):
        for node in module.tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            fn = gates.find_function(module.tree, f"{node.name}._supports_current_device")
            if fn is None:
                continue
            try:
                namespace = vars(importlib.import_module(module.name))
            except Exception:
                namespace = None
            row = {gfx: gates.evaluate(fn, module.tree, per_gfx[gfx], namespace).result for gfx in GFX_TARGETS}
            if len(set(row.values())) > 1:
                out[f"{module.name}.{node.name}"] = row
    return out


# --- dtype restrictions --------------------------------------------------------------------


def dtype_restrictions() -> dict:
    module_name, table_name, check_name, valid_name, spell_name = DTYPES
    module = importlib.import_module(module_name)
    table = getattr(module, table_name)
    check, valid, spell = getattr(module, check_name), getattr(module, valid_name), getattr(module, spell_name)
    torch_names = {s: (fake_path(d) or str(d)).removeprefix("torch.") for s, d in spell.items()}
    model_types = {}
    for model_type, reason in sorted(table.items()):
        rejected, message = [], None
        for text, dtype in sorted(spell.items()):
            try:
                check(model_type, dtype)
            except ValueError as e:
                rejected.append(text)
                message = message or str(e)
        auto_skips = sorted({torch_names[s] for s, d in spell.items() if not valid(model_type, d)})
        model_types[model_type] = {
            "rejected_dtypes": rejected,
            "auto_never_picks": auto_skips,
            "reason": reason,
            "message": message,
        }
    return {
        "source": f"{module_name}.{table_name}",
        "key": "model_type (the HF config's model_type, not the architecture class)",
        "how": f"explicit --dtype values that {check_name}() rejects, and dtypes {valid_name}() removes "
        "from the candidates of --dtype auto",
        "model_types": model_types,
    }


# --- everything -----------------------------------------------------------------------------


def capture(built: Built, snap: dict) -> dict:
    options = snap["options"]
    out = {}
    with captures.timed("config_keys"):
        out["config_keys"] = config_keys(built.parser, options)
    with captures.timed("registries"):
        out["registries"] = registries(built.parser, options)
    with captures.timed("shorthands"):
        out["shorthands"] = shorthands(built, options, out["config_keys"], out["registries"])
    with captures.timed("files_read_at_launch"):
        out["files_read_at_launch"] = files_read_at_launch(built, options)
    with captures.timed("env"):
        out["env"] = env(built.parser)
    with captures.timed("startup_deprecations"):
        out["startup_deprecations"] = captures.startup_deprecations(PACKAGE, options)
    with captures.timed("dtype_restrictions"):
        out["dtype_restrictions"] = dtype_restrictions()
    with captures.timed("quantization_support"):
        out["quantization_support"] = quantization_support()
    return out
