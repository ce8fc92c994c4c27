"""aim_engine.cache.names: the cache root, model ids, sizes, ages, one-line text."""

from __future__ import annotations

import pytest

from aim_engine.cache import CacheError
from aim_engine.cache.names import cache_root, human_size, model_id, parse_age, parse_size, printable
from aim_engine.errors import AimError

from .conftest import run


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("500G", 500 * 10**9),
        ("500GB", 500 * 10**9),
        ("1.5TiB", int(1.5 * 1024**4)),
        ("20000", 20000),
        ("10 MiB", 10 * 1024**2),
        ("2k", 2000),
    ],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86400), ("12h", 43200), ("2w", 14 * 86400), ("45", 45 * 86400), ("90m", 5400)]
)
def test_parse_age(text, seconds):
    assert parse_age(text) == seconds


@pytest.mark.parametrize("bad", ["", "lots", "-1G", "5X", "1e9"])
def test_bad_sizes_and_ages_name_the_option(bad):
    with pytest.raises(CacheError, match="--max-size") as size:
        parse_size(bad)
    assert size.value.code == 2
    with pytest.raises(CacheError, match="--older-than"):
        parse_age(bad + "y")


def test_absurdly_large_sizes_and_ages_are_bad_input_not_a_crash(root, capsys):
    huge = "9" * 400
    for option in ("--max-size", "--older-than"):
        code, _, err = run(capsys, "cache", "cleanup", "--cache-dir", str(root), option, huge)
        assert code == 2 and err.count("\n") == 1 and option in err and "internal error" not in err


def test_model_ids_and_slugs():
    assert model_id("Qwen--Qwen3-8B") == "Qwen/Qwen3-8B"
    assert model_id(" org/name ") == "org/name"
    for bad in ("org/../x", "../org", "/abs/x", "org\\x", "a--b--c"):
        with pytest.raises(CacheError) as error:
            model_id(bad)
        assert error.value.code == 2


def test_cache_root_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("AIM_CACHE_DIR", raising=False)
    assert str(cache_root(None)) == "/workspace/model-cache"
    monkeypatch.setenv("AIM_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root(None) == tmp_path / "env"
    assert cache_root(str(tmp_path / "opt")) == tmp_path / "opt"
    (tmp_path / "file").write_text("")
    with pytest.raises(CacheError, match="not a folder"):
        cache_root(str(tmp_path / "file"))


def test_cache_error_is_the_one_error_model():
    assert issubclass(CacheError, AimError)
    assert CacheError("x").exit_code == 1 and CacheError("x", 2).code == 2


def test_human_sizes():
    assert [human_size(n) for n in (0, 1023, 1024, 1536 * 1024, 5 * 1024**5)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 MiB",
        "5120.0 TiB",
    ]


def test_printable_keeps_text_on_one_line():
    assert printable("plain /path/ü") == "plain /path/ü"
    shown = printable("a\nrm -rf /\r\x1b[31m\u2028b")
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown and "\u2028" not in shown
    assert shown == "a\\nrm -rf /\\r\\x1b[31m\\u2028b"


def test_a_cache_root_that_is_not_utf8_is_refused_in_one_line(tmp_path, capsys):
    root = str(tmp_path) + "/" + b"\xff".decode("utf-8", "surrogateescape")
    with pytest.raises(CacheError, match="not valid UTF-8") as error:
        cache_root(root)
    assert error.value.code == 2 and "\\udcff" in str(error.value)
    code, out, err = run(capsys, "cache", "env", "org/m", "--host", "--cache-dir", root)
    assert code == 2 and out == "" and err.count("\n") == 1
