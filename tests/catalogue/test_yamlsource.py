from __future__ import annotations

from pathlib import Path

import pytest

from aim_engine.catalogue.yamlsource import YamlError, load_yaml, parse_yaml

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


@pytest.mark.parametrize(
    "text, line, words",
    [
        ("a: 1\nb: !!float abc\n", 2, "explicit YAML tag '!!float'"),
        ("a: 1\nb: !!int abc\n", 2, "explicit YAML tag '!!int'"),
        ("a: 1\nb: !!bool maybe\n", 2, "explicit YAML tag '!!bool'"),
        ("a: 1\nb: !!str 5\n", 2, "explicit YAML tag '!!str'"),
        ("a: 1\nb: !!set {x}\n", 2, "explicit YAML tag '!!set'"),
        ("a: 1\nb: !!python/object:os.system ls\n", 2, "explicit YAML tag"),
        ("a: 1\nb: !custom x\n", 2, "explicit YAML tag '!custom'"),
        ("a: 1\nb: !!timestamp 2001-99-99\n", 2, "cannot read '2001-99-99' as timestamp"),
        ("a: 1\nb: 2001-99-99\n", 2, "cannot read '2001-99-99' as timestamp"),
        ("a: 1\nb: 0x_\n", 2, "cannot read '0x_' as int"),
        ("a: 1\nb: [\n", 2, "invalid YAML"),
        ("a: 1\nb: x\x00y\n", 2, "character U+0000"),
        ("a: 1\nb: é\x1b\n", 2, "character U+001B"),
        ("a: 1\n---\nb: 2\n", 2, "expected a single document"),
        ("a:\n  " + "[" * 70 + "]" * 70 + "\n", 2, "nests deeper than 64"),
        ("a: 1\nb: " + "[" * 1200 + "]" * 1200 + "\n", 2, "invalid YAML"),
        ("a: 1\nb: 'unterminated", 2, "invalid YAML"),
    ],
)
def test_every_yaml_error_has_a_line_and_one_line_of_text(text, line, words):
    with pytest.raises(YamlError) as err:
        parse_yaml(text, P)
    assert err.value.line == line, err.value.message
    assert words in err.value.message
    assert "\n" not in err.value.message


def test_plain_and_quoted_values_are_not_tags():
    doc = parse_yaml("a: 1\nb: x\nc: 'y'\nd: \"!!float z\"\ne: 1.5\nf: null\ng: 2001-12-14\n<<: {h: 1}\n", P)
    assert doc.data["d"] == "!!float z" and doc.data["h"] == 1


def test_file_level_errors_have_a_line():
    for raw, line in [(b"a: 1\nb: \xff\n", 2), ("a: 1\n".encode("utf-16"), 1), (b"\xef\xbb\xbfa: 1\nb: [\n", 2)]:
        with pytest.raises(YamlError) as err:
            load_yaml(P, raw)
        assert err.value.line == line, (raw, err.value.message)
    assert load_yaml(P, b"\xef\xbb\xbfa: 1\n").data == {"a": 1}  # a UTF-8 byte order mark is fine


def test_an_empty_document_points_at_line_one():
    assert parse_yaml("", P).line_of(("x",)) == 1
