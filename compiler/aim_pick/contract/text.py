"""Text from data made safe for a terminal or a one-line message.

Catalogue files come from pull requests: a model name or a recipe value could carry a
newline (forging another output line), an ANSI escape (rewriting the terminal) or an
invisible format character (a right-to-left override reordering what is shown). Every
tool prints such text through `printable`.
"""

from __future__ import annotations

import re

# The characters `printable` escapes that line- and file-based formats must refuse: C0 and
# C1 controls (tab included), DEL, the Unicode line/paragraph separators, lone surrogates.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(value: object) -> str:
    """`value` as text on one line: every character Python does not call printable (controls,
    format characters such as U+202E, separators, lone surrogates, ...) written as an escape
    (\\n, \\x1b, \\u202e); spaces stay."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch == " " else _escape(ch) for ch in text)


def has_control(value: str) -> bool:
    return bool(CONTROL.search(value))
