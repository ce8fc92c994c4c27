"""Serving engines. Each engine is one module with a `Backend` subclass; adding a third
engine means one new module here, one data file under data/engines/ and its flag
snapshot under data/flags/."""

from __future__ import annotations

from aim_engine.catalogue.records import EngineData
from aim_engine.engines.base import Backend
from aim_engine.engines.sglang import SGLang
from aim_engine.engines.vllm import VLLM

BACKENDS: dict[str, type[Backend]] = {cls.name: cls for cls in (VLLM, SGLang)}


def backends_for(engines: dict[str, EngineData]) -> dict[str, Backend]:
    """Backend objects for every engine that has both data and a module."""
    return {name: BACKENDS[name](data) for name, data in sorted(engines.items()) if name in BACKENDS}
