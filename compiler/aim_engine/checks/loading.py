"""Loading the catalogue with findings: each file is parsed, checked against its JSON
Schema, and only then turned into the records of `catalogue.records`. Files that fail are
reported and left out, so later checks never see half-formed data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aim_engine.catalogue.load import load_engines, load_hardware, model_from, recipe_from, schema_errors
from aim_engine.catalogue.records import Catalogue
from aim_engine.catalogue.yamlsource import YamlDocument, YamlError, load_yaml
from aim_engine.checks.diagnostics import Check, Report


@dataclass
class Loaded:
    """The catalogue plus the parsed documents, so checks can name file:line."""

    catalogue: Catalogue
    documents: dict[Path, YamlDocument] = field(default_factory=dict)
    model_files: list[Path] = field(default_factory=list)
    recipe_files: list[Path] = field(default_factory=list)


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


def _read(path: Path, report: Report) -> YamlDocument | None:
    try:
        doc = load_yaml(path)
    except YamlError as exc:
        report.add(path, exc.line, Check.YAML_SYNTAX, exc.message)
        return None
    for key, line in doc.duplicate_keys:
        report.add(path, line, Check.DUPLICATE_KEY, f"key {key!r} appears more than once in this mapping")
    return doc


def load(model_files: list[Path], recipe_files: list[Path], report: Report) -> Loaded:
    catalogue = Catalogue(hardware=dict(load_hardware()), engines=dict(load_engines()))
    loaded = Loaded(catalogue, model_files=list(model_files), recipe_files=list(recipe_files))
    for path in model_files:
        doc = _read(path, report)
        if doc is None:
            continue
        loaded.documents[path] = doc
        if _schema_ok(doc, "model", report):
            model = model_from(doc.data, path)
            if model.model_id in catalogue.models:
                other = catalogue.models[model.model_id].path
                report.add(
                    path,
                    doc.line_of(("model_id",)),
                    Check.DUPLICATE_MODEL_ID,
                    f"model {model.model_id} is also described in {other}",
                )
                continue
            catalogue.models[model.model_id] = model
    backends = {e.recipe_key: e.name for e in catalogue.engines.values()}
    for path in recipe_files:
        doc = _read(path, report)
        if doc is None:
            continue
        loaded.documents[path] = doc
        if _schema_ok(doc, "recipe", report):
            recipe = recipe_from(doc.data, path, backends)
            if recipe.recipe_id in catalogue.recipes:
                other = catalogue.recipes[recipe.recipe_id].path
                report.add(
                    path,
                    doc.line_of(("recipe_id",)),
                    Check.DUPLICATE_RECIPE_ID,
                    f"recipe_id {recipe.recipe_id!r} is already used by {other}",
                )
                continue
            catalogue.recipes[recipe.recipe_id] = recipe
    return loaded
