"""Semantic checks over a loaded catalogue (schema checks happen while loading).

Each check adds diagnostics with a `Check` code and the file:line of the value at fault.
The entry-level analysis (settings, weight format, memory estimate) is exposed as
`analyse_entry` so the planner reasons about entries exactly as validation does.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aim_engine.catalogue.load import schema as load_schema
from aim_engine.catalogue.records import ENTRY_KEY, Catalogue, Entry, FlagSpec, Hardware, Model, Recipe, normalise
from aim_engine.checks.diagnostics import Check, Report
from aim_engine.checks.figures import decimal_integers, model_contradictions
from aim_engine.checks.loading import Loaded
from aim_engine.engines import backends_for
from aim_engine.engines.base import Backend, FlagChoiceError, FlagValueError, Shorthand, problems_of, shown
from aim_engine.planning.entry import MIN_USEFUL_CONTEXT, analyse_entry, fit_sentence
from aim_engine.planning.parallelism import TpRule
from aim_engine.planning.policy import MAX_GPUS
from aim_engine.planning.precision import dtype_problem
from aim_pick.contract.deploy import VISIBILITY_ENV, env_bare
from aim_pick.contract.text import has_control, printable

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")  # fullmatch: "$" would let a final newline through
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)
SECRET_VALUE = re.compile(
    r"(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abp]-[A-Za-z0-9-]{10,})"
)
# The planner's tensor-parallel rules, as finding codes.
TP_CHECKS = {
    TpRule.HEADS: Check.TP_HEADS,
    TpRule.KV_HEADS: Check.TP_KV_HEADS,
    TpRule.INTERMEDIATE: Check.TP_INTERMEDIATE,
    TpRule.BLOCK_FP8: Check.TP_BLOCK_FP8,
}
SECRET_FLAGS = ("--api-key", "--hf-token", "--admin-api-key")
# The HF config's model_type of architectures the engines restrict by model type (the engines key
# their per-model-type rules, e.g. vLLM's float16 refusal, by model_type): a fallback for model
# files that do not state model_type. From each architecture's transformers config class.
ARCHITECTURE_MODEL_TYPE = {
    "Gemma2ForCausalLM": "gemma2",
    "Gemma3ForCausalLM": "gemma3_text",
    "Gemma3ForConditionalGeneration": "gemma3",
    "Glm4ForCausalLM": "glm4",
}


def model_type_of(model: Model) -> str | None:
    """The model's HF model_type: the model file's, else known from its architecture."""
    stated = getattr(model, "model_type", None)
    return stated if isinstance(stated, str) and stated else ARCHITECTURE_MODEL_TYPE.get(model.architecture)


def env_findings(backend: Backend, name: str, value: str) -> list[tuple[Check, str]]:
    """What the pinned release makes of one environment variable: not read (the engine data's
    removed table with its reason, or the release's own registry: unknown or never acted on),
    deprecated (the engine's own table), or a value outside the variable's fixed choices."""
    data, facts = backend.data, backend.facts
    release = f"{data.title} {data.version}"
    why = data.removed_env.get(name)
    if why:
        return [(Check.ENV_REMOVED, f"{name} has no effect in {release}: {why}")]
    if not name.startswith(backend.env_prefixes) or not facts.env_registry():
        return []
    deprecated = facts.env_deprecated().get(name)
    if isinstance(deprecated, dict):
        replacement = deprecated.get("replacement")
        said = deprecated.get("message") or deprecated.get("note") or "deprecated"
        use = f"; use {replacement}" if replacement else ""
        return [(Check.ENV_DEPRECATED, f"{name} is deprecated in {release}: {said}{use}")]
    legacy = facts.env_legacy_prefix_message()
    for old, new in backend.env_legacy_prefixes.items():
        renamed = new + name[len(old) :]
        if legacy and name.startswith(old) and renamed in facts.env_registry():
            message = legacy.replace("{name}", name).replace("{new_name}", renamed)
            return [(Check.ENV_DEPRECATED, f"{name}: {release} says: {message}")]
    unused = facts.env_unused().get(name)
    if unused:
        return [(Check.ENV_REMOVED, f"{name} has no effect in {release}: it is defined in its registry, but {unused}")]
    if not facts.env_reads(name):
        known = [n for n in facts.env_registry() if n.startswith(backend.env_prefixes)]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]}?)" if close else ""
        said = facts.env_unknown_warning()
        logs = f'; it logs "{said.replace("{name}", name)}" and starts' if said else ""
        return [(Check.ENV_REMOVED, f"{name} is not read by {release} (not in its environment registry){logs}{hint}")]
    entry = facts.env_registry().get(name) or {}
    choices = entry.get("choices")
    if isinstance(choices, list) and choices:
        fold = entry.get("case_sensitive") is False
        listed = [c.lower() for c in choices] if fold else choices
        if (value.lower() if fold else value) not in listed:
            return [
                (
                    Check.ENV_CHOICE,
                    f"{name}={printable(repr(value))}: {release} accepts only {', '.join(choices)} "
                    "and raises an error at start-up otherwise",
                )
            ]
    return []


class Validator:
    def __init__(self, loaded: Loaded, report: Report):
        self.loaded = loaded
        self.cat: Catalogue = loaded.catalogue
        self.report = report
        self.backends = backends_for(self.cat.engines)
        self.by_recipe_key = {b.data.recipe_key: b for b in self.backends.values()}

    # --- helpers -------------------------------------------------------------------------
    def line(self, path: Path, where: tuple, key: bool = False) -> int | None:
        doc = self.loaded.documents.get(path)
        if doc is None:
            return None
        return doc.key_line(where) if key else doc.line_of(where)

    def error(self, path: Path, where: tuple, check: Check, message: str, key: bool = False) -> None:
        """Report a finding at `where` (the key's line with `key`); its severity is the check's."""
        self.report.add(path, self.line(path, where, key), check, message)

    # --- entry points ----------------------------------------------------------------------
    def run(self, unlisted_ok: set[Path], only: frozenset[Path] | None) -> None:
        for model in sorted(self.cat.models.values(), key=lambda m: str(m.path)):
            if only is None or model.path in only:
                self.guarded(model.path, functools.partial(self.check_model, model))
        for recipe in sorted(self.cat.recipes.values(), key=lambda r: str(r.path)):
            if only is None or recipe.path in only:
                self.guarded(recipe.path, functools.partial(self.check_recipe, recipe))
        for path in sorted(self.loaded.documents, key=str):
            if only is None or path in only:
                self.guarded(path, functools.partial(self.check_integers, path))
        self.check_listing(unlisted_ok)

    def check_model(self, model: Model) -> None:
        """Figures of one model file that contradict each other (each at its own line)."""
        for where, message in model_contradictions(model):
            self.error(model.path, where, Check.MODEL_INCONSISTENT, message)

    def check_integers(self, path: Path) -> None:
        """Whole numbers written as decimals where the file's schema takes an integer: JSON Schema
        counts 2048.0 as an integer, the records and the engines do not."""
        doc = self.loaded.documents.get(path)
        if doc is None or not isinstance(doc.data, dict):
            return
        kind = "model" if path in self.loaded.model_files else "recipe"
        for where, value in decimal_integers(load_schema(kind), doc.data):
            shown = ".".join(str(p) for p in where)
            self.error(
                path, where, Check.NOT_AN_INTEGER, f"{shown}: {value!r} is written as a decimal; write {int(value)}"
            )

    def guarded(self, path: Path, check: Callable[[], None]) -> None:
        """Run the checks of one file; a bug in them becomes an INTERNAL finding on that file,
        so it never hides the findings of the other files (validate then exits 70)."""
        try:
            check()
        except Exception as exc:  # a bug in a rule, not a property of the input
            self.report.add(path, None, Check.INTERNAL, f"{type(exc).__name__}: {exc}")

    def check_listing(self, unlisted_ok: set[Path]) -> None:
        """aim_recipes must name exactly the recipes for the model (checked both ways)."""
        for model in sorted(self.cat.models.values(), key=lambda m: str(m.path)):
            for index, recipe_id in enumerate(model.aim_recipes):
                recipe = self.cat.recipes.get(recipe_id)
                if recipe is None:
                    close = difflib.get_close_matches(recipe_id, list(self.cat.recipes), n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    self.error(
                        model.path,
                        ("aim_recipes", index),
                        Check.DANGLING_RECIPE,
                        f"aim_recipes lists {recipe_id!r}, which no recipe file defines{hint}",
                    )
                elif recipe.model_id != model.model_id:
                    self.error(
                        model.path,
                        ("aim_recipes", index),
                        Check.DANGLING_RECIPE,
                        f"aim_recipes lists {recipe_id!r}, but that recipe serves {recipe.model_id}",
                    )
        for recipe in sorted(self.cat.recipes.values(), key=lambda r: r.recipe_id):
            owner = self.cat.models.get(recipe.model_id)
            if owner is None or recipe.recipe_id in owner.aim_recipes or recipe.path in unlisted_ok:
                continue
            self.error(
                recipe.path,
                ("recipe_id",),
                Check.RECIPE_NOT_LISTED,
                f"recipe {recipe.recipe_id!r} is not listed in aim_recipes of {owner.path}",
            )

    def check_recipe(self, recipe: Recipe) -> None:
        path = recipe.path
        model = self.cat.models.get(recipe.model_id)
        if model is None:
            close = difflib.get_close_matches(recipe.model_id, list(self.cat.models), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            self.error(
                path, ("model_id",), Check.UNKNOWN_MODEL, f"model {recipe.model_id} has no file under models/{hint}"
            )
        hardware = self.cat.hardware.get(recipe.hardware)
        if hardware is None:
            by_case = {name.lower(): name for name in self.cat.hardware}
            guess = by_case.get(recipe.hardware.lower()) or next(
                iter(difflib.get_close_matches(recipe.hardware, list(self.cat.hardware), n=1)), None
            )
            hint = f" (did you mean {guess}?)" if guess else ""
            self.error(
                path,
                ("hardware",),
                Check.UNKNOWN_HARDWARE,
                f"unknown GPU {recipe.hardware!r}; known: {', '.join(self.cat.hardware)}{hint}",
            )
        else:
            support = hardware.precision_support(recipe.precision)
            if support is None:
                self.error(
                    path,
                    ("precision",),
                    Check.PRECISION_UNSUPPORTED,
                    f"{hardware.name} ({hardware.gfx_target}) cannot run {recipe.precision}; "
                    f"it supports {', '.join(sorted(hardware.precisions))}",
                )
            elif support == "emulated":
                self.error(
                    path,
                    ("precision",),
                    Check.PRECISION_EMULATED,
                    f"{hardware.name} ({hardware.gfx_target}) has no native {recipe.precision}; "
                    "the engine runs it in software kernels",
                )

        doc = self.loaded.documents.get(path)
        raw = doc.data if doc else {}
        serve_keys = [k for k in raw if isinstance(k, str) and k.endswith("_serve")]
        for key in serve_keys:
            if key not in self.by_recipe_key:
                self.error(
                    path,
                    (key,),
                    Check.UNKNOWN_BACKEND,
                    f"{key!r} is not a known engine block (known: {', '.join(sorted(self.by_recipe_key))})",
                    key=True,
                )
            else:
                for entry_key in raw[key]:
                    if not ENTRY_KEY.match(str(entry_key)):
                        self.error(
                            path,
                            (key, entry_key),
                            Check.ENTRY_KEY,
                            f"{key}.{entry_key}: GPU-count keys look like 1_gpu, 2_gpu, 4_gpu, 8_gpu",
                            key=True,
                        )
        if not serve_keys:
            self.error(path, (), Check.NO_BACKEND, "the recipe has no vllm_serve or sglang_serve block")

        used = {self.backends[e.backend] for e in recipe.entries}
        self.check_env(path, ("env",), recipe.env, used)
        for entry in recipe.entries:
            if entry.gpus > MAX_GPUS:
                # Each host of a multi-node plan needs its own rank and the leader's address: the
                # planner writes those per layout (planning/generic.py); one entry's args cannot.
                where = (self.backends[entry.backend].data.recipe_key, entry.key)
                message = f"{entry.key}: more GPUs than one host of {MAX_GPUS}"
                self.error(path, where, Check.ENTRY_HOSTS, message, key=True)
                continue
            self.check_entry(recipe, entry, model, hardware)

    def check_env(self, path: Path, where: tuple, env: Mapping[str, str], backends: set[Backend]) -> None:
        for name, value in env.items():
            at = where + (name,)
            if not ENV_NAME.fullmatch(name):
                self.error(
                    path,
                    at,
                    Check.ENV_NAME,
                    f"environment name {name!r} must be upper-case letters, digits and underscores",
                    key=True,
                )
            if not has_control(value) and not env_bare(value):  # control characters: ENV_VALUE, at load
                self.error(
                    path,
                    at,
                    Check.ENV_FILE_VALUE,
                    f"{name}={printable(repr(value))} cannot be written to an env file that sh and docker read alike",
                )
            if name in VISIBILITY_ENV:
                fixed = f"{name}={printable(repr(value))} fixes the GPUs the engine sees"
                self.error(path, at, Check.ENV_VISIBILITY, fixed)
            if (SECRET_NAME.search(name) and value.strip()) or SECRET_VALUE.search(value):
                self.error(
                    path, at, Check.SECRET, f"{name} holds what looks like a secret; never publish it in a recipe"
                )
            for backend in sorted(backends, key=lambda b: b.name):
                for check, message in env_findings(backend, name, value):
                    self.error(path, at, check, message, key=check is not Check.ENV_CHOICE)

    def check_entry(self, recipe: Recipe, entry: Entry, model: Model | None, hardware: Hardware | None) -> None:
        backend = self.backends[entry.backend]
        path, base = recipe.path, (backend.data.recipe_key, entry.key)
        self.check_flags(path, base, entry, backend)
        if entry.env != recipe.env:
            own = {k: v for k, v in entry.env.items() if recipe.env.get(k) != v}
            self.check_env(path, base + ("env",), own, {backend})
        if hardware is not None and entry.enabled and backend.data.image_for(hardware) is None:
            self.error(
                path,
                base,
                Check.NO_IMAGE,
                f"{backend.data.title} {backend.data.version} has no ROCm image for "
                f"{hardware.name} ({hardware.gfx_target})",
                key=True,
            )
        if model is None or hardware is None:
            return
        arg_at = self._arg_locator(entry, backend, path, base)
        nonsense = problems_of(backend.settings(entry, model, hardware))
        for bad in nonsense:
            check = {"dtype": Check.DTYPE_MISMATCH, "unknown": Check.UNKNOWN_VALUE}.get(bad.kind, Check.FLAG_VALUE)
            where = arg_at(*bad.flags)
            # at the flag that sets it, or (a default) at the entry's key
            self.error(path, where, check, f"{entry.key}: {bad.sentence}", key=where == base)
        if nonsense:
            return
        analysis = analyse_entry(backend, entry, recipe, model, hardware)
        s = analysis.settings

        if s.gpus_used != entry.gpus:
            self.error(
                path,
                arg_at("--tensor-parallel-size", "--tp-size"),
                Check.GPU_COUNT_MISMATCH,
                f"{entry.key}: the args use {s.gpus_used} GPU(s) (TP {s.tp} x PP {s.pp} x DP {s.dp}), not {entry.gpus}",
            )
        if s.checkpoint != model.model_id and model.variant(s.checkpoint) is None:
            known = [model.model_id, *(v.model_id for v in model.variants)]
            same = [k for k in known if k.lower() == s.checkpoint.lower()]
            hint = (
                f"; the id differs from {same[0]} only in case: write it as listed"
                if same
                else f"; add it to {model.path.name} under variants (model_id, precision, quantization, source; "
                "alias_of: true if it is the same weights under another name) so that it can be sized"
            )
            self.error(
                path,
                arg_at(*backend.model_flags),
                Check.UNKNOWN_CHECKPOINT,
                f"{entry.key}: checkpoint {s.checkpoint} is not {model.model_id} or a listed variant "
                f"({', '.join(known)}){hint}; precision and memory are not checked for this entry",
            )
            return  # an unknown checkpoint's format and size are unknown: never size it as something else
        if analysis.served_precision != recipe.precision and not {analysis.served_precision, recipe.precision} <= {
            "bf16",
            "fp16",
        }:
            # (bf16 vs fp16 is a --dtype question, reported as DTYPE_MISMATCH below)
            self.error(
                path,
                arg_at(*backend.model_flags, "--quantization"),
                Check.CHECKPOINT_PRECISION,
                f"{entry.key} serves {s.checkpoint} as {analysis.served_precision}, "
                f"but the recipe precision is {recipe.precision}",
            )
        dtype_mismatch = dtype_problem(model, recipe.precision, s.dtype)
        if dtype_mismatch:
            self.error(path, arg_at("--dtype"), Check.DTYPE_MISMATCH, f"{entry.key}: {dtype_mismatch}")
        refused = backend.facts.dtype_rejection(model_type_of(model), s.dtype)
        if refused:
            self.error(
                path,
                arg_at("--dtype"),
                Check.DTYPE_UNSUPPORTED,
                f"{entry.key}: {backend.data.title} {backend.data.version} refuses --dtype {s.dtype} for "
                f"{model.name} (model type {model_type_of(model)}): {refused}",
            )
        if not entry.enabled:
            return  # disabled entries document what does not work; only their flags must be real
        self._check_engine_precision(
            path, arg_at(*backend.model_flags, "--quantization"), entry, backend, hardware, analysis
        )
        for problem in analysis.tp_problems:
            check = TP_CHECKS[problem.rule]
            self.error(path, arg_at("--tensor-parallel-size", "--tp-size"), check, f"{entry.key}: {problem.sentence}")
        limit, why = self._context_limit(entry, backend, model)
        if s.max_model_len_explicit and s.max_model_len > limit:
            self.error(
                path,
                arg_at(backend.context_flag),
                Check.CONTEXT_TOO_LONG,
                f"{entry.key}: {backend.context_flag} {s.max_model_len} exceeds "
                f"{model.name}'s maximum of {limit} tokens{why}",
            )
        memory = analysis.memory
        if not memory.fits:
            where = arg_at(backend.context_flag, "--gpu-memory-utilization", "--mem-fraction-static")
            fitted = memory.max_model_len_that_fits
            # vLLM --max-model-len auto: vLLM fits the context to memory at start-up.
            auto_starts = s.context_auto and fitted >= min(MIN_USEFUL_CONTEXT, memory.max_model_len)
            sentence = fit_sentence(memory, hardware, backend.context_flag)
            if auto_starts:
                self.error(
                    path,
                    where,
                    Check.CONTEXT_FITS_SHORTER,
                    f"{entry.key} on {hardware.name}: {backend.data.title} fits {backend.context_flag} auto to "
                    f"memory and starts with about {fitted} tokens, not the model's "
                    f"{memory.max_model_len} ({sentence})",
                )
            elif analysis.starts:
                self.error(
                    path,
                    where,
                    Check.CONTEXT_FITS_SHORTER,
                    f"{entry.key} on {hardware.name}: {backend.data.title} starts, but one request of "
                    f"{backend.context_flag} {memory.max_model_len} does not fit its KV cache; requests longer than "
                    f"about {fitted} tokens are refused or cut ({sentence})",
                )
            else:
                self.error(path, where, Check.DOES_NOT_FIT, f"{entry.key} on {hardware.name}: {sentence}")

    def _check_engine_precision(
        self, path: Path, where: tuple, entry: Entry, backend: Backend, hardware: Hardware, analysis: Any
    ) -> None:
        """The pinned engine's own support for the entry's weight format on this GPU's gfx target,
        where it is worse than the GPU's (the recipe-level check reports the GPU's)."""
        gpu = hardware.precision_support(analysis.served_precision)
        if gpu is None:
            return
        level, sentence = backend.precision_support_reason(hardware, analysis.weight_format)
        at_entry = where == (backend.data.recipe_key, entry.key)  # no flag sets it: the entry's key line
        if level is None:
            self.error(path, where, Check.PRECISION_UNSUPPORTED, f"{entry.key}: {sentence}", key=at_entry)
        elif level == "emulated" and gpu == "native":
            self.error(path, where, Check.PRECISION_EMULATED, f"{entry.key}: {sentence}", key=at_entry)

    def _arg_locator(self, entry: Entry, backend: Backend, path: Path, base: tuple):
        """Find where in the file a flag is written (any spelling), else the entry."""
        spelled: dict[str, str] = {}
        for spelling in entry.args:
            found = backend.flags.resolve(spelling)
            if found:
                spelled.setdefault(found[0].name, spelling)

        def at(*flags: str) -> tuple:
            for flag in flags:
                if flag in spelled:
                    return base + ("args", spelled[flag])
            return base

        return at

    @staticmethod
    def _context_limit(entry: Entry, backend: Backend, model: Model) -> tuple[int, str]:
        """The longest context the entry may ask for, and what raised it above the model's
        maximum: only a rope-scaling override with a real factor does (never the mere word)."""
        limit = model.config.max_position_embeddings
        rope = backend.rope_override(entry)
        if rope is None:
            return limit, ""
        base = rope.original or limit
        scaled = int(rope.factor * base)
        if scaled <= limit:
            return limit, ""
        return scaled, f" with rope factor {rope.factor:g} over {base} ({backend.config_override_flag})"

    def check_flags(self, path: Path, base: tuple, entry: Entry, backend: Backend) -> None:
        table = backend.flags
        others = [b for b in self.backends.values() if b is not backend]
        for spelling, value in entry.args.items():
            at = base + ("args", spelling)
            name = normalise(spelling)
            found = table.lookup(name)
            if found is None:
                short = backend.shorthand(spelling, value)
                if short is not None:
                    self._check_shorthand(path, at, short, backend)
                    continue
            if found is None and table.allow_abbrev:
                matches = table.prefix_matches(name)
                if len(matches) == 1:
                    self.error(
                        path,
                        at,
                        Check.ABBREVIATED_FLAG,
                        f"{spelling} is accepted only as an abbreviation of {matches[0].name}; write it in full",
                        key=True,
                    )
                    found = (matches[0], False)
                elif len(matches) > 1 and name not in backend.data.removed_flags:
                    self.error(
                        path,
                        at,
                        Check.UNKNOWN_FLAG,
                        f"{spelling} is ambiguous in {backend.data.title} {backend.data.version}: "
                        f"it abbreviates {', '.join(m.name for m in matches[:6])}",
                        key=True,
                    )
                    continue
            if found is None:
                self._unknown_flag(path, at, spelling, name, backend, others)
                continue
            spec, negated = found
            if spec.name in backend.reserved_flags:
                self.error(
                    path,
                    at,
                    Check.RESERVED_FLAG,
                    f"{spec.name} is set when the command is rendered (host 0.0.0.0, the plan's port); "
                    "this value is ignored",
                    key=True,
                )
                continue
            release = f"{backend.data.title} {backend.data.version}"
            said = backend.facts.startup_deprecation(spec.name, value)
            if spec.deprecated or said:
                self.error(
                    path,
                    at,
                    Check.DEPRECATED_FLAG,
                    f"{spelling} is deprecated in {release}: {spec.deprecation or said or 'see the engine docs'}",
                    key=True,
                )
            missing = backend.facts.file_read_at_launch(spec.name)
            if missing is not None and isinstance(value, str):
                # The engine merges the file's options into argv before parsing: they are out of
                # the recipe's sight, and no plan ships the file (a missing one stops the launch).
                self.error(
                    path,
                    at,
                    Check.CONFIG_FILE,
                    f"{spelling} {shown(value)}: {release} reads more options from this file when it starts, and "
                    f"stops if it is missing ({missing.replace('{path}', printable(value))})",
                )
            if spec.name in SECRET_FLAGS and value not in (None, False, ""):
                self.error(path, at, Check.SECRET, f"{spelling} carries a secret; pass it at run time instead")
            elif any(
                isinstance(v, str) and SECRET_VALUE.search(v) for v in (value if isinstance(value, list) else [value])
            ):
                self.error(path, at, Check.SECRET, f"{spelling} holds what looks like a secret; never publish it")
            try:
                parsed = backend.parse(spec, value)
            except FlagChoiceError as exc:
                self.error(path, at, Check.FLAG_CHOICE, str(exc))
            except FlagValueError as exc:
                self.error(path, at, Check.FLAG_VALUE, str(exc))
            else:
                self._check_registry(path, at, spelling, spec, value, backend)
                if isinstance(parsed, dict):
                    self._check_config(path, at, backend, spec.name, parsed)
            if negated and value is False:
                self.error(
                    path,
                    at,
                    Check.FLAG_VALUE,
                    f"{spelling}: false on a --no- flag is a double negative; write {spec.name}: true",
                )

    def _check_registry(
        self, path: Path, at: tuple, spelling: str, spec: FlagSpec, value: Any, backend: Backend
    ) -> None:
        """A value outside a list the engine does not enforce at parse time (plugin registries)."""
        unlisted = backend.unlisted_values(spec, value)
        if not unlisted:
            return
        found = backend.facts.registry_of(spec.name)
        what = f"registry {found[0]} ({found[1].get('source')})" if found else "list of known values"
        values = sorted({*(spec.choices or ()), *((found[1].get("values") or ()) if found else ())} - {"", "None"})
        close = difflib.get_close_matches(unlisted[0], values, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        listed = ", ".join(values[:60]) + (", ..." if len(values) > 60 else "")
        self.error(
            path,
            at,
            Check.REGISTRY_VALUE,
            f"{spelling} {shown(unlisted[0])} is not in {backend.data.title} {backend.data.version}'s {what}{hint}; "
            f"registered: {listed}",
        )

    def _check_config(self, path: Path, at: tuple, backend: Backend, option: str, value: Any) -> None:
        """Keys and values of a JSON option that its config class refuses."""
        for kind, sentence in backend.facts.config_problems(option, value):
            check = Check.UNKNOWN_CONFIG_KEY if kind == "key" else Check.FLAG_VALUE
            if kind == "value" and " is not one of " in sentence:
                check = Check.FLAG_CHOICE
            self.error(path, at, check, f"{sentence} ({backend.data.title} {backend.data.version})")

    def _check_shorthand(self, path: Path, at: tuple, short: Shorthand, backend: Backend) -> None:
        """vLLM's dotted config arguments (`-cc.key=value`) and `-O<n>`, as its parser rewrites them."""
        data = backend.data
        if short.problem is not None:
            check = {"unknown": Check.UNKNOWN_FLAG, "choice": Check.FLAG_CHOICE}.get(
                short.problem_kind, Check.FLAG_VALUE
            )
            self.error(
                path, at, check, f"{short.problem} in {data.title} {data.version}", key=check is Check.UNKNOWN_FLAG
            )
            return
        if not short.keys or short.spec is None:
            return
        nested: Any = short.value
        for key in reversed(short.keys):
            nested = {key: nested}
        self._check_config(path, at, backend, short.spec.name, nested)

    def _unknown_flag(
        self, path: Path, at: tuple, spelling: str, name: str, backend: Backend, others: list[Backend]
    ) -> None:
        data = backend.data
        removed = data.removed_flags.get(name)
        if removed:
            replacement = f"; use {removed['replacement']}" if removed.get("replacement") else ""
            self.error(
                path,
                at,
                Check.REMOVED_FLAG,
                f"{spelling} is not accepted by {data.title} {data.version}: {removed['why']}{replacement}",
                key=True,
            )
            return
        for other in others:
            if other.flags.lookup(name) or name in other.data.removed_flags:
                ours = backend.foreign_spellings.get(name)
                fix = f"; {data.title} spells it {ours}" if ours else f"; {data.title} has no such flag"
                self.error(
                    path,
                    at,
                    Check.OTHER_BACKEND_FLAG,
                    f"{spelling} is a {other.data.title} flag, not a {data.title} one{fix}",
                    key=True,
                )
                return
        close = difflib.get_close_matches(name, list(backend.flags.spellings), n=2, cutoff=0.75)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        self.error(
            path, at, Check.UNKNOWN_FLAG, f"{spelling} is not a {data.title} {data.version} flag{hint}", key=True
        )


def validate(
    loaded: Loaded, report: Report, unlisted_ok: set[Path] | None = None, only: frozenset[Path] | None = None
) -> None:
    """Check the loaded catalogue. `only`: check the recipes of just these files (the files a
    user named); the listing checks always cover the whole catalogue."""
    Validator(loaded, report).run(unlisted_ok or set(), only)
