"""Loading the catalogue with findings: each file is parsed, checked against its JSON
Schema, and only then turned into the records of `catalogue.records`. Files that fail are
reported and left out, so later checks never see half-formed data."""

from __future__ import annotations

import hashlib
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
    errors = schema_errors(name, doc.data)
    for where, message in errors:
        report.add(doc.path, doc.key_line(where), Check.SCHEMA, message)
    return not errors


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
