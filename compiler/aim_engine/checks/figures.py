"""Checks on the figures of model files: numbers that contradict each other, and whole
numbers written as decimals where the schema takes an integer (JSON Schema counts 2048.0 as
an integer; the records, the memory model and the engines do not)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from aim_engine.catalogue.records import Model

Where = tuple[str | int, ...]


def model_contradictions(model: Model) -> list[tuple[Where, str]]:
    """(where in the file, sentence) for each figure that contradicts another one."""
    out: list[tuple[Where, str]] = []
    cfg = model.config
    if model.active_params is not None and model.active_params > model.total_params:
        out.append(
            (
                ("parameters", "active"),
                f"parameters.active {model.active_params:,} is larger than parameters.total {model.total_params:,}",
            )
        )
    embeddings = cfg.vocab_size * cfg.hidden_size * (1 if cfg.tie_word_embeddings else 2)
    if model.total_params < embeddings:
        tied = "tied" if cfg.tie_word_embeddings else "untied input and output"
        out.append(
            (
                ("parameters", "total"),
                f"parameters.total {model.total_params:,} is smaller than the {tied} embeddings alone "
                f"(vocab_size {cfg.vocab_size:,} x hidden_size {cfg.hidden_size:,} = {embeddings:,})",
            )
        )
    heads, kv_heads = cfg.num_attention_heads, cfg.num_key_value_heads
    if kv_heads > heads:
        out.append(
            (
                ("architecture_config", "num_key_value_heads"),
                f"num_key_value_heads {kv_heads} is more than num_attention_heads {heads}",
            )
        )
    elif kv_heads > 0 and heads % kv_heads:
        out.append(
            (
                ("architecture_config", "num_key_value_heads"),
                f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads} "
                "(each KV head serves a whole group of query heads)",
            )
        )
    layers = cfg.num_hidden_layers
    attention = model.attention
    if attention.sliding_window_layers > layers:
        out.append(
            (
                ("attention", "sliding_window_layers"),
                f"attention.sliding_window_layers {attention.sliding_window_layers} is more than the "
                f"{layers} layers (num_hidden_layers)",
            )
        )
    if attention.linear is not None and attention.linear.layers > layers:
        out.append(
            (
                ("attention", "linear", "layers"),
                f"attention.linear.layers {attention.linear.layers} is more than the {layers} layers",
            )
        )
    if attention.linear is not None and attention.linear.layers + attention.sliding_window_layers > layers:
        if attention.linear.layers <= layers and attention.sliding_window_layers <= layers:
            out.append(
                (
                    ("attention", "linear", "layers"),
                    f"attention.linear.layers {attention.linear.layers} plus sliding_window_layers "
                    f"{attention.sliding_window_layers} is more than the {layers} layers",
                )
            )
    moe = model.moe
    if moe is not None:
        if moe.experts_per_token > moe.num_experts:
            out.append(
                (
                    ("moe", "experts_per_token"),
                    f"moe.experts_per_token {moe.experts_per_token} is more than moe.num_experts {moe.num_experts}",
                )
            )
        if moe.dense_layers > layers:
            out.append(
                (("moe", "dense_layers"), f"moe.dense_layers {moe.dense_layers} is more than the {layers} layers")
            )
    if model.multimodal is not None and model.multimodal.encoder_params > model.total_params:
        out.append(
            (
                ("multimodal", "encoder_params"),
                f"multimodal.encoder_params {model.multimodal.encoder_params:,} is more than parameters.total "
                f"{model.total_params:,}",
            )
        )
    return out


def decimal_integers(schema: Mapping[str, Any], data: Any) -> Iterator[tuple[Where, float]]:
    """(where, value) for each float in `data` at a place `schema` types as integer only."""
    defs = schema.get("$defs") or {}
    yield from _walk(schema, data, (), defs, 0)


def _resolve(node: Any, defs: Mapping[str, Any]) -> Any:
    for _ in range(16):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not (isinstance(ref, str) and ref.startswith("#/$defs/")):
            return node
        node = {**(defs.get(ref[8:]) or {}), **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _integer_only(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "integer" or (isinstance(kind, list) and "integer" in kind and "number" not in kind)


def _walk(node: Any, data: Any, where: Where, defs: Mapping[str, Any], depth: int) -> Iterator[tuple[Where, float]]:
    node = _resolve(node, defs)
    if not isinstance(node, dict) or depth > 32:
        return
    if isinstance(data, float) and _integer_only(node) and data.is_integer():
        yield where, data
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for option in node.get(key) or ():
            option = _resolve(option, defs)
            if isinstance(option, dict) and _integer_only(option) and isinstance(data, float) and data.is_integer():
                yield where, data
                return
    if isinstance(data, dict):
        props = node.get("properties") or {}
        extra = node.get("additionalProperties")
        for name, value in data.items():
            sub = props.get(name) if isinstance(name, str) else None
            if sub is None and isinstance(extra, dict):
                sub = extra
            if sub is not None:
                yield from _walk(sub, value, (*where, name), defs, depth + 1)
    elif isinstance(data, list) and isinstance(node.get("items"), dict):
        for index, value in enumerate(data):
            yield from _walk(node["items"], value, (*where, index), defs, depth + 1)
