"""Loading the catalogue with findings: each file is parsed, checked against its JSON
Schema, and only then turned into the records of `catalogue.records`. Files that fail are
reported and left out, so later checks never see half-formed data."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aim_engine.catalogue.load import load_engines, load_hardware, model_from, recipe_from, schema_errors
from aim_engine.catalogue.records import Catalogue, Model, Recipe
from aim_engine.catalogue.yamlsource import YamlDocument, YamlError, load_yaml, read_source
from aim_engine.checks.diagnostics import Check, Diagnostic, Report


@dataclass(frozen=True)
class ParsedFile:
    """One file read, parsed and schema-checked: a pure function of its bytes, so a later
    load may reuse it when the bytes are the same (`digest`)."""

    digest: bytes
    doc: YamlDocument | None
    record: Model | Recipe | None
    findings: tuple[Diagnostic, ...]


@dataclass
class Loaded:
    """The catalogue plus the parsed documents, so checks can name file:line."""

    catalogue: Catalogue
    documents: dict[Path, YamlDocument] = field(default_factory=dict)
    model_files: list[Path] = field(default_factory=list)
    recipe_files: list[Path] = field(default_factory=list)
    parsed: dict[Path, ParsedFile] = field(default_factory=dict)


def _schema_ok(doc: YamlDocument, name: str, report: Report) -> bool:
    if not isinstance(doc.data, dict):
        report.add(
            doc.path,
            doc.line_of(()),
            Check.SCHEMA,
            f"expected a mapping of fields at the top level, got {type(doc.data).__name__}",
        )
        return False
    bad_keys = list(_non_string_keys(doc.data, ()))
    for where, key in bad_keys:
        report.add(
            doc.path,
            doc.key_line(where + (key,)) or doc.line_of(where),
            Check.SCHEMA,
            f"{'.'.join(map(str, where)) or '(top level)'}: key {key!r} must be text, not {type(key).__name__}",
        )
    if bad_keys:
        return False
    text_ok = _text_ok(doc, name, report)
    errors = schema_errors(name, doc.data)
    for where, message in errors:
        report.add(doc.path, doc.key_line(where), Check.SCHEMA, message)
    return text_ok and not errors


# Control characters (C0, tab included, DEL, C1), the line and paragraph separators, lone
# surrogates and the bidirectional embedding/override/isolate characters: none belongs in
# an id, a name, a description, a flag value or an env value, and every one of them can
# break out of a comment or a line of a generated script or forge a line of output.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
# `notes` are prose shown on the catalogue page: they may span lines and hold tabs.
_FORBIDDEN_IN_NOTES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL", "\x1b": "an escape (ESC)"}


def _char_name(char: str) -> str:
    code = ord(char)
    if char in _NAMED:
        return f"{_NAMED[char]} (U+{code:04X})"
    if 0xD800 <= code <= 0xDFFF:
        return f"a lone surrogate (U+{code:04X})"
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
        return f"a bidirectional control (U+{code:04X})"
    return f"the control character U+{code:04X}"


def _texts(data: Any, where: tuple) -> Iterator[tuple[tuple, Any, bool]]:
    """(path, value, is_key) for every key and every text or float value."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str):
                yield where + (key,), key, True
            yield from _texts(value, where + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _texts(value, where + (index,))
    elif isinstance(data, (str, float)):
        yield where, data, False


def _is_env_value(kind: str, where: tuple) -> bool:
    return kind == "recipe" and len(where) in (2, 4) and where[-2] == "env"


def _text_ok(doc: YamlDocument, kind: str, report: Report) -> bool:
    """Refuses control characters in every key and text value (newline and tab allowed in a
    recipe's notes) and non-finite numbers anywhere."""
    ok = True
    for where, value, is_key in _texts(doc.data, ()):
        dotted = ".".join(map(str, where))
        if isinstance(value, float):
            if not math.isfinite(value):
                what = "NaN" if math.isnan(value) else "an infinity"
                report.add(
                    doc.path, doc.line_of(where), Check.SCHEMA, f"{dotted}: {what} is not a number a file may hold"
                )
                ok = False
            continue
        notes = kind == "recipe" and not is_key and where[-1] == "notes"
        found = (_FORBIDDEN_IN_NOTES if notes else _FORBIDDEN).search(value)
        if found is None:
            continue
        ok = False
        what = f"the key {value!r}" if is_key else "the value"
        message = f"{dotted}: {what} holds {_char_name(found.group(0))} at character {found.start() + 1}"
        if is_key:
            report.add(doc.path, doc.key_line(where), Check.CONTROL_CHARACTER, message)
        elif _is_env_value(kind, where):
            report.add(doc.path, doc.line_of(where), Check.ENV_VALUE, message)
        else:
            hint = "; only newlines and tabs are allowed in notes" if notes else ""
            report.add(doc.path, doc.line_of(where), Check.CONTROL_CHARACTER, message + hint)
    return ok


def _non_string_keys(data: Any, where: tuple):
    """YAML allows numbers, dates or null as keys; JSON (and our schemas) do not."""
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                yield where, key
            else:
                yield from _non_string_keys(value, where + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _non_string_keys(value, where + (index,))


def _read(path: Path, report: Report, raw: bytes) -> YamlDocument | None:
    try:
        doc = load_yaml(path, raw)
    except YamlError as exc:
        report.add(path, exc.line, Check.YAML_SYNTAX, exc.message)
        return None
    for key, line in doc.duplicate_keys:
        report.add(path, line, Check.DUPLICATE_KEY, f"key {key!r} appears more than once in this mapping")
    return doc


def parse_file(path: Path, kind: str, backends: dict[str, str]) -> ParsedFile:
    """Read, parse and schema-check one model or recipe file; its findings are kept with it."""
    report = Report()
    try:
        raw = read_source(path)
    except YamlError as exc:
        report.add(path, exc.line, Check.YAML_SYNTAX, exc.message)
        return ParsedFile(b"", None, None, tuple(report.items))
    digest = hashlib.sha256(raw).digest()
    doc = _read(path, report, raw)
    record: Model | Recipe | None = None
    if doc is not None and _schema_ok(doc, kind, report):
        record = model_from(doc.data, path) if kind == "model" else recipe_from(doc.data, path, backends)
    return ParsedFile(digest, doc, record, tuple(report.items))


def load(model_files: list[Path], recipe_files: list[Path], report: Report, reuse: Loaded | None = None) -> Loaded:
    """Load the given files into one catalogue. `reuse`: an earlier load whose parsed files
    are taken again when a file's bytes have not changed (tests and repeated validations)."""
    catalogue = Catalogue(hardware=dict(load_hardware()), engines=dict(load_engines()))
    loaded = Loaded(catalogue, model_files=list(model_files), recipe_files=list(recipe_files))
    backends = {e.recipe_key: e.name for e in catalogue.engines.values()}
    for kind, files in (("model", model_files), ("recipe", recipe_files)):
        for path in files:
            parsed = _reused(reuse, path) or parse_file(path, kind, backends)
            loaded.parsed[path] = parsed
            report.items.extend(parsed.findings)
            if parsed.doc is not None:
                loaded.documents[path] = parsed.doc
            if isinstance(parsed.record, Model):
                _add_model(catalogue, parsed.record, parsed.doc, report)
            elif isinstance(parsed.record, Recipe):
                _add_recipe(catalogue, parsed.record, parsed.doc, report)
    return loaded


def _reused(reuse: Loaded | None, path: Path) -> ParsedFile | None:
    earlier = reuse.parsed.get(path) if reuse is not None else None
    if earlier is None:
        return None
    try:
        same = hashlib.sha256(path.read_bytes()).digest() == earlier.digest
    except OSError:
        return None
    return earlier if same else None


def _add_model(catalogue: Catalogue, model: Model, doc: YamlDocument | None, report: Report) -> None:
    if model.model_id in catalogue.models:
        other = catalogue.models[model.model_id].path
        line = doc.line_of(("model_id",)) if doc else None
        report.add(model.path, line, Check.DUPLICATE_MODEL_ID, f"model {model.model_id} is also described in {other}")
        return
    catalogue.models[model.model_id] = model


def _add_recipe(catalogue: Catalogue, recipe: Recipe, doc: YamlDocument | None, report: Report) -> None:
    if recipe.recipe_id in catalogue.recipes:
        other = catalogue.recipes[recipe.recipe_id].path
        line = doc.line_of(("recipe_id",)) if doc else None
        message = f"recipe_id {recipe.recipe_id!r} is already used by {other}"
        report.add(recipe.path, line, Check.DUPLICATE_RECIPE_ID, message)
        return
    catalogue.recipes[recipe.recipe_id] = recipe
