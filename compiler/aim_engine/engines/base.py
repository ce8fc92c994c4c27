"""The small interface every serving engine implements, plus flag checking shared by all.

An engine module says which of its flags carry the settings AIM Engine reasons about
(checkpoint, parallel sizes, context length, memory knobs) and how the engine fills in
what a recipe leaves out. Checking a flag's name, type and choices is the same for
every engine: it reads the flag snapshot of the real parser.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aim_engine.catalogue.load import load_formats
from aim_engine.catalogue.records import EngineData, Entry, FlagSpec, FlagTable, Hardware, Model

_HUMAN_INT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)\s*$")
# vLLM's human_readable_int: lower-case suffixes are decimal, upper-case binary.
_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class FlagValueError(ValueError):
    pass


def parse_human_int(text: str) -> int:
    match = _HUMAN_INT.match(text)
    if not match:
        raise FlagValueError(f"{text!r} is not an integer (suffixes k/m/g or K/M/G allowed)")
    number, suffix = match.groups()
    value = float(number) * _SUFFIX[suffix]
    if value != int(value):
        raise FlagValueError(f"{text!r} is not a whole number")
    return int(value)


def parse_scalar(spec: FlagSpec, value: Any) -> Any:
    """Convert one recipe value the way the engine's argparse type would, or raise."""
    if isinstance(value, bool) or value is None:
        raise FlagValueError(f"{spec.name} takes a value ({spec.type}), not a bare on/off")
    text = str(value)
    if "\x00" in text:
        raise FlagValueError(f"{spec.name}: a value cannot contain a NUL character")
    try:
        if spec.type == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(text) if not isinstance(value, float) else int(value)
        if spec.type == "float":
            number = float(text)
            if not math.isfinite(number):
                raise ValueError
            return number
        if spec.type == "human_int":
            return int(value) if isinstance(value, int) else parse_human_int(text)
        if spec.type == "json":
            return json.loads(text)
    except FlagValueError:
        raise
    except (ValueError, TypeError, OverflowError):
        raise FlagValueError(f"{spec.name} expects {spec.type.replace('_', ' ')}, got {text!r}") from None
    return text


def parse_value(spec: FlagSpec, value: Any) -> Any:
    """Parse a recipe value for `spec`; returns the python value the engine would see."""
    if spec.kind in ("flag", "bool", "count"):
        if value is None or isinstance(value, bool):
            return True if value is None else value
        raise FlagValueError(f"{spec.name} is an on/off flag: use true, false or no value, not {value!r}")
    multi = spec.nargs in ("+", "*") or (spec.nargs or "").isdigit()
    if isinstance(value, list):
        if not multi:
            raise FlagValueError(f"{spec.name} takes one value, not a list")
        parsed = [parse_scalar(spec, v) for v in value]
    else:
        parsed = parse_scalar(spec, value)
    if spec.choices is not None:
        for item in parsed if isinstance(parsed, list) else [parsed]:
            if str(item) not in spec.choices:
                raise FlagChoiceError(f"{spec.name} {item!r} is not one of: {', '.join(spec.choices)}")
    return parsed


class FlagChoiceError(FlagValueError):
    pass


def canonical_args(args: Mapping[str, Any], table: FlagTable) -> dict[str, Any]:
    """Recipe args keyed by the option's canonical name, parsed; unknown or bad ones dropped."""
    out: dict[str, Any] = {}
    for spelling, value in args.items():
        found = table.resolve(spelling)
        if found is None:
            continue
        spec, negated = found
        try:
            parsed = parse_value(spec, value)
        except FlagValueError:
            continue
        if negated:
            parsed = not parsed if isinstance(parsed, bool) else parsed
        out[spec.name] = parsed
    return out


@dataclass(frozen=True)
class EntrySettings:
    """What AIM Engine reads from an entry's args, defaults filled in as the engine would."""

    checkpoint: str
    tp: int
    pp: int
    dp: int
    gpus_used: int
    expert_parallel: bool
    max_model_len: int
    max_model_len_explicit: bool
    utilization: float
    max_num_batched_tokens: int
    max_num_seqs: int
    kv_cache_dtype: str
    dtype: str
    quantization: str | None
    cuda_graphs: bool


def settings_problems(settings: EntrySettings) -> list[str]:
    """Values no engine accepts, whatever the flag is called (they would also break the
    memory model): sizes below 1, utilization outside (0, 1]."""
    problems = []
    for label, value in (
        ("tensor-parallel size", settings.tp),
        ("pipeline-parallel size", settings.pp),
        ("data-parallel size", settings.dp),
        ("context length", settings.max_model_len),
        ("batched-token budget", settings.max_num_batched_tokens),
        ("sequence limit", settings.max_num_seqs),
    ):
        if value < 1:
            problems.append(f"the {label} must be at least 1, got {value}")
    if not 0 < settings.utilization <= 1:
        problems.append(f"the memory fraction must be in (0, 1], got {settings.utilization}")
    return problems


class Backend:
    """Base for one engine. Subclasses set the flag names and defaults."""

    name: str = ""
    model_flags: tuple[str, ...] = ()
    context_flag: str = ""
    reserved_flags: tuple[str, ...] = ("--host", "--port")

    def __init__(self, data: EngineData):
        self.data = data

    @property
    def flags(self) -> FlagTable:
        return self.data.flags

    @property
    def foreign_spellings(self) -> Mapping[str, str]:
        """Flags owned by the other engine that users often carry over, with our spelling."""
        return self.data.foreign_spellings

    def default(self, flag: str, fallback: Any = None) -> Any:
        spec = self.flags.options.get(flag)
        return fallback if spec is None or spec.default is None else spec.default

    # --- engine-specific -----------------------------------------------------------------
    def settings(self, entry: Entry, model: Model, hardware: Hardware) -> EntrySettings:
        raise NotImplementedError

    def overhead_in_budget(self) -> bool:
        return True

    # --- shared --------------------------------------------------------------------------
    def required_args(self, entry: Entry, settings: EntrySettings) -> list[str]:
        """Flags the launch needs even when the recipe leaves them to defaults."""
        return []

    def written(self, entry: Entry) -> set[str]:
        """Canonical names of the flags an entry sets, whatever spelling it used."""
        found = (self.flags.resolve(spelling) for spelling in entry.args)
        return {f[0].name for f in found if f}

    def engine_args(self, entry: Entry, settings: EntrySettings, port: int) -> list[str]:
        """The engine's own flags for this entry: the recipe's args, then host and port.

        Values are rendered as the engine parses them: true/null give a bare flag,
        false gives the --no- form of an on/off option (or nothing for a plain
        switch), lists repeat values after one flag.
        """
        argv = self.required_args(entry, settings)
        for spelling, value in entry.args.items():
            found = self.flags.resolve(spelling)
            if found is None:
                continue  # validation rejects unknown flags before anything is rendered
            spec, negated = found
            if spec.name in self.reserved_flags:
                continue
            written = spelling if negated else spec.name
            if spec.kind in ("flag", "bool", "count"):
                if value is None or value is True:
                    argv.append(written)
                elif value is False and spec.kind == "bool" and not negated and spec.negation:
                    argv.append(spec.negation)
                continue
            values = value if isinstance(value, list) else [value]
            argv.append(written)
            argv.extend(_render_value(v) for v in values)
        return argv + ["--host", "0.0.0.0", "--port", str(port)]

    def container_command(self, entry: Entry, settings: EntrySettings, port: int) -> list[str]:
        """What follows the image in `docker run` (the image's entrypoint comes first)."""
        return list(self.data.launch) + self.engine_args(entry, settings, port)

    def native_command(self, entry: Entry, settings: EntrySettings, port: int) -> list[str]:
        """The same engine started directly, outside a container."""
        start = list(self.data.launch) or (self.data.image_entrypoint or "").split()
        return start + self.engine_args(entry, settings, port)

    def checkpoint(self, args: Mapping[str, Any], model: Model) -> str:
        for flag in self.model_flags:
            if args.get(flag):
                return str(args[flag])
        return model.model_id

    def kv_bytes(self, settings: EntrySettings) -> float:
        size = load_formats().kv_cache_dtypes.get(settings.kv_cache_dtype, 2)
        return 2.0 if size is None else float(size)


def _render_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)
