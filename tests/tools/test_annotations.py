"""Config-class annotations: Literal values, nested key trees, hint spelling."""

from __future__ import annotations

import dataclasses
import enum
from typing import Literal

from tools.flagdump import annotations


class Mode(enum.IntEnum):
    OFF = 0
    ON = 1


@dataclasses.dataclass
class PassConfig:
    fuse: bool | None = None
    limit: int = 3


@dataclasses.dataclass
class CompileConfig:
    backend: Literal["inductor", "eager"] | str = "inductor"
    mode: Mode | None = None
    sizes: list[int] | None = None
    pass_config: PassConfig = dataclasses.field(default_factory=PassConfig)
    computed: int = dataclasses.field(default=0, init=False)


def test_key_tree_is_nested_with_choices_and_enums():
    assert annotations.key_tree(CompileConfig) == {
        "backend": {"type": "Literal | str", "choices": ["eager", "inductor"]},
        "mode": {"type": "Mode | None", "enum": "Mode", "enum_names": ["OFF", "ON"], "enum_values": [0, 1]},
        "sizes": {"type": "list[int] | None"},
        "pass_config": {
            "type": "PassConfig",
            "keys": {"fuse": {"type": "bool | None"}, "limit": {"type": "int"}},
        },
    }


@dataclasses.dataclass
class Node:
    child: Node | None = None


def test_recursive_dataclasses_stop():
    assert annotations.key_tree(Node) == {"child": {"type": "Node | None", "keys": {}}}


def test_literal_values_and_dataclass_literal():
    assert annotations.literal_values(Literal["a", "b"] | None) == ["a", "b"]
    assert annotations.literal_values(int) is None
    assert annotations.dataclass_literal(CompileConfig, "backend") == ["inductor", "eager"]
    assert annotations.dataclass_literal(CompileConfig, "missing") is None


def test_field_hint_evaluates_string_annotations():
    # this module uses `from __future__ import annotations`: the field types are strings
    assert isinstance(dataclasses.fields(CompileConfig)[0].type, str)
    assert annotations.field_hint(CompileConfig, "pass_config") is PassConfig
    assert annotations.dataclasses_in(annotations.field_hint(CompileConfig, "pass_config")) == [PassConfig]
    assert annotations.enums_in(annotations.field_hint(CompileConfig, "mode")) == [Mode]
