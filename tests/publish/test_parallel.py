"""Build workers (publish/parallel.py): their failures reach the parent as the build's own."""

from __future__ import annotations

import pytest

from aim_engine.errors import AimError
from aim_engine.publish.parallel import model_sections, useful_jobs


def test_sections_come_back_in_the_order_asked(small_catalogue):
    ids = ["Qwen/Qwen3-8B", "Qwen/Qwen3-32B"]
    made = list(model_sections(small_catalogue, ids[::-1], 2))
    assert [s.model_id for s in made] == ids[::-1]
    assert all(s.plans > 0 and s.files for s in made)


def test_a_catalogue_changed_under_the_build_is_its_error(small_catalogue):
    recipe = next((small_catalogue / "recipes").glob("*.yaml"))
    recipe.write_text("recipe_id: [", "utf-8")  # broken after the parent checked it
    with pytest.raises(AimError, match="changed during the build"):
        list(model_sections(small_catalogue, ["Qwen/Qwen3-8B", "Qwen/Qwen3-32B"], 2))


def test_a_bug_in_a_worker_is_an_internal_error_with_its_traceback(small_catalogue):
    with pytest.raises(RuntimeError, match="(?s)a build worker failed.*KeyError: 'no/such-model'"):
        list(model_sections(small_catalogue, ["no/such-model", "Qwen/Qwen3-8B"], 2))


def test_few_models_get_few_workers():
    assert useful_jobs(8, 3) == 1 and useful_jobs(8, 49) == 8 and useful_jobs(2, 49) == 2 and useful_jobs(0, 10) == 1
