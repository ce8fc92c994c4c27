"""What `aim-engine validate` can say about a catalogue file, and how it is printed.

Every finding has a code from `Check`; the code carries one sentence saying what is
wrong in general and one saying how to fix it, so messages stay consistent and the
documentation can list them all.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path

from aim_pick.contract.text import printable

# Beyond printable()'s controls: lone surrogates (no output encoding can write them) and the
# bidirectional embedding, override and isolate characters (they reorder the text around them).
_INVISIBLE = re.compile("[\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def clean(value: object) -> str:
    """Text from data made safe for one output line: control characters, lone surrogates
    and bidirectional overrides written as escapes."""
    text = printable(value)
    return _INVISIBLE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text) if _INVISIBLE.search(text) else text


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


ERROR, WARNING = Severity.ERROR, Severity.WARNING


class Check(enum.Enum):
    """Validation finding codes. Value: (severity, sentence, fix hint); the severity is the
    code's, so a kind of finding is always an error or always a warning."""

    YAML_SYNTAX = (ERROR, "The file is not valid YAML.", "fix the YAML syntax at the line shown")
    DUPLICATE_KEY = (
        ERROR,
        "A key appears twice in one mapping; YAML would silently keep the last.",
        "remove one of the two keys",
    )
    SCHEMA = (
        ERROR,
        "The file does not match its JSON Schema.",
        "see the field reference in the 'Writing recipes' page",
    )
    UNKNOWN_MODEL = (
        ERROR,
        "The recipe names a model that has no file under models/.",
        "add the model file or fix model_id",
    )
    UNKNOWN_HARDWARE = (
        ERROR,
        "The recipe names a GPU that is not in the hardware data.",
        "use one of the listed GPU names",
    )
    DUPLICATE_RECIPE_ID = (ERROR, "Two recipes share one recipe_id.", "give each recipe a unique recipe_id")
    DUPLICATE_MODEL_ID = (ERROR, "Two model files describe the same model_id.", "keep one file per model")
    RECIPE_NOT_LISTED = (
        ERROR,
        "A recipe for this model is missing from the model's aim_recipes.",
        "add the recipe id to aim_recipes",
    )
    DANGLING_RECIPE = (
        ERROR,
        "aim_recipes names a recipe that does not exist or belongs to another model.",
        "remove it or fix the id",
    )
    PRECISION_UNSUPPORTED = (
        ERROR,
        "The GPU, or the pinned engine on this GPU's architecture, cannot run this precision.",
        "use a precision the GPU and the engine support there, or disable the entry",
    )
    PRECISION_EMULATED = (
        WARNING,
        "The GPU runs this precision only through the engine's software (emulation) kernels.",
        "expect lower speed, or use a GPU with native support",
    )
    NO_IMAGE = (
        ERROR,
        "The engine publishes no ROCm image for this GPU's architecture.",
        "disable the backend for this GPU",
    )
    UNKNOWN_FLAG = (
        ERROR,
        "The flag does not exist in the pinned engine version.",
        "check the spelling against the engine's flag list",
    )
    OTHER_BACKEND_FLAG = (
        ERROR,
        "The flag belongs to the other engine, not the one this block configures.",
        "use this engine's spelling",
    )
    REMOVED_FLAG = (
        ERROR,
        "The flag was removed or renamed in the pinned engine version.",
        "use the replacement named in the message",
    )
    DEPRECATED_FLAG = (
        WARNING,
        "The flag still works but the engine has deprecated it.",
        "switch to the replacement before it is removed",
    )
    ABBREVIATED_FLAG = (
        WARNING,
        "The flag is an abbreviation the engine's parser happens to accept.",
        "write the full flag name",
    )
    FLAG_VALUE = (ERROR, "The flag's value has the wrong type for the engine.", "give a value of the type shown")
    FLAG_CHOICE = (ERROR, "The flag's value is not one the engine accepts.", "pick one of the listed values")
    REGISTRY_VALUE = (
        WARNING,
        "The value is not in the pinned engine's registry for this option; only a plugin could add it.",
        "use one of the registered values listed, or make sure the plugin providing it is installed",
    )
    UNKNOWN_CONFIG_KEY = (
        ERROR,
        "The key is not a field of the engine's config class for this option, which refuses unknown keys.",
        "use one of the config's fields (the message suggests the closest)",
    )
    CONFIG_FILE = (
        ERROR,
        "The engine reads more options from this file when it starts; a plan ships no files, and the "
        "options in it cannot be checked.",
        "write the file's options as args in the recipe",
    )
    RESERVED_FLAG = (WARNING, "The flag is set by AIM Engine when it renders the command.", "remove it from the recipe")
    DTYPE_UNSUPPORTED = (
        ERROR,
        "The engine refuses this --dtype for the model's architecture (its own per-model-type list).",
        "use the dtype the engine's message names (e.g. bfloat16), or the other engine",
    )
    DTYPE_MISMATCH = (
        ERROR,
        "--dtype contradicts the recipe's precision.",
        "make --dtype match the precision, or drop it",
    )
    GPU_COUNT_MISMATCH = (
        ERROR,
        "The parallel sizes in the args do not use exactly the entry's GPU count.",
        "make TP x PP x DP equal N of N_gpu",
    )
    TP_HEADS = (
        ERROR,
        "The tensor-parallel size does not divide the attention heads.",
        "use a TP size that divides the head count",
    )
    TP_KV_HEADS = (
        ERROR,
        "The tensor-parallel size breaks the KV-head rule.",
        "use a TP size that divides, or is a multiple of, the KV heads",
    )
    TP_INTERMEDIATE = (
        ERROR,
        "The tensor-parallel size does not divide the MLP intermediate size.",
        "use a TP size that divides it, or enable expert parallelism for MoE models",
    )
    TP_BLOCK_FP8 = (
        ERROR,
        "With block-FP8 weights, the per-rank intermediate size must be a multiple of 128.",
        "use a smaller TP size or enable expert parallelism",
    )
    CONTEXT_TOO_LONG = (
        ERROR,
        "The context length exceeds the model's maximum.",
        "lower it to the model's max_position_embeddings or add rope scaling",
    )
    DOES_NOT_FIT = (
        ERROR,
        "The engine cannot start: the entry does not fit in GPU memory at its settings.",
        "lower the context length, use fp8 KV cache, or use more GPUs",
    )
    CONTEXT_FITS_SHORTER = (
        WARNING,
        "The engine starts, but one request of the full context length does not fit in its KV cache: "
        "longer requests are refused or cut at run time (SGLang), or the engine shortens the context "
        "it chose (vLLM --max-model-len auto).",
        "set the context length the message names, or use more GPUs or an fp8 KV cache",
    )
    UNKNOWN_CHECKPOINT = (
        ERROR,
        "The checkpoint (--model / --model-path) is neither the model nor one of its listed variants, so "
        "its precision and size are unknown; the entry is not sized.",
        "add it to the model file's variants with its precision and quantization (alias_of: true for the "
        "same weights under another repo name), or serve a listed checkpoint",
    )
    CHECKPOINT_PRECISION = (
        ERROR,
        "The checkpoint's precision does not match the recipe's precision.",
        "serve the matching variant or fix the precision",
    )
    ENV_NAME = (ERROR, "The environment variable name is not valid.", "use upper-case letters, digits and underscores")
    ENV_VALUE = (
        ERROR,
        "The environment value holds a control character (NUL, newline, escape, ...): no process environment, "
        "env file or script can carry it safely.",
        "remove the character from the value",
    )
    ENV_VISIBILITY = (
        ERROR,
        "A recipe sets which GPUs the engine sees (HIP_, ROCR_ or CUDA_VISIBLE_DEVICES, GPU_DEVICE_ORDINAL): "
        "the host chooses its GPUs, and a fixed list hides GPUs from the tensor-parallel group or stacks "
        "with the HIP_VISIBLE_DEVICES that aim-pick sets for part of a host.",
        "remove it: aim-pick pins the GPUs it picks, and the operator chooses the rest at run time",
    )
    SECRET = (
        ERROR,
        "A value looks like a secret (token, key, password); recipes are published.",
        "pass secrets at run time (e.g. HF_TOKEN by name only)",
    )
    ENV_REMOVED = (
        WARNING,
        "The pinned engine release does not read this environment variable (removed, renamed, or defined "
        "but never acted on): setting it has no effect.",
        "remove it, or use the replacement named",
    )
    ENV_DEPRECATED = (
        WARNING,
        "The engine still reads this environment variable but says it is deprecated.",
        "switch to the replacement the engine names",
    )
    ENV_CHOICE = (
        ERROR,
        "The engine accepts only a fixed set of values for this environment variable and stops at "
        "start-up on any other.",
        "use one of the listed values",
    )
    UNKNOWN_BACKEND = (
        ERROR,
        "The recipe has a *_serve block for an engine AIM Engine does not know.",
        "use vllm_serve or sglang_serve",
    )
    NO_BACKEND = (ERROR, "The recipe has no backend block.", "add a vllm_serve or sglang_serve block")
    ENTRY_KEY = (ERROR, "The GPU-count key must look like N_gpu with N >= 1.", "rename the key, e.g. 4_gpu")
    ENTRY_HOSTS = (
        ERROR,
        "A recipe entry is one host's launch, of at most 8 GPUs; plans that need more hosts are generated "
        "(multi-node generic plans), with each host's own flags.",
        "write the entry for one host (at most 8_gpu); aim-engine build adds the multi-node plan where one host "
        "does not do",
    )
    CONTROL_CHARACTER = (
        ERROR,
        "A key or text value holds a control character (newline, escape, NUL, ...), a lone surrogate or a "
        "bidirectional override; only notes may span lines.",
        "remove the character (notes may hold newlines and tabs)",
    )
    ENV_FILE_VALUE = (
        ERROR,
        "The environment value has characters that a shell (`set -a; . file`) and `docker run --env-file` "
        "would read differently, so the plan's env file could not carry it.",
        "use only letters, digits and _ @ % + = : , . / - ^ (or pass the setting as an engine flag)",
    )
    INTERNAL = (
        ERROR,
        "AIM Engine failed while checking this file: a bug, not a fault of the file; the other files were checked.",
        "please report it with the file; aim-engine validate exits 70",
    )
    MODEL_INCONSISTENT = (
        ERROR,
        "The model file's figures contradict each other (e.g. more active than total parameters, more KV "
        "heads than heads).",
        "check the figures against the checkpoint's config.json",
    )
    NOT_AN_INTEGER = (
        ERROR,
        "A whole number is written as a decimal (2048.0, 1.0e+15) where the file takes an integer.",
        "write it as an integer, without a decimal point or exponent",
    )
    UNKNOWN_VALUE = (
        ERROR,
        "The engine accepts the value, but AIM Engine does not know what it means for planning "
        "(a --dtype without a precision, a --kv-cache-dtype without a size).",
        "use one of the values listed in the message",
    )

    @property
    def severity(self) -> Severity:
        return self.value[0]

    @property
    def sentence(self) -> str:
        return self.value[1]

    @property
    def hint(self) -> str:
        return self.value[2]

    @property
    def slug(self) -> str:
        return self.name.lower().replace("_", "-")


@dataclass(frozen=True)
class Diagnostic:
    path: Path
    line: int | None
    severity: Severity
    check: Check
    message: str

    def sort_key(self) -> tuple:
        return (str(self.path), self.line or 0, self.severity.value, self.check.slug, self.message)

    def format_text(self) -> str:
        """One line: data in paths and messages never adds a line or a terminal escape."""
        where = clean(f"{self.path}:{self.line}" if self.line else f"{self.path}")
        return f"{where}: {self.severity.value}: {clean(self.message)} [{self.check.slug}] (fix: {self.check.hint})"

    def format_github(self) -> str:
        # GitHub workflow commands: properties escape ',' ':' and message escapes newlines.
        def prop(value: str) -> str:
            return (
                value.replace("%", "%25")
                .replace("\r", "%0D")
                .replace("\n", "%0A")
                .replace(":", "%3A")
                .replace(",", "%2C")
            )

        def msg(value: str) -> str:
            return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

        level = "error" if self.severity is Severity.ERROR else "warning"
        parts = [f"file={prop(clean(self.path))}"]
        if self.line:
            parts.append(f"line={self.line}")
        parts.append(f"title={prop(self.check.slug)}")
        return f"::{level} {','.join(parts)}::{msg(clean(self.message) + ' (fix: ' + self.check.hint + ')')}"


class Report:
    """Collects diagnostics for one run."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def add(self, path: Path, line: int | None, check: Check, message: str) -> None:
        """Record one finding; its severity is the check's. The message is kept on one line
        whatever data it quotes (control characters become escapes)."""
        self.items.append(Diagnostic(path, line, check.severity, check, clean(message)))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    def sorted(self) -> list[Diagnostic]:
        return sorted(set(self.items), key=Diagnostic.sort_key)
