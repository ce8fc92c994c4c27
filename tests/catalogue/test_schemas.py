"""The JSON Schemas of model and recipe files: anchored patterns and the hub id rules."""

from __future__ import annotations

import json
import re

import pytest

from aim_engine.catalogue.load import SCHEMAS, schema, schema_errors


def _patterns(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern":
                yield value
            elif key == "patternProperties":
                yield from value
                for sub in value.values():
                    yield from _patterns(sub)
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for item in node:
            yield from _patterns(item)


@pytest.mark.parametrize("name", sorted(p.name.split(".")[0] for p in SCHEMAS.iterdir() if p.name.endswith(".json")))
def test_patterns_end_at_the_end_of_the_text(name):
    """jsonschema matches with re.search, where "$" also matches before a final newline."""
    for pattern in _patterns(json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))):
        assert pattern.startswith("^") and not pattern.endswith("$"), pattern
        text = "x" * 3
        assert not re.search(pattern, text + "\n") or not re.search(pattern, text), pattern


HUB_ID = schema("model")["$defs"]["hub_id"]["pattern"]
GOOD = ["Qwen/Qwen3-8B", "meta-llama/Llama-3.1-405B-Instruct", "mistralai/Mistral-7B-Instruct-v0.3", "a/b", "_x/y_"]
BAD = [
    "Qwen/Qwen3-8B\n",
    "Qwen/Qwen3-8B\r",
    "Qwen/Qwen3-8B ",
    "-org/name",
    "org/name-",
    "org./name",
    "org/.name",
    "org--x/name",
    "org/na..me",
    "org/" + "n" * 97,
    "org//name",
    "org/name/extra",
    "org",
    "/name",
    "org/",
    "org/ name",
    "org/näme",
    "ＯＲＧ/name",
    "org/name\u202e",
]


@pytest.mark.parametrize("model_id", GOOD + ["org/" + "n" * 96])
def test_hub_ids_accepted(model_id):
    assert re.search(HUB_ID, model_id)


@pytest.mark.parametrize("model_id", BAD)
def test_hub_ids_refused(model_id):
    assert not re.search(HUB_ID, model_id)


@pytest.mark.parametrize("model_id", BAD[:3])
def test_recipe_model_ids_follow_the_same_rule(model_id):
    recipe = {"recipe_id": "x", "model_id": model_id, "hardware": "MI300X", "precision": "bf16"}
    problems = schema_errors("recipe", recipe)
    assert problems and "Hugging Face id" in problems[0][1]
    assert schema_errors("recipe", {**recipe, "recipe_id": "x\n"})
