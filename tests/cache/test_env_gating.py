"""`cache env` says to pass HF_TOKEN for a gated model even before its first download:
the catalogue knows it is gated when the cache index cannot yet."""

from __future__ import annotations

from aim_engine.cache import store as cache


def test_gated_model_not_yet_cached(built, tmp_path):
    values, by_name, state = cache.model_environment(
        tmp_path, "meta-llama/Llama-3.1-70B-Instruct", api_dir=built / "api"
    )
    assert not state["complete"]
    assert by_name == ["HF_TOKEN"] and "HF_TOKEN" not in values
    _, ungated, _ = cache.model_environment(tmp_path, "Qwen/Qwen3-8B", api_dir=built / "api")
    assert ungated == []
    _, unknown, _ = cache.model_environment(tmp_path, "someone/else", api_dir=tmp_path / "no-api")
    assert unknown == []
