"""Text from data made safe for a terminal or a one-line message.

Catalogue files come from pull requests: a model name or a recipe value could carry a
newline (forging another output line) or an ANSI escape (rewriting the terminal). Every
tool prints such text through `printable`.
"""

from __future__ import annotations

import re

# C0 controls (tab included), DEL, C1 controls and the Unicode line/paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(value: object) -> str:
    """`value` as text on one line: control characters written as escapes (\\n, \\x1b, ...)."""
    text = str(value)
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(
        lambda m: (
            _NAMED.get(m.group(0)) or f"\\x{ord(m.group(0)):02x}"
            if ord(m.group(0)) < 0x100
            else f"\\u{ord(m.group(0)):04x}"
        ),
        text,
    )


def has_control(value: str) -> bool:
    return bool(_CONTROL.search(value))
