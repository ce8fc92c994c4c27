"""Serialise an argparse parser into the snapshot's ``options`` (plus value-syntax facts).

Engine-neutral: works on any ``argparse.ArgumentParser``, which is how the tests exercise
it (tests/tools/test_serialise.py builds a small parser). Engine-specific knowledge comes
in through two hooks: ``typing_choices(action, group)`` (known values of an option that
argparse does not enforce) and ``fire_deprecated`` (whether ``Deprecated*Action``s may be
run to capture their message).

Only the standard library may be imported here: this runs inside the throw-away venv.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import functools
import json
import logging
import re
import string
import types
import typing
from collections.abc import Callable
from pathlib import Path

from .helptext import clean_help, deprecation_sentence, first_sentence, one_line

TypingChoices = Callable[[argparse.Action, "str | None"], "list | None"]

# Closures that only wrap another type callable (vLLM's optional_type /
# parse_type): we report the callable they wrap.
_WRAPPER_NAMES = {"_optional_type", "_parse_type"}


def unwrap_type(fn):
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


def type_name(fn) -> str | None:
    if fn is None:
        return None
    if typing.get_origin(fn) is typing.Literal:
        return "Literal"
    return getattr(fn, "__name__", None) or type(fn).__name__


def type_category(fn, kind: str) -> str:
    """int | float | str | bool | human_int | json | path."""
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
    name = (type_name(fn) or "").lower()
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


def kind_of(action: argparse.Action) -> str:
    """help | bool (``--x``/``--no-x``) | count | flag (no value) | value."""
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


def jsonable(value, depth: int = 0):
    """JSON-serialisable, deterministic rendering of a default value."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, enum.Enum):
        return jsonable(value.value, depth + 1)
    if depth > 6:
        return _ADDRESS.sub("", repr(value))
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):  # engines use sets: sort them
        return sorted(
            (jsonable(v, depth + 1) for v in value),
            key=lambda v: json.dumps(v, sort_keys=True),
        )
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name, None), depth + 1) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump") and not isinstance(value, type):  # pydantic
        try:
            return jsonable(value.model_dump(mode="json"), depth + 1)
        except Exception:
            pass
    return _ADDRESS.sub("", repr(value))


# --- what the parser accepts -------------------------------------------------------------


def string_constants(fn, depth: int = 0) -> set[str]:
    """Short string literals in the code of a type callable and the callables it closes over.

    These are the candidates for special spellings (``"auto"``, ``"None"``, ``""``): a
    type function only names a literal to treat it specially. Docstrings, messages and
    separators are left out.
    """
    out: set[str] = set()
    if depth > 4 or fn is None:
        return out
    if isinstance(fn, functools.partial):
        return string_constants(fn.func, depth + 1)
    if isinstance(fn, (classmethod, staticmethod)):
        fn = fn.__func__
    fn = getattr(fn, "__func__", fn)  # bound methods

    def walk(code):
        for const in code.co_consts:
            if isinstance(const, str):
                out.add(const)
            elif isinstance(const, types.CodeType):
                walk(const)

    code = getattr(fn, "__code__", None)
    if code is not None:
        walk(code)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            inner = cell.cell_contents
        except ValueError:  # empty cell
            continue
        if callable(inner) and not isinstance(inner, type):
            out |= string_constants(inner, depth + 1)
    # Words, numbers and "" only: separators ("," "|") and messages are not spellings.
    return {s for s in out if len(s) <= 16 and (s == "" or re.fullmatch(r"[\w.+-]+", s))}


REJECTED = object()  # what parse_one returns for a value the parser refuses


def parse_one(parser: argparse.ArgumentParser, action: argparse.Action, text: str, check_choices: bool = True):
    """What the parser makes of one value string for `action`: its value, or REJECTED."""
    try:
        value = parser._get_value(action, text)
    except Exception:
        return REJECTED
    if check_choices and action.choices is not None:
        try:
            parser._check_value(action, value)
        except Exception:
            return REJECTED
    return value


def choice_text(value) -> str:
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


def none_spellings(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    """Value strings the option's type turns into None (vLLM's optional types: "" and "None")."""
    out = []
    for text in sorted(string_constants(action.type)):
        if parse_one(parser, action, text, check_choices=False) is None:
            out.append(text)
    return out


def accepted_choices(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    """The argparse choices as value strings the parser really accepts, sorted.

    A None choice (vLLM appends one for Optional fields) is reachable only through a
    spelling the type converts to None ("None", ""), so those spellings are listed;
    every other choice by its text, if the parser accepts that text.
    """
    out: set[str] = set()
    for value in action.choices:
        candidates = none_spellings(parser, action) if value is None else [choice_text(value)]
        out.update(text for text in candidates if parse_one(parser, action, text) is not REJECTED)
    return sorted(out)


def known_values(values, parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    """A list of known (not argparse-enforced) values, plus the spellings meaning "unset"."""
    out = {choice_text(v) for v in values if v is not None}
    out.update(none_spellings(parser, action))
    return sorted(out)


def choices_of(parser, action: argparse.Action, group: str | None, typing_choices: TypingChoices | None):
    """(choices, choices_source) of one option; see the README for the sources."""
    if action.choices:
        return accepted_choices(parser, action), "argparse"
    metavar = action.metavar
    # "{a,b,c}", possibly followed by prose such as vLLM's
    # "{hermes,...} or name registered in --tool-parser-plugin".
    m = re.match(r"\s*\{([^{}]+)\}", metavar) if isinstance(metavar, str) else None
    if m:
        return known_values((x.strip() for x in m.group(1).split(",")), parser, action), "metavar"
    if isinstance(metavar, list) and len(metavar) > 1:
        # vLLM's literal_to_kwargs puts the Literal values in the metavar when
        # the field also accepts any str (so argparse cannot enforce them).
        # (A *tuple* metavar is argparse's way to name nargs=N values.)
        return known_values(metavar, parser, action), "metavar"
    fn = unwrap_type(action.type)
    if typing.get_origin(fn) is typing.Literal:
        return known_values(typing.get_args(fn), parser, action), "literal"
    values = typing_choices(action, group) if typing_choices else None
    if values:
        return known_values(values, parser, action), "typing"
    return None, None


def special_values(parser: argparse.ArgumentParser, action: argparse.Action) -> dict[str, typing.Any]:
    """Spellings the option's custom type treats specially, with the value each parses to.

    Candidates are the string literals in the type callable's code; a candidate counts
    when the parser accepts it and it does not parse to itself ("auto" -> -1,
    "None" -> None, "none" -> "").
    """
    fn = action.type
    if fn is None or isinstance(fn, type):
        return {}
    out = {}
    for text in sorted(string_constants(fn)):
        value = parse_one(parser, action, text)
        if value is REJECTED or (isinstance(value, str) and value == text):
            continue
        out[text] = jsonable(value)
    return out


def number_suffixes(parser: argparse.ArgumentParser, action: argparse.Action) -> dict[str, typing.Any]:
    """For human-readable int types: each accepted one-letter suffix and its multiplier.

    Found by asking the parser for ``1<letter>`` for every ASCII letter, and
    ``1.5<letter>`` to see which suffixes take a decimal number.
    """
    multipliers, decimals = {}, []
    for letter in string.ascii_letters:
        value = parse_one(parser, action, f"1{letter}")
        if isinstance(value, int) and not isinstance(value, bool):
            multipliers[letter] = value
            if parse_one(parser, action, f"1.5{letter}") is not REJECTED:
                decimals.append(letter)
    return {"multipliers": multipliers, "decimal_suffixes": decimals} if multipliers else {}


# --- deprecations -------------------------------------------------------------------------


class _ParserError(Exception):
    pass


class _CapturingParser(argparse.ArgumentParser):
    def error(self, message):
        raise _ParserError(message)


def fire_deprecated_action(action: argparse.Action, option: str) -> str | None:
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
    unique = dict.fromkeys(one_line(re.sub(r"\x1b\[[0-9;]*m", "", r)) for r in records)
    return " ".join(u for u in unique if u) or None


def deprecation_of(action, parser, option, help_text, fire_deprecated: bool) -> tuple[bool, str | None]:
    names = [*action.option_strings, action.dest]
    # 1. Dedicated action classes (SGLang's Deprecated*Action family; vLLM has
    #    one too, DeprecatedLogConfigFileAction, whose help says it all).
    if type(action).__name__.startswith("Deprecated"):
        fired = fire_deprecated_action(action, option) if fire_deprecated else None
        return True, (fired or deprecation_sentence(help_text, names) or first_sentence(help_text) or "deprecated")
    # 2. argparse's own `deprecated=` (Python >= 3.13, or vLLM's backport in
    #    FlexibleArgumentParser._deprecated on older Pythons).
    if getattr(action, "deprecated", False) or action in getattr(parser, "_deprecated", ()):
        return True, (deprecation_sentence(help_text, names) or f"argument '{action.dest}' is deprecated")
    # 3. vLLM documents most deprecations only in the help text (and SGLang
    #    some of its store_true ones: "(Deprecated, use --smg-grpc-mode)").
    sentence = deprecation_sentence(help_text, names)
    return (True, sentence) if sentence else (False, None)


# --- the options table --------------------------------------------------------------------


def primary_name(action: argparse.Action) -> str:
    """The key of an option: its first long spelling that is not a ``--no-`` one."""
    longs = [o for o in action.option_strings if o.startswith("--") and not o.startswith("--no-")]
    return (longs or [o for o in action.option_strings if o.startswith("--")] or action.option_strings)[0]


def option_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Primary name -> action, for every option the snapshot lists."""
    out = {}
    for action in parser._actions:
        if not action.option_strings:
            continue  # positionals (vllm serve's model_tag)
        if kind_of(action) == "help" and "--help" in action.option_strings:
            continue
        out[primary_name(action)] = action
    return out


def group_titles(parser: argparse.ArgumentParser) -> dict[int, str | None]:
    """id(action) -> the title of the group the engine put it in (None: argparse's own)."""
    group_of: dict[int, str | None] = {}
    for group in parser._action_groups:
        title = None if group in (parser._optionals, parser._positionals) else group.title
        for action in group._group_actions:
            group_of.setdefault(id(action), title)
    return group_of


def dump_parser(
    parser: argparse.ArgumentParser,
    typing_choices: TypingChoices | None = None,
    fire_deprecated: bool = False,
) -> dict:
    """``allow_abbrev``, ``option_count`` and ``options`` of the snapshot."""
    group_of = group_titles(parser)
    # Every accepted spelling: argparse's lookup table is the ground truth
    # (vLLM hides some spellings from `option_strings`, e.g. --no-enable-x).
    spellings: dict[int, list[str]] = {}
    for opt, action in parser._option_string_actions.items():
        spellings.setdefault(id(action), []).append(opt)

    options: dict[str, dict] = {}
    for name, action in option_actions(parser).items():
        kind = kind_of(action)
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
        fn = unwrap_type(action.type)
        group = group_of.get(id(action))
        choices, source = choices_of(parser, action, group, typing_choices)
        help_text = clean_help(action.help)
        deprecated, deprecation = deprecation_of(action, parser, name, help_text, fire_deprecated)
        options[name] = {
            "aliases": sorted(accepted - {name}),
            "negation": negation,
            "negations": sorted(negatives),
            "kind": kind,
            "type": type_category(fn, kind),
            "type_name": type_name(fn),
            "choices": choices,
            "choices_source": source,
            "nargs": None if action.nargs is None else str(action.nargs),
            "default": None if action.default is argparse.SUPPRESS else jsonable(action.default),
            "deprecated": deprecated,
            "deprecation": deprecation,
            "group": group,
            "help": first_sentence(help_text),
        }
    return {
        "allow_abbrev": bool(parser.allow_abbrev),
        "option_count": len(options),
        "options": options,
    }


def value_syntax(parser: argparse.ArgumentParser) -> dict:
    """``special_values`` and ``number_suffixes`` sections: per option, only where non-empty."""
    specials, suffixes = {}, {}
    for name, action in option_actions(parser).items():
        if kind_of(action) != "value":
            continue
        found = special_values(parser, action)
        if found:
            specials[name] = found
        if type_category(unwrap_type(action.type), "value") == "human_int":
            found = number_suffixes(parser, action)
            if found:
                suffixes[name] = found
    return {"special_values": specials, "number_suffixes": suffixes}
