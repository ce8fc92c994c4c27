"""The serialiser on a small argparse parser built here: every field it writes, exactly."""

from __future__ import annotations

import argparse
import re

import pytest
from tools.flagdump import serialise


def optional(kind):
    """Like vLLM's optional_type: "" and "None" mean unset."""

    def _optional_type(val):
        if val == "" or val == "None":
            return None
        return kind(val)

    return _optional_type


def human_readable_int(value: str) -> int:
    """Like vLLM's: 1k = 1000, 1K = 1024, decimals only with decimal suffixes; auto = -1."""
    if value.lower() == "auto":
        return -1
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM])", value)
    if m:
        number, suffix = m.groups()
        if suffix in "km":
            return int(float(number) * {"k": 10**3, "m": 10**6}[suffix])
        return int(number) * {"K": 2**10, "M": 2**20}[suffix]
    return int(value)


class DeprecatedFooAction(argparse.Action):
    """Like SGLang's Deprecated*Action: refuses the option with its own message."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is gone; use --size instead")


@pytest.fixture(scope="module")
def parser():
    p = argparse.ArgumentParser(prog="toy", allow_abbrev=False)
    group = p.add_argument_group("ToyConfig")
    group.add_argument("--size", "-n", "--num", type=int, default=4, help="How many. Second sentence.")
    group.add_argument("--feature", action=argparse.BooleanOptionalAction, default=None, help="Turn it on.")
    p.add_argument("--mode", type=optional(str), choices=["fast", "slow", None], default=None, help="The mode.")
    p.add_argument("--plain", type=str, choices=["x", None], help="None is listed but unreachable.")
    p.add_argument("--items", nargs="+", type=str, default=["a"], help="Items, e.g. a b.")
    p.add_argument("--old-size", type=int, help="Old size. --old-size is deprecated and will be removed; use --size.")
    p.add_argument("--foo", action=DeprecatedFooAction, help=argparse.SUPPRESS)
    p.add_argument("--verbose", action="store_true", help="Say more")
    p.add_argument("--max-len", type=optional(human_readable_int), help="Tokens.")
    p.add_argument("--level", type=int, choices=range(3), default=1)
    return p


@pytest.fixture(scope="module")
def dumped(parser):
    return serialise.dump_parser(parser, fire_deprecated=True)


def test_header(dumped):
    assert dumped["allow_abbrev"] is False
    assert dumped["option_count"] == len(dumped["options"]) == 10  # --help is left out
    assert "--help" not in dumped["options"]


def test_value_option_with_aliases_and_group(dumped):
    assert dumped["options"]["--size"] == {
        "aliases": ["--num", "-n"],
        "negation": None,
        "negations": [],
        "kind": "value",
        "type": "int",
        "type_name": "int",
        "choices": None,
        "choices_source": None,
        "nargs": None,
        "default": 4,
        "deprecated": False,
        "deprecation": None,
        "group": "ToyConfig",
        "help": "How many.",
    }


def test_boolean_optional_action(dumped):
    opt = dumped["options"]["--feature"]
    assert (opt["kind"], opt["type"], opt["negation"], opt["negations"], opt["aliases"]) == (
        "bool",
        "bool",
        "--no-feature",
        ["--no-feature"],
        [],
    )


def test_none_choice_is_listed_by_the_spellings_the_type_maps_to_none(dumped):
    opt = dumped["options"]["--mode"]
    assert opt["choices"] == ["", "None", "fast", "slow"]
    assert opt["choices_source"] == "argparse"
    assert opt["type_name"] == "str"  # the wrapper is looked through
    assert opt["group"] is None


def test_none_choice_without_a_converting_type_is_not_accepted(dumped):
    # type=str turns "None" into the string "None", which is not the None choice.
    assert dumped["options"]["--plain"]["choices"] == ["x"]


def test_int_choices_are_their_text(dumped):
    assert dumped["options"]["--level"]["choices"] == ["0", "1", "2"]


def test_nargs_plus(dumped):
    opt = dumped["options"]["--items"]
    assert (opt["nargs"], opt["default"], opt["kind"], opt["help"]) == ("+", ["a"], "value", "Items, e.g. a b.")


def test_store_true(dumped):
    opt = dumped["options"]["--verbose"]
    assert (opt["kind"], opt["type"], opt["nargs"], opt["default"], opt["negation"]) == (
        "flag",
        "bool",
        "0",
        False,
        None,
    )
    assert opt["help"] == "Say more"


def test_help_text_deprecation(dumped):
    opt = dumped["options"]["--old-size"]
    assert opt["deprecated"] is True
    assert opt["deprecation"] == "--old-size is deprecated and will be removed; use --size."


def test_deprecated_action_is_fired_for_its_own_message(dumped):
    opt = dumped["options"]["--foo"]
    assert (opt["deprecated"], opt["deprecation"], opt["help"]) == (True, "--foo is gone; use --size instead", None)


def test_deprecated_action_not_fired_when_told_not_to(parser):
    opt = serialise.dump_parser(parser, fire_deprecated=False)["options"]["--foo"]
    assert (opt["deprecated"], opt["deprecation"]) == (True, "deprecated")


def test_human_int_type_and_suffixes(parser, dumped):
    assert dumped["options"]["--max-len"]["type"] == "human_int"
    action = serialise.option_actions(parser)["--max-len"]
    assert serialise.number_suffixes(parser, action) == {
        "multipliers": {"K": 1024, "M": 1048576, "k": 1000, "m": 1000000},
        "decimal_suffixes": ["k", "m"],
    }


def test_special_values(parser):
    syntax = serialise.value_syntax(parser)
    assert syntax["special_values"]["--max-len"] == {"": None, "None": None, "auto": -1}
    assert syntax["special_values"]["--mode"] == {"": None, "None": None}
    assert "--size" not in syntax["special_values"]  # plain int: nothing special
    assert set(syntax["number_suffixes"]) == {"--max-len"}


def test_typing_choices_hook_gives_known_values(parser):
    def hook(action, group):
        return ["b", "a", None] if action.dest == "size" else None

    opt = serialise.dump_parser(parser, typing_choices=hook)["options"]["--size"]
    assert (opt["choices"], opt["choices_source"]) == (["a", "b"], "typing")


def test_metavar_lists_are_known_values():
    p = argparse.ArgumentParser()
    p.add_argument("--parser", type=optional(str), metavar="{hermes,pythonic} or name registered in --plugin")
    p.add_argument("--dtype", type=str, metavar=["auto", "fp8"])
    options = serialise.dump_parser(p)["options"]
    assert (options["--parser"]["choices"], options["--parser"]["choices_source"]) == (
        ["", "None", "hermes", "pythonic"],
        "metavar",
    )
    assert options["--dtype"]["choices"] == ["auto", "fp8"]


def test_string_constants_follow_closures():
    assert {"", "None", "auto"} <= serialise.string_constants(optional(human_readable_int))
    assert "Like vLLM's: 1k = 1000, 1K = 1024, decimals only with decimal suffixes; auto = -1." not in (
        serialise.string_constants(human_readable_int)
    )


def test_jsonable_is_deterministic():
    class Thing:
        pass

    rendered = serialise.jsonable({"s": {3, 1, 2}, "f": float("inf"), "o": Thing()})
    assert rendered["s"] == [1, 2, 3]
    assert rendered["f"] == "inf"
    assert " at 0x" not in rendered["o"]


@pytest.mark.parametrize(
    "fn, category",
    [(int, "int"), (float, "float"), (str, "str"), (None, "str"), (human_readable_int, "human_int")],
)
def test_type_category(fn, category):
    assert serialise.type_category(fn, "value") == category
