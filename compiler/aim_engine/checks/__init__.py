"""Validation: the semantic rules over a loaded catalogue, each finding one `Check` code."""

from aim_engine.checks.rules import validate

__all__ = ["validate"]
