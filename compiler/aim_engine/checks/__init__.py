"""Validation: the semantic rules over a loaded catalogue, each finding one `Check` code."""
