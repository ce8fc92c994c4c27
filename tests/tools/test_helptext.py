"""Help summaries and the sentence that says an option is deprecated."""

from __future__ import annotations

import pytest
from tools.flagdump.helptext import clean_help, deprecation_sentence, first_sentence, sentences


def test_first_sentence_stops_at_the_first_full_stop_not_at_abbreviations():
    assert first_sentence("Use e.g. fp8 here. More text.") == "Use e.g. fp8 here."


def test_first_sentence_stops_at_a_list():
    assert first_sentence("Backends:\n- a\n- b") == "Backends:"


def test_first_sentence_clips_long_text():
    text = "word " * 100
    assert first_sentence(text, limit=20) == "word word word wo..."  # 17 characters + "..."


def test_clean_help_unescapes_percent_and_drops_suppressed():
    assert clean_help("90%% of memory") == "90% of memory"
    assert clean_help("==SUPPRESS==") is None


def test_sentences():
    assert sentences("One. Two, i.e. more.  Three") == ["One.", "Two, i.e. more.", "Three"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The size. --old-size is deprecated; use --size.", "--old-size is deprecated; use --size."),
        ("Deprecated: use --size instead.", "Deprecated: use --size instead."),
        ("[DEPRECATED] Old knob.", "[DEPRECATED] Old knob."),
        ("Deprecated. Use --size.", "Deprecated. Use --size."),  # too short alone: the next sentence joins
        ("This option is now deprecated in favour of --size.", "This option is now deprecated in favour of --size."),
        ("old_size will be deprecated soon.", "old_size will be deprecated soon."),
    ],
)
def test_deprecation_sentence_found(text, expected):
    assert deprecation_sentence(text, ["--old-size", "old_size"]) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Allow deprecated quantization methods.",  # vLLM --allow-deprecated-quantization
        "The fallback to that flag for external linkers is deprecated.",  # about another flag
        "--other is deprecated.",  # names another option
        None,
    ],
)
def test_deprecation_sentence_not_found(text):
    assert deprecation_sentence(text, ["--old-size", "old_size"]) is None
