"""Help-text helpers: the one-sentence summary and the sentence that says "deprecated".

Pure string functions (no engine imports), tested in tests/tools/test_helptext.py.
"""

from __future__ import annotations

import argparse
import re

_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)(?<!\bapprox)\.(?=\s|$)")
# Help texts start lists/paragraphs with a blank line or "\n- ": the summary
# is what comes before.
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\n\s*(?:[-*+]|\d+\.)\s")


def clean_help(text) -> str | None:
    """Help text as argparse would print it, minus the %-escaping."""
    if not text or text == argparse.SUPPRESS:
        return None
    return str(text).replace("%%", "%").strip()


def one_line(text: str) -> str:
    return " ".join(text.split())


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def first_sentence(text: str | None, limit: int = 200) -> str | None:
    """The first sentence of the first paragraph, on one line, at most `limit` characters."""
    if not text:
        return None
    para = one_line(_PARAGRAPH_BREAK.split(text, maxsplit=1)[0])
    m = _SENTENCE_END.search(para)
    return clip(para[: m.end()] if m else para, limit)


def sentences(text: str) -> list[str]:
    text, out, start = one_line(text), [], 0
    for m in list(_SENTENCE_END.finditer(text)) + [None]:
        end = m.end() if m else len(text)
        if text[start:end].strip():
            out.append(text[start:end].strip())
        start = end
    return out


# A help sentence flags the option itself as deprecated when it starts with
# "Deprecated" ("Deprecated: ...", "(Deprecated, use --x)", "[DEPRECATED]"),
# or names the option (or says "this option") AND uses "deprecated" as a verb
# ("--x is deprecated", "x will be deprecated", "deprecated and ...").
# Not matched, on purpose: "allow deprecated quantization methods" (vLLM
# --allow-deprecated-quantization), "the fallback to that flag ... is
# deprecated" (SGLang --unified-cache-external-linker-config).
_STARTS_DEPRECATED = re.compile(r"^\W*deprecated\b", re.IGNORECASE)
_DEPRECATED_VERB = re.compile(
    r"\b(?:is|are|was|were|been|be|being|now)\s+(?:now\s+)?deprecated\b"
    r"|\bdeprecated\s*[:;)\]]"
    r"|\bdeprecated\s+(?:and|in\s+favou?r|since|as\s+of)\b",
    re.IGNORECASE,
)
_THIS_OPTION = re.compile(r"\bthis\s+(?:option|flag|argument|parameter|field)\b", re.IGNORECASE)


def names_option(sentence: str, names: list[str]) -> bool:
    """Whether `sentence` mentions one of `names` as a whole word (``--x``, ``x``)."""
    return any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", sentence) for n in names)


def deprecation_sentence(text: str | None, names: list[str]) -> str | None:
    """The help sentence that says this option (spelled one of `names`) is deprecated, if any."""
    if not text:
        return None
    found = sentences(text)
    for i, sentence in enumerate(found):
        about_self = _THIS_OPTION.search(sentence) or names_option(sentence, names)
        if _STARTS_DEPRECATED.search(sentence) or (about_self and _DEPRECATED_VERB.search(sentence)):
            if len(sentence) < 20 and i + 1 < len(found):
                # "Deprecated." alone says nothing: keep the "Use X" after it.
                sentence = f"{sentence} {found[i + 1]}"
            return clip(sentence, 300)
    return None
