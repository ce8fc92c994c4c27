from __future__ import annotations

from pathlib import Path

import pytest

from aim_engine.catalogue.yamlsource import YamlError, parse_yaml

P = Path("x.yaml")


def test_lines_of_values_and_keys():
    doc = parse_yaml("a: 1\nb:\n  c:\n    - x\n    - y\n", P)
    assert doc.data == {"a": 1, "b": {"c": ["x", "y"]}}
    assert doc.line_of(("a",)) == 1
    assert doc.line_of(("b", "c", 1)) == 5
    assert doc.key_line(("b", "c")) == 3
    # a missing path falls back to the closest existing parent
    assert doc.line_of(("b", "nope")) == 3


def test_duplicate_keys_are_reported_with_their_line():
    doc = parse_yaml("a: 1\nb: 2\na: 3\n", P)
    assert doc.duplicate_keys == [("a", 3)]


def test_merge_keys_are_not_duplicates_and_resolve():
    doc = parse_yaml("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n", P)
    assert doc.data["other"] == {"x": 1, "y": 3}
    assert doc.duplicate_keys == []
    assert doc.line_of(("other", "y")) == 4


def test_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    with pytest.raises(YamlError, match="expands"):
        parse_yaml("\n".join(lines) + "\n", P)


def test_recursive_alias_is_refused():
    with pytest.raises(YamlError, match="recursive"):
        parse_yaml("a: &x\n  b: *x\n", P)


def test_syntax_error_has_a_line():
    with pytest.raises(YamlError) as err:
        parse_yaml("a: 1\nb: [unclosed\nc: 2\n", P)
    assert err.value.line is not None and err.value.line >= 2


def test_empty_document():
    assert parse_yaml("", P).data is None
