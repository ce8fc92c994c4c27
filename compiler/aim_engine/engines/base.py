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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aim_engine.catalogue.load import load_formats
from aim_engine.catalogue.records import EngineData, Entry, FlagSpec, FlagTable, Hardware, Model, normalise
from aim_engine.engines.facts import LEVELS, EngineFacts, facts_for, weaker

# Human-readable integers (vLLM's human_readable_int, vllm/utils/argparse_utils.py): a number
# with one suffix, anything else goes to int(). Which suffixes exist and which take a decimal
# number is per engine, in the flag snapshot (`number_suffixes`: SGLang 0.5.23 knows k, M, G,
# T, all decimal); these are vLLM's, for options the snapshot says nothing about.
_VLLM_SUFFIXES = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_VLLM_DECIMAL = ("k", "m", "g", "t")
# What argparse takes for a negative number rather than an option (ArgumentParser
# _negative_number_matcher); every other argument starting with "-" reads as an option.
_NEGATIVE_NUMBER = re.compile(r"-\d+|-\d*\.\d+")
# JSON values nest a few levels (--compilation-config.pass_config.x); deeper is not config.
MAX_JSON_DEPTH = 32


class FlagValueError(ValueError):
    pass


class FlagChoiceError(FlagValueError):
    pass


def shown(value: Any, limit: int = 40) -> str:
    """A value for a message: quoted, short, never a non-finite float or a 400-digit number."""
    if isinstance(value, float) and not math.isfinite(value):
        return "a non-finite number"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"a {len(str(abs(value))) if abs(value) < 10**4000 else 'many'}-digit number"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def looks_like_option(text: str) -> bool:
    """argparse reads this argument as an option (of its own parser), not as a value."""
    return text.startswith("-") and len(text) > 1 and not _NEGATIVE_NUMBER.fullmatch(text)


def parse_human_int(
    text: str, suffixes: Mapping[str, int] | None = None, decimal: tuple[str, ...] | None = None
) -> int:
    """The engine's human-readable integer (its `suffixes` and the `decimal` ones among them;
    default vLLM's), refusing what it would truncate silently."""
    suffixes = _VLLM_SUFFIXES if suffixes is None else suffixes
    decimal = _VLLM_DECIMAL if decimal is None else decimal
    value = text.strip()
    letters = "".join(sorted(suffixes))
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([" + re.escape(letters) + "])", value) if letters else None
    if not match:
        try:
            return int(value)
        except ValueError:
            known = "/".join(sorted(suffixes))
            raise FlagValueError(f"{shown(text)} is not an integer (a whole number, optionally with {known})") from None
    number, suffix = match.groups()
    if suffix not in decimal:
        if not number.isdigit():
            raise FlagValueError(f"{shown(text)}: decimals are not allowed with the suffix {suffix}")
        return int(number) * suffixes[suffix]
    exact = Decimal(number) * suffixes[suffix]
    try:
        engine = int(float(number) * suffixes[suffix])
    except OverflowError:
        raise FlagValueError(f"{shown(text)} is too large") from None
    if exact != exact.to_integral_value():
        raise FlagValueError(f"{shown(text)} is not a whole number")
    if engine != exact:
        raise FlagValueError(f"{shown(text)}: the engine reads it as {engine}; write {int(exact)}")
    return engine


def _special(spec: FlagSpec, value: Any) -> tuple[bool, Any]:
    """(True, what the engine makes of it) when `value` is a spelling the option's type
    reads specially (`auto`, `None`, ...): exactly, but for the case of vLLM's `auto`
    (human_readable_int_or_auto compares value.strip().lower())."""
    special = spec.special
    if special is None:  # an older snapshot: vLLM's context length alone is known
        special = {"auto": -1, "-1": -1} if spec.type_name == "human_readable_int_or_auto" else {}
    if not special or isinstance(value, (bool, float)) or not isinstance(value, (str, int)):
        return False, None
    text = str(value)
    loose = spec.type_name == "human_readable_int_or_auto"
    for spelling, parsed in special.items():
        if text == spelling or (loose and text.strip().lower() == spelling.lower()):
            return True, parsed
    return False, None


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a finite number")
    return number


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_depth(value: Any, limit: int, depth: int = 1) -> int:
    if depth > limit or not isinstance(value, (dict, list)):
        return depth
    items = value.values() if isinstance(value, dict) else value
    return max((_json_depth(v, limit, depth + 1) for v in items), default=depth)


def parse_json(spec_name: str, text: str) -> Any:
    """Strict JSON: no NaN or Infinity, finite numbers, limited depth."""
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_refuse_constant)
    except RecursionError:
        raise FlagValueError(f"{spec_name}: the JSON value nests too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError included
        raise FlagValueError(f"{spec_name} expects JSON: {str(exc).splitlines()[0][:80]}") from None
    if _json_depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise FlagValueError(f"{spec_name}: the JSON value nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def parse_scalar(spec: FlagSpec, value: Any, value_type: str | None = None) -> Any:
    """Convert one recipe value the way the engine's argparse type would, or raise.

    Stricter than the engine where it would read something else than what is written:
    integers are integers (no 8192.0, no 1.5K, no 1e20), floats are finite, and no value
    may read as another option. `value_type` overrides the snapshot's type (JSON-valued
    options the parser types as str).
    """
    kind = value_type or spec.type
    if isinstance(value, bool) or value is None:
        raise FlagValueError(f"{spec.name} takes a value ({kind.replace('_', ' ')}), not a bare on/off")
    if isinstance(value, float) and not math.isfinite(value):
        raise FlagValueError(f"{spec.name}: {shown(value)} is not a value")
    if not isinstance(value, (str, int, float)):
        raise FlagValueError(f"{spec.name} takes text or a number, not {type(value).__name__}")
    special, parsed = _special(spec, value)
    if special and (parsed is None or (parsed == -1 and kind in ("int", "human_int"))):
        # The engine's own spellings: "None" (not set), vLLM's --max-model-len auto / -1 (the
        # longest context that fits, chosen at start-up).
        return parsed
    if isinstance(value, str):
        if "\x00" in value:
            raise FlagValueError(f"{spec.name}: a value cannot contain a NUL character")
        if looks_like_option(value):
            raise FlagValueError(
                f"{spec.name}: the value {shown(value)} would be read as another option; "
                "a value may hold only the option's own value"
            )
    if kind in ("int", "human_int"):
        return _parse_integer(spec, value, kind)
    try:
        if kind == "float":
            return _finite_float(value) if isinstance(value, str) else _finite_float(repr(float(value)))
        if kind == "json":
            return parse_json(spec.name, value if isinstance(value, str) else str(value))
    except FlagValueError:
        raise
    except (ValueError, TypeError, OverflowError):
        raise FlagValueError(f"{spec.name} expects a finite number, got {shown(value)}") from None
    return value if isinstance(value, str) else str(value)


def _parse_integer(spec: FlagSpec, value: Any, kind: str) -> int:
    if isinstance(value, float):
        raise FlagValueError(f"{spec.name} takes an integer, not the decimal number {shown(value)}")
    if isinstance(value, int):
        number = value
    elif kind == "human_int":
        try:
            number = parse_human_int(value, spec.suffixes, spec.decimal_suffixes if spec.suffixes is not None else None)
        except FlagValueError as exc:
            raise FlagValueError(f"{spec.name}: {exc}") from None
    else:
        try:
            number = int(value)  # argparse type=int: int("8192.0") and int("8k") fail
        except ValueError:
            raise FlagValueError(f"{spec.name} takes an integer, got {shown(value)}") from None
    return number


def parse_value(spec: FlagSpec, value: Any, value_type: str | None = None, strict_choices: bool = True) -> Any:
    """Parse a recipe value for `spec`; returns the python value the engine would see.
    `strict_choices=False`: the option's choices are known values, not a limit (a registry
    plugins extend); the caller warns about values outside them."""
    if spec.kind in ("flag", "bool", "count"):
        if value is None or isinstance(value, bool):
            return True if value is None else value
        raise FlagValueError(f"{spec.name} is an on/off flag: use true, false or no value, not {shown(value)}")
    nargs = spec.nargs or ""
    if isinstance(value, list):
        if nargs not in ("+", "*") and not nargs.isdigit():
            raise FlagValueError(f"{spec.name} takes one value, not a list")
        if nargs.isdigit() and len(value) != int(nargs):
            raise FlagValueError(f"{spec.name} takes exactly {nargs} value(s), got {len(value)}")
        parsed: Any = [parse_scalar(spec, v, value_type) for v in value]
    else:
        parsed = parse_scalar(spec, value, value_type)
    if spec.choices is not None and strict_choices:
        for item in parsed if isinstance(parsed, list) else [parsed]:
            if item is None or (isinstance(value, str) and value in spec.choices):
                continue  # a spelling the engine reads as not set; or one it lists itself
            if str(item) not in spec.choices:
                raise FlagChoiceError(f"{spec.name} {shown(item)} is not one of: {', '.join(spec.choices)}")
    return parsed


@dataclass(frozen=True)
class Shorthand:
    """An argument the engine's parser rewrites before argparse sees it (vLLM's
    FlexibleArgumentParser): `--<option>.<key>...` / `-cc.<key>` (a dotted key into a JSON
    option) and `-O<n>` (`--optimization-level <n>`). `spec` is the option it becomes (None
    when the head names no option), `keys` the dotted path, `value` what the engine reads."""

    spelling: str
    head: str
    spec: FlagSpec | None
    keys: tuple[str, ...]
    value: Any
    problem: str | None = None  # why the engine cannot take it (kind: see `problem_kind`)
    problem_kind: str = ""  # unknown (no such option) | value | choice
    append: bool = False  # `--<option>.<key>+ a,b`: list items the parser adds to the key's list


def dotted_value(value: Any) -> Any:
    """A dotted argument's value as vLLM reads it: JSON, else a human-readable integer,
    else the text itself (FlexibleArgumentParser.parse_args)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value, parse_constant=_refuse_constant)
    except ValueError:
        pass
    try:
        return parse_human_int(value)
    except FlagValueError:
        return value


def _dotted_word(value: Any) -> str:
    """The value word of a rendered dotted argument (read back by dotted_value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return _render_value(value)


def canonical_args(
    args: Mapping[str, Any],
    table: FlagTable,
    json_options: tuple[str, ...] = (),
    parse: Callable[[FlagSpec, Any], Any] | None = None,
) -> dict[str, Any]:
    """Recipe args keyed by the option's canonical name, parsed (by `parse`, default
    parse_value); unknown or bad ones dropped."""
    out: dict[str, Any] = {}
    for spelling, value in args.items():
        found = table.resolve(spelling)
        if found is None:
            continue
        spec, negated = found
        try:
            if parse is not None:
                parsed = parse(spec, value)
            else:
                parsed = parse_value(spec, value, "json" if spec.name in json_options else None)
        except FlagValueError:
            continue
        if parsed is None:
            continue  # a spelling the engine reads as not set
        if negated:
            parsed = not parsed if isinstance(parsed, bool) else parsed
        out[spec.name] = parsed
    return out


def given(args: Mapping[str, Any], flag: str, default: Any) -> Any:
    """The recipe's value, or the default when the recipe does not set it (0 is a value)."""
    value = args.get(flag)
    return default if value is None else value


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
    # The context is left to the engine to fit to memory at start-up (vLLM --max-model-len auto):
    # max_model_len is then the model's own maximum, the longest the engine may choose.
    context_auto: bool = False
    # How many GPUs of one pipeline stage split the routed experts and the attention weights;
    # 0: the TP group (each engine says when its data-parallel ranks share them).
    expert_shards: int = 0
    attention_shards: int = 0


@dataclass(frozen=True)
class EngineCommands:
    """An entry's engine command, as argv: in the engine's image and outside a container."""

    container: list[str]
    native: list[str]


# Sane ranges of the settings the memory model reads: no node has more GPUs than this,
# and no context or batch is longer (the biggest catalogue context is 10 million tokens).
MAX_PARALLEL = 1024
MAX_TOKENS = 10**9


@dataclass(frozen=True)
class SettingsProblem:
    """A setting the plan cannot be reasoned about with. `kind`: range (a size or fraction
    outside its sane range), dtype (a --dtype no catalogue precision computes in) or
    unknown (a value the engine accepts but the format data does not describe)."""

    kind: str
    sentence: str
    flags: tuple[str, ...] = ()  # the options that set it (any engine's spelling)

    def __str__(self) -> str:
        return self.sentence


def problems_of(settings: EntrySettings) -> list[SettingsProblem]:
    """Values no plan can run with, whatever the flag is called (they would also break the
    memory model): sizes outside 1..their maximum, utilization outside (0, 1], dtypes
    without a weight format."""
    problems = []
    for label, value, ceiling, flags in (
        ("tensor-parallel size", settings.tp, MAX_PARALLEL, ("--tensor-parallel-size", "--tp-size")),
        ("pipeline-parallel size", settings.pp, MAX_PARALLEL, ("--pipeline-parallel-size", "--pp-size")),
        ("data-parallel size", settings.dp, MAX_PARALLEL, ("--data-parallel-size", "--dp-size")),
        ("context length", settings.max_model_len, MAX_TOKENS, ("--max-model-len", "--context-length")),
        (
            "batched-token budget",
            settings.max_num_batched_tokens,
            MAX_TOKENS,
            ("--max-num-batched-tokens", "--chunked-prefill-size"),
        ),
        ("sequence limit", settings.max_num_seqs, MAX_TOKENS, ("--max-num-seqs", "--max-running-requests")),
    ):
        if not 1 <= value <= ceiling:
            sentence = f"the {label} must be 1 to {ceiling:,}, got {shown(value)}"
            problems.append(SettingsProblem("range", sentence, flags))
    if not 0 < settings.utilization <= 1:
        sentence = f"the memory fraction must be in (0, 1], got {shown(settings.utilization)}"
        problems.append(SettingsProblem("range", sentence, ("--gpu-memory-utilization", "--mem-fraction-static")))
    formats = load_formats()
    if settings.dtype != "auto":
        precision = formats.dtypes.get(settings.dtype)
        if precision is None:
            known = ", ".join(sorted(formats.dtypes))
            sentence = f"--dtype {shown(settings.dtype)} has no precision in the format data ({known})"
            problems.append(SettingsProblem("unknown", sentence, ("--dtype",)))
        elif precision not in formats.weight_formats:
            problems.append(
                SettingsProblem(
                    "dtype",
                    f"--dtype {settings.dtype} computes in {precision}, which no recipe precision serves "
                    "(it doubles memory over 16-bit); use bfloat16 or float16",
                    ("--dtype",),
                )
            )
    if settings.kv_cache_dtype not in formats.kv_cache_dtypes:
        problems.append(
            SettingsProblem(
                "unknown",
                f"--kv-cache-dtype {shown(settings.kv_cache_dtype)} is accepted by the engine, but its size per "
                f"element is not in the format data ({', '.join(sorted(formats.kv_cache_dtypes))})",
                ("--kv-cache-dtype",),
            )
        )
    return problems


def settings_problems(settings: EntrySettings) -> list[str]:
    """The sentences of `problems_of` (the planner's reason for an invalid entry)."""
    return [p.sentence for p in problems_of(settings)]


class Backend:
    """Base for one engine. Subclasses set the flag names and defaults."""

    name: str = ""
    model_flags: tuple[str, ...] = ()
    context_flag: str = ""
    reserved_flags: tuple[str, ...] = ("--host", "--port")
    # Options whose values are JSON although the parser types them as str.
    json_options: tuple[str, ...] = ()
    # The option that overrides the checkpoint's config.json (rope scaling among others).
    config_override_flag: str = ""
    # The launch takes the checkpoint as its first, positional argument (required_args renders
    # it); a recipe's model flag is then read for the settings but not rendered again.
    positional_model: bool = False
    # The engine's quantization methods (its registry names: a checkpoint config's quant_method
    # or --quantization) that load each quantized weight format; their support per gfx target
    # is the flag snapshot's quantization_support. Several: the format loads through any of them.
    weight_format_methods: Mapping[str, tuple[str, ...]] = {}
    # Environment variables of this engine (checked against its release's env registry), and
    # legacy prefixes the engine still maps onto the current one (with a deprecation warning).
    env_prefixes: tuple[str, ...] = ()
    env_legacy_prefixes: Mapping[str, str] = {}

    def __init__(self, data: EngineData):
        self.data = data
        # Entry is frozen but holds a dict, so it cannot be a key: entries by id, kept alive here so
        # an id is never reused while cached. A planner asks for the same entry's args thousands of times.
        self._args: dict[int, tuple[Entry, dict[str, Any]]] = {}

    @property
    def facts(self) -> EngineFacts:
        """The rest of the pinned release's snapshot (registries, env, config keys, ...)."""
        return facts_for(self.data)

    def precision_support(self, hardware: Hardware, weight_format: str) -> str | None:
        """'native', 'emulated' or None (the engine cannot run this weight format on this GPU).

        The GPU's own support for the format's precision (hardware data), limited by what the
        pinned engine does on the GPU's gfx target (the snapshot's quantization_support for the
        methods in `weight_format_methods`; the best of them). A method the engine takes with no
        arch-specific kernel choice ("accepted"), or one the snapshot does not know, leaves the
        GPU's verdict. Unquantized formats (bf16, fp16) are the GPU's verdict alone.
        """
        return self.precision_support_reason(hardware, weight_format)[0]

    def precision_support_reason(self, hardware: Hardware, weight_format: str) -> tuple[str | None, str]:
        """`precision_support` and a sentence saying where the verdict comes from."""
        known = load_formats().weight_formats.get(weight_format)
        precision = known.precision if known is not None else weight_format
        gpu = hardware.precision_support(precision)
        where = f"{hardware.name} ({hardware.gfx_target})"
        if gpu is None:
            return None, f"{where} cannot run {precision}"
        methods = self.weight_format_methods.get(weight_format, ())
        if not methods:
            return gpu, f"{where} runs {precision} {'natively' if gpu == 'native' else 'in software kernels'}"
        release = f"{self.data.title} {self.data.version}"
        best: str | None = None
        refusals = []
        for method in methods:
            verdict = self.facts.quantization_verdict(method, hardware.gfx_target)
            level = "native" if verdict in (None, "accepted") else verdict if verdict in LEVELS else None
            if level is None:
                why = self.facts.quantization_reason(method, hardware.gfx_target)
                refusals.append(f"{method}" + (f" ({why})" if why else ""))
            elif best is None or LEVELS.index(level) < LEVELS.index(best):
                best = level
        combined = weaker(gpu, best)
        if combined is None:
            return None, f"{release} has no {weight_format} kernels on {where}: {', '.join(refusals)} unsupported"
        if combined == "emulated":
            why = f"the GPU has no native {precision}" if gpu == "emulated" else "the engine's kernels for it"
            return combined, f"{release} runs {weight_format} on {where} only through emulation ({why})"
        return combined, f"{release} runs {weight_format} natively on {where}"

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

    # vLLM refuses to start when one request of --max-model-len does not fit in the KV cache;
    # SGLang starts and refuses or truncates longer requests at run time (planning/entry.py).
    needs_full_context_at_start: bool = True

    # --- shared --------------------------------------------------------------------------
    def parse(self, spec: FlagSpec, value: Any) -> Any:
        """A recipe value as the engine reads it (raises FlagValueError). Choices the engine
        does not enforce (a plugin registry, a list of known values) do not limit it: see
        `unlisted_values`."""
        binding = self.facts.choices_binding(spec.name)
        return parse_value(spec, value, "json" if spec.name in self.json_options else None, binding)

    def unlisted_values(self, spec: FlagSpec, value: Any) -> list[str]:
        """Values outside a list of known values the engine does not enforce at parse time
        (vLLM's parser, attention-backend and quantization registries, which plugins extend)."""
        if spec.choices is None or self.facts.choices_binding(spec.name):
            return []
        found = self.facts.registry_of(spec.name)
        registry = found[1] if found else {}
        fold = bool(registry.get("case_insensitive"))
        known = {*spec.choices, *(registry.get("values") or ()), *(registry.get("special_values") or {})}
        known_folded = {k.lower() for k in known} if fold else known
        out = []
        for item in value if isinstance(value, list) else [value]:
            if item is None or isinstance(item, bool):
                continue
            text = str(item)
            if (text.lower() if fold else text) not in known_folded and not _special(spec, item)[0]:
                out.append(text)
        return out

    def args(self, entry: Entry) -> dict[str, Any]:
        """The entry's args by canonical name, parsed; unknown or bad ones dropped (a new dict
        each call; the parsing is done once per entry)."""
        cached = self._args.get(id(entry))
        if cached is None or cached[0] is not entry:
            cached = (entry, canonical_args(entry.args, self.flags, self.json_options, self.parse))
            self._args[id(entry)] = cached
        return dict(cached[1])

    def rope_override(self, entry: Entry) -> RopeOverride | None:
        """The rope scaling the entry's config override sets, if it sets a real one."""
        overrides = self.args(entry).get(self.config_override_flag) if self.config_override_flag else None
        return rope_override(overrides)

    def required_args(self, entry: Entry, settings: EntrySettings) -> list[str]:
        """Flags the launch needs even when the recipe leaves them to defaults."""
        return []

    def shorthand(self, spelling: str, value: Any) -> Shorthand | None:
        """`spelling` as one of the forms the engine's parser rewrites before argparse (the
        snapshot's `shorthands`), or None when it is no such form or the engine rewrites none."""
        rules = self.facts.section("shorthands")
        aliases = rules.get("json_option_aliases")
        if not isinstance(aliases, dict):
            return None  # SGLang: a plain argparse parser
        level = rules.get("optimization_level") or {}
        short = level.get("shorthand")
        if short and spelling.startswith(short) and "." not in spelling:
            return self._optimization_level(spelling, value, level)
        if not (spelling.startswith("-") and "." in spelling):
            return None
        # `<key>+` (FlexibleArgumentParser): the value is split at commas into list items that are
        # appended to what other arguments give the same key.
        append = spelling.endswith("+")
        head, *keys = (spelling[:-1] if append else spelling).split(".")
        name = normalise(head)
        found = self.flags.lookup(name)
        if found is None or found[1]:
            return Shorthand(spelling, head, None, tuple(keys), None, f"{head} is not an option", "unknown")
        spec = found[0]
        if spec.type != "json" and spec.name not in self.json_options:
            sentence = f"{spelling}: {spec.name} takes no dotted keys (it is not a JSON option)"
            return Shorthand(spelling, head, spec, tuple(keys), None, sentence, "value")
        if not all(keys):
            return Shorthand(spelling, head, spec, tuple(keys), None, f"{spelling}: an empty key", "value")
        if value is None or isinstance(value, list) and not value:
            sentence = f"{spelling} needs a value (the engine would take the next argument as it)"
            return Shorthand(spelling, head, spec, tuple(keys), None, sentence, "value")
        if isinstance(value, str) and (looks_like_option(value) or "\x00" in value):
            sentence = f"{spelling}: the value {shown(value)} would be read as another option"
            return Shorthand(spelling, head, spec, tuple(keys), None, sentence, "value")
        if append:
            items = [part for item in (value if isinstance(value, list) else [value]) for part in str(item).split(",")]
            return Shorthand(spelling, head, spec, tuple(keys), items, append=True)
        parsed = dotted_value(value) if not isinstance(value, list) else [dotted_value(v) for v in value]
        return Shorthand(spelling, head, spec, tuple(keys), parsed)

    def _optimization_level(self, spelling: str, value: Any, level: Mapping[str, Any]) -> Shorthand | None:
        short = str(level.get("shorthand"))
        option = self.flags.options.get(str(level.get("option")))
        if option is None:
            return None
        rest = spelling[len(short) :]
        if rest:  # -O3, -O=3: the level is part of the argument
            text = rest[1:] if rest.startswith("=") else rest
            if value is not None:
                sentence = f"{spelling} carries its level; it takes no value"
                return Shorthand(spelling, short, option, (), text, sentence, "value")
        elif value is not None and str(value) in (level.get("separate_values") or ()):
            text = str(value)  # -O 3
        else:
            sentence = f"{short} takes a level {'/'.join(level.get('separate_values') or ())} (or write {short}<n>)"
            return Shorthand(spelling, short, None, (), value, sentence, "unknown")
        levels = tuple(str(v) for v in level.get("levels") or ())
        if levels and text not in levels:
            sentence = f"{spelling}: {option.name} {shown(text)} is not one of: {', '.join(levels)}"
            return Shorthand(spelling, short, option, (), text, sentence, "choice")
        return Shorthand(spelling, short, option, (), text)

    def render_shorthand(self, shorthand: Shorthand) -> list[str]:
        """The argv words of a valid shorthand: the dotted key under the option's canonical
        name, `--<option>.<key>=<value>` in one word; `-O<n>` as `--optimization-level <n>`."""
        assert shorthand.spec is not None
        if not shorthand.keys:
            return [shorthand.spec.name, str(shorthand.value)]
        dotted = f"{shorthand.spec.name}.{'.'.join(shorthand.keys)}"
        if shorthand.append:
            return [f"{dotted}+={','.join(shorthand.value)}"]
        return [f"{dotted}={_dotted_word(shorthand.value)}"]

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
                short = self.shorthand(spelling, value)
                if short is not None and short.problem is None:
                    argv.extend(self.render_shorthand(short))
                continue  # validation rejects unknown flags before anything is rendered
            spec, negated = found
            if spec.name in self.reserved_flags or (self.positional_model and spec.name in self.model_flags):
                continue
            written = spelling if negated else spec.name
            if spec.kind in ("flag", "bool", "count"):
                if value is None or value is True:
                    argv.append(written)
                elif value is False and spec.kind == "bool" and not negated and spec.negation:
                    argv.append(spec.negation)
                continue
            argv.append(written)
            argv.extend(self.render(spec, value))
        return argv + ["--host", "0.0.0.0", "--port", str(port)]

    def commands(self, entry: Entry, settings: EntrySettings, port: int) -> EngineCommands:
        """The engine's command in a container (what follows the image in `docker run`: the image's
        entrypoint comes first) and started directly, outside one; the flags are rendered once."""
        args = self.engine_args(entry, settings, port)
        native_start = list(self.data.launch) or (self.data.image_entrypoint or "").split()
        return EngineCommands(container=list(self.data.launch) + args, native=native_start + args)

    def render(self, spec: FlagSpec, value: Any) -> list[str]:
        """The argv words of a value: what validation parsed, written back canonically
        (integers as digits, floats as Python writes them, JSON compact and ASCII)."""
        values = value if isinstance(value, list) else [value]
        try:
            parsed = self.parse(spec, value)
        except FlagValueError:
            return [_render_value(v) for v in values]  # invalid: validation reports it, nothing is published
        items = parsed if isinstance(parsed, list) else [parsed]
        if any(_special(spec, v)[0] for v in values):
            return [_render_value(v).strip() for v in values]  # "auto", "None": the engine's own spelling
        kind = "json" if spec.name in self.json_options else spec.type
        if kind == "json":
            return [json.dumps(v, separators=(",", ":"), ensure_ascii=True, sort_keys=False) for v in items]
        if kind in ("int", "human_int", "float"):
            return [_render_value(v) for v in items]
        return [_render_value(v) for v in values]

    def checkpoint(self, args: Mapping[str, Any], model: Model) -> str:
        for flag in self.model_flags:
            if args.get(flag):
                return str(args[flag])
        return model.model_id

    def kv_bytes(self, settings: EntrySettings) -> float:
        size = load_formats().kv_cache_dtypes.get(settings.kv_cache_dtype, 2)
        return 2.0 if size is None else float(size)


@dataclass(frozen=True)
class RopeOverride:
    """A rope-scaling override: the context grows to `factor` x `original` (the
    checkpoint's own maximum when the override does not say)."""

    factor: float
    original: int | None


# A real rope factor stretches the context a few times (Qwen 4, Llama 3.1 8, DeepSeek 40).
MAX_ROPE_FACTOR = 1024


def rope_override(overrides: Any) -> RopeOverride | None:
    """The rope scaling set by a parsed config override (--hf-overrides, SGLang's
    --json-model-override-args): a `rope_scaling` or `rope_parameters` mapping (also under
    `text_config`) with a numeric `factor` above 1; None for anything else."""
    if not isinstance(overrides, dict):
        return None
    for holder in (overrides, overrides.get("text_config")):
        if not isinstance(holder, dict):
            continue
        for key in ("rope_scaling", "rope_parameters"):
            rope = holder.get(key)
            if not isinstance(rope, dict):
                continue
            factor = rope.get("factor")
            if isinstance(factor, bool) or not isinstance(factor, (int, float)):
                continue
            if not (math.isfinite(factor) and 1 < factor <= MAX_ROPE_FACTOR):
                continue
            original = rope.get("original_max_position_embeddings")
            valid = isinstance(original, int) and not isinstance(original, bool) and 1 <= original <= MAX_TOKENS
            return RopeOverride(float(factor), original if valid else None)
    return None


def _render_value(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)
