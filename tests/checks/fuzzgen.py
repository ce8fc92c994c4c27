"""Malformed model and recipe files, generated deterministically from the shipped catalogue.

`generate(count, seed)` yields exactly `count` files (same seed, same bytes, on every machine):
each is a shipped model or recipe with one to three kinds of damage, drawn from the classes
a hostile or careless pull request brings:

- types swapped (scalars, lists, mappings, null in place of each other), keys deleted,
  renamed or made non-text;
- numbers out of range: huge integers (1e309 and beyond), NaN and infinities, zero and
  negative sizes, floats and suffixed strings for integer flags;
- engine values the planner must understand: every dtype and KV-cache dtype the engines
  list (float, float32, ...), unknown ones, JSON overrides (rope scaling, deep, non-finite);
- option smuggling: values that read as another option;
- deep nesting, odd unicode (surrogates, right-to-left overrides, full-width digits),
  control characters (newline, ESC, NUL) in keys and values, ids ending in a newline;
- YAML features: explicit tags (!!float abc, !!int abc, !!timestamp 2001-99-99,
  !!bool maybe, ...), anchors and aliases, merge keys, syntax errors;
- bytes: invalid UTF-8, UTF-16, NUL bytes, truncation in the middle of a character.

Model files usually get a fresh model_id and recipes a fresh recipe_id, so that the damaged
file is checked on its own rather than shadowed by the shipped file it came from. Some model
files come with a recipe for them ("pair"), so schema-valid extremes reach the planner.
"""

from __future__ import annotations

import json
import pickle
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from tests import yamlio

REPO = Path(__file__).resolve().parents[2]
FLAGS = REPO / "compiler" / "aim_engine" / "catalogue" / "data" / "flags"


@dataclass(frozen=True)
class FuzzFile:
    index: int
    kind: str  # "model" | "recipe"
    data: bytes
    damage: tuple[str, ...]  # what was done to it, for failure messages

    @property
    def name(self) -> str:
        return f"f{self.index:05d}.yaml"


def _load_sources() -> tuple[list[tuple[str, str, Any]], list[tuple[str, str, Any]]]:
    out: dict[str, list[tuple[str, str, Any]]] = {"models": [], "recipes": []}
    for folder in out:
        for path in sorted((REPO / folder).glob("*.yaml")):
            text = path.read_text("utf-8")
            out[folder].append((path.stem, text, yamlio.safe_load(text)))
    return out["models"], out["recipes"]


MODELS, RECIPES = _load_sources()
SNAPSHOTS = {
    "vllm_serve": json.loads((FLAGS / "vllm-0.33.0.json").read_text("utf-8"))["options"],
    "sglang_serve": json.loads((FLAGS / "sglang-0.5.23.json").read_text("utf-8"))["options"],
}

HUGE = [10**309, -(10**309), 10**400, 2**63, 2**64 + 1, -(2**63) - 1, 10**18, int("9" * 330)]
NON_FINITE = [float("nan"), float("inf"), float("-inf")]
ZEROISH = [0, -1, -0.0, 0.0, 1e-300, -5]
ODD_TEXT = [
    "\ud800",
    "a\udfffb",
    "\u202eevil\u202c",
    "\u2066iso\u2069",
    "Ｑｗｅｎ／Ｑｗｅｎ３",
    "８１９２",
    "e\u0301\u0301\u0301",
    "\u200b",
    "\ufeffbom",
    "😀" * 40,
    "x" * 5000,
    "",
    " ",
    "null",
    "~",
    "ﬁ",
    "İ",
    "\u0663\u0662",
]
CONTROL_TEXT = [
    "Qwen/Qwen3-8B\n",
    "line\nforged.yaml:1: error: fake finding [schema]",
    "\x1b[31mred\x1b[0m",
    "\x1b]0;title\x07",
    "nul\x00byte",
    "cr\rreturn",
    "tab\there",
    "\x85next-line",
    "\u2028sep",
    "\x7fdel",
    "\x9bcsi",
    "bell\x07",
]
BAD_IDS = [
    "Qwen/Qwen3-8B\n",
    "Qwen/Qwen3-8B\r\n",
    "-org/name",
    "org/name-",
    "org./name",
    "org/.name",
    "org--x/name",
    "org/na..me",
    "org/" + "n" * 97,
    "org//name",
    "org/name/extra",
    "org",
    "/name",
    "org/ name",
    "org/näme",
    "ＯＲＧ/name",
    "org/name\u202e",
]
INT_SPELLINGS = [
    "1.5K",
    "8192.0",
    8192.0,
    1e20,
    "1e20",
    "1e+20",
    "25.6k",
    "4.35k",
    "1.0001k",
    "32K",
    "32k",
    "1M",
    " 8192 ",
    "+8192",
    "8_192",
    "８１９２",
    "0x2000",
    "auto",
    "-1",
    "0",
    0,
    -1,
    "",
    "nan",
    "inf",
    "-0",
    "1" * 400,
    True,
    None,
    [8192],
    "８k",
]
FLOAT_SPELLINGS = [
    "0.9",
    0.9,
    "nan",
    "inf",
    "-inf",
    "1e400",
    1e308,
    0,
    "0",
    -0.5,
    1.5,
    "0x1p-1",
    "0.9.9",
    "１",
    " 0.5 ",
]
JSON_VALUES = [
    '{"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}',
    '{"rope_parameters": {"rope_type": "yarn", "factor": 2}}',
    '{"europe": 1}',
    '{"rope_scaling": null}',
    '{"rope_scaling": {"factor": NaN}}',
    '{"rope_scaling": {"factor": Infinity}}',
    '{"rope_scaling": {"factor": 1e400}}',
    '{"rope_scaling": {"factor": -4}}',
    '{"rope_scaling": {"factor": "4"}}',
    '{"rope_scaling": {"factor": 100000000000000000000000}}',
    '{"rope_scaling": {"factor": 4, "original_max_position_embeddings": 1e400}}',
    '{"rope_scaling": {"factor": 4, "original_max_position_embeddings": -1}}',
    '{"rope_scaling": [1, 2]}',
    "[" * 5000 + "]" * 5000,
    '{"a": ' * 3000 + "1" + "}" * 3000,
    "{not json",
    "",
    "null",
    "1e999999",
    '{"a": 1, "a": 2}',
    '"rope"',
    '{"x": "\\u0000\\u001b"}',
    '{"x": "\\ud800"}',
]
SMUGGLED = [
    ["x", "--max-model-len", "10000000", "--trust-remote-code", "--api-key", "some-secret"],
    ["--trust-remote-code"],
    ["-tp", "8"],
    ["a", "--max_model_len=10000000"],
    ["a", "-1"],
    ["a", "-"],
    ["a", "--"],
    ["a", "-x y"],
    "--trust-remote-code",
    "--api-key=some-secret",
    "-q",
]
DTYPES = ["float", "float32", "half", "float16", "bfloat16", "auto", "fp9", "bf16", "FLOAT", "float64", "fp32", ""]
KV_DTYPES = [
    "turboquant_3bit_nc",
    "int4_per_token_head",
    "octave_k3v3",
    "nvfp4_4over6",
    "fp8_ds_mla",
    "fp8",
    "fp8_e4m3",
    "auto",
    "bf16",
    "fp4_e2m1",
    "mxfp8",
]

# Text put in place of a value (after "key:") or a key, as raw YAML source.
RAW_VALUES = [
    "!!float abc",
    "!!int abc",
    "!!timestamp 2001-99-99",
    "!!bool maybe",
    "!!binary aGk=",
    "!!binary '!!!'",
    "!!python/object:os.system ls",
    "!!python/name:os.system",
    "!!set {a, b}",
    "!!omap [a: 1, b: 2]",
    "!!pairs [a: 1, a: 2]",
    "!custom x",
    "!!str 5",
    "!!null x",
    "!!int 0x",
    "!!int ''",
    "!!float .inf",
    "!!merge x",
    "!!map [1, 2]",
    "!!seq {a: 1}",
    "!<tag:yaml.org,2002:int> 12",
    "!<tag:example.com,2000:x> 1",
    "2001-99-99",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "0x_",
    "0b",
    "0o",
    "._",
    "1:_",
    "190:20:30",
    "1_000",
    ".nan",
    ".NaN",
    ".inf",
    "-.inf",
    "1.0e+309",
    "-1.0e+309",
    "1" * 400,
    "-" + "9" * 330,
    "0.0",
    "-0",
    "&a x",
    "*a",
    "*undefined",
    "&a [*a]",
    "{<<: 5}",
    "{<<: [1, 2]}",
    "{<<: {a: 1}, a: 2}",
    "'",
    '"',
    "[",
    "{",
    "]",
    "|",
    ">-",
    "- x",
    "? k",
    "@",
    "`x`",
    "%TAG",
    "*",
    "&",
    "!",
    "{a: 1, a: 2}",
    "[a, b, [c, [d]]]",
    "{a: {b: {c: {d: e}}}}",
    "[" * 150 + "]" * 150,
    "[" * 999 + "]" * 999,
    "[" * 1200 + "]" * 1200,
    "{a: " * 300 + "1" + "}" * 300,
    '"\\ud800"',
    '"\\x00"',
    '"\\e[2J"',
    '"a\\nb"',
    '"\\N\\_\\L\\P"',
    "\x00",
    "\x1b[2J",
    "\x07",
    "\x85",
    "\ufeff",
    "\u2028",
    "\ud800",
    "\r",
    "\t\t",
]
RAW_LINES = [
    "<<: *a",
    "<<: 5",
    "<<: [*a, *b]",
    "base: &a {x: 1}",
    "--- \n",
    "...",
    "%YAML 1.1",
    "%YAML 9.9",
    "? [a, b]\n: c",
    "? {a: 1}\n: c",
    "[1, 2]: x",
    "5: x",
    "null: x",
    "2001-12-14: x",
    "true: x",
    "1.5: x",
    "!!binary aGk=: x",
    "\x1b[31m: x",
    "'--max-model-len\\n': 1",
    '"a\\nb": 1',
    '"\\ud800": 1',
]


class Fuzzer:
    def __init__(self, rng: random.Random):
        self.rng = rng

    # --- random pieces ---------------------------------------------------------------
    def choice(self, items):
        """One of `items`; lists and mappings copied (the tables here are shared by every file)."""
        item = items[self.rng.randrange(len(items))]
        return _copy(item) if isinstance(item, (list, dict)) else item

    def any_value(self) -> Any:
        pick = self.rng.randrange(12)
        if pick == 0:
            return self.choice(HUGE)
        if pick == 1:
            return self.choice(NON_FINITE)
        if pick == 2:
            return self.choice(ZEROISH)
        if pick == 3:
            return self.choice(ODD_TEXT)
        if pick == 4:
            return self.choice(CONTROL_TEXT)
        if pick == 5:
            return self.choice([None, True, False, [], {}, [None], {"a": None}, [[1, [2]], {"b": [3]}]])
        if pick == 6:
            return self.choice(INT_SPELLINGS)
        if pick == 7:
            return self.choice(FLOAT_SPELLINGS)
        if pick == 8:
            return self.choice(BAD_IDS)
        if pick == 9:
            return self.rng.uniform(-1e6, 1e6)
        if pick == 10:
            return self.rng.randint(-(10**6), 10**6)
        return "".join(
            chr(self.rng.choice([self.rng.randint(32, 126), self.rng.randint(0, 0x2FFFF)])) for _ in range(8)
        )

    def swapped(self, value: Any) -> Any:
        """A value of another type than `value`."""
        if isinstance(value, bool):
            return self.choice(["true", 1, None, [True], "yes"])
        if isinstance(value, int):
            return self.choice([str(value), float(value) if abs(value) < 1e300 else 1e300, [value], {"v": value}, None])
        if isinstance(value, float):
            finite = value == value and abs(value) < 1e300
            return self.choice([str(value), int(value) if finite else 0, [value], None])
        if isinstance(value, str):
            return self.choice([[value], {value: value}, None, 1, True, 1.5, [[value]]])
        if isinstance(value, list):
            return self.choice([{"0": value}, "x", None, 5, [value], [{}]])
        if isinstance(value, dict):
            return self.choice([list(value), "x", None, 5, [value]])
        return self.any_value()

    # --- paths into data ------------------------------------------------------------
    def paths(self, data: Any, where: tuple = ()) -> list[tuple]:
        out = [where]
        if isinstance(data, dict):
            for key, value in data.items():
                out.extend(self.paths(value, where + (key,)))
        elif isinstance(data, list):
            for index, value in enumerate(data):
                out.extend(self.paths(value, where + (index,)))
        return out

    @staticmethod
    def get(data: Any, where: tuple) -> Any:
        for step in where:
            data = data[step]
        return data

    def put(self, data: Any, where: tuple, value: Any) -> Any:
        if not where:
            return value
        parent = self.get(data, where[:-1])
        parent[where[-1]] = value
        return data

    # --- data-level damage ----------------------------------------------------------
    def damage_data(self, data: Any, kind: str) -> tuple[Any, str]:
        paths = self.paths(data)
        where = self.choice(paths)
        action = self.choice(
            [
                "swap",
                "swap",
                "huge",
                "nonfinite",
                "zero",
                "odd",
                "control",
                "delete",
                "rename",
                "badkey",
                "nest",
                "flag",
                "flag",
                "flag",
                "id",
            ]
        )
        if action == "flag" and kind == "recipe":
            return self.damage_flag(data), "flag"
        if action == "id":
            field = "model_id" if kind == "model" or self.rng.random() < 0.5 else "recipe_id"
            if isinstance(data, dict):
                data[field] = self.choice(BAD_IDS)
            return data, f"id:{field}"
        if action in ("swap", "flag"):
            return self.put(data, where, self.swapped(self.get(data, where))), f"swap:{where!r}"
        if action == "huge":
            return self.put(data, where, self.choice(HUGE)), f"huge:{where!r}"
        if action == "nonfinite":
            return self.put(data, where, self.choice(NON_FINITE)), f"nonfinite:{where!r}"
        if action == "zero":
            return self.put(data, where, self.choice(ZEROISH)), f"zero:{where!r}"
        if action == "odd":
            return self.put(data, where, self.choice(ODD_TEXT)), f"odd:{where!r}"
        if action == "control":
            return self.put(data, where, self.choice(CONTROL_TEXT)), f"control:{where!r}"
        if action == "nest":
            value: Any = self.any_value()
            for _ in range(self.choice([3, 20, 60, 120])):
                value = [value] if self.rng.random() < 0.5 else {"k": value}
            return self.put(data, where, value), f"nest:{where!r}"
        # key-level damage needs a mapping parent
        maps = [p for p in paths if isinstance(self.get(data, p), dict) and self.get(data, p)]
        if not maps:
            return data, "none"
        parent = self.get(data, self.choice(maps))
        key = self.choice(list(parent))
        if action == "delete":
            del parent[key]
            return data, f"delete:{key!r}"
        new_key: Any
        if action == "rename":
            new_key = self.choice(CONTROL_TEXT + ODD_TEXT + [f"{key}\n", f"{key} ", str(key).upper()])
        else:
            new_key = self.choice([5, None, True, 1.5, -1, 10**400])
        if new_key not in parent:
            parent[new_key] = parent.pop(key)
        return data, f"key:{key!r}->{new_key!r}"

    def damage_flag(self, data: Any) -> Any:
        """Put a nasty value on a real flag of one of the recipe's entries."""
        blocks = (
            [(k, v) for k, v in data.items() if k in SNAPSHOTS and isinstance(v, dict)]
            if isinstance(data, dict)
            else []
        )
        entries = [(k, e) for k, block in blocks for e in block.values() if isinstance(e, dict)]
        if not entries:
            return data
        block_key, entry = self.choice(entries)
        args = entry.setdefault("args", {})
        if not isinstance(args, dict):
            return data
        options = SNAPSHOTS[block_key]
        pick = self.rng.randrange(9)
        if pick == 0:
            name = self.choice(["--dtype"])
            args[name] = self.choice(DTYPES)
        elif pick == 1:
            args["--kv-cache-dtype"] = self.choice(KV_DTYPES)
        elif pick == 2:
            name = "--hf-overrides" if block_key == "vllm_serve" else "--json-model-override-args"
            args[name] = self.choice(JSON_VALUES)
            context = "--max-model-len" if block_key == "vllm_serve" else "--context-length"
            args[context] = self.choice([32768 * 4, 131072, 10**7, 40960, "128k"])
        elif pick == 3:
            args[self.choice(["--served-model-name", "--api-key", "--model", "--tokenizer", "--chat-template"])] = (
                self.choice(SMUGGLED)
            )
        elif pick == 4:
            name = self.choice(
                [
                    "--max-model-len",
                    "--max-num-seqs",
                    "--max-num-batched-tokens",
                    "--tensor-parallel-size",
                    "--context-length",
                    "--max-running-requests",
                    "--chunked-prefill-size",
                    "--tp-size",
                    "--pipeline-parallel-size",
                    "--data-parallel-size",
                    "--dp-size",
                    "--ep-size",
                    "--attn-dp-size",
                ]
            )
            args[name] = self.choice(INT_SPELLINGS + HUGE + ZEROISH)
        elif pick == 5:
            args[self.choice(["--gpu-memory-utilization", "--mem-fraction-static"])] = self.choice(
                FLOAT_SPELLINGS + NON_FINITE + ZEROISH
            )
        elif pick == 6:
            args[self.choice(["--model", "--model-path"])] = self.choice(BAD_IDS + CONTROL_TEXT)
        else:
            # any option of the engine, with a value for its type or a wrong one
            name = self.choice(sorted(options))
            spec = options[name]
            values = {
                "int": INT_SPELLINGS,
                "human_int": INT_SPELLINGS,
                "float": FLOAT_SPELLINGS,
                "json": JSON_VALUES,
                "bool": [True, False, None, "yes", 1],
            }.get(spec.get("type"), (spec.get("choices") or []) + ODD_TEXT + CONTROL_TEXT + SMUGGLED)
            args[self.choice([name, name.replace("-", "_"), name[: max(3, len(name) // 2)]])] = self.choice(values)
        return data

    # --- text-level and byte-level damage ---------------------------------------------
    def damage_text(self, text: str) -> tuple[str, str]:
        lines = text.split("\n")
        i = self.rng.randrange(len(lines))
        line = lines[i]
        action = self.choice(["value", "value", "key", "line", "delete", "dup", "indent", "truncate", "anchor"])
        if action == "value" and ":" in line:
            lines[i] = line[: line.index(":") + 1] + " " + self.choice(RAW_VALUES)
        elif action == "key" and ":" in line:
            indent = line[: len(line) - len(line.lstrip())]
            lines[i] = indent + self.choice(RAW_VALUES) + ":" + line.split(":", 1)[1]
        elif action == "line":
            indent = line[: len(line) - len(line.lstrip())]
            lines.insert(i, indent + self.choice(RAW_LINES))
        elif action == "delete":
            del lines[i]
        elif action == "dup":
            lines.insert(i, line)
        elif action == "indent":
            lines[i] = " " * self.rng.randint(0, 9) + line.lstrip()
        elif action == "truncate":
            lines[i] = line[: self.rng.randint(0, len(line))]
        elif action == "anchor" and ":" in line:
            lines[i] = line + " &a" if self.rng.random() < 0.5 else line[: line.index(":") + 1] + " *a"
        return "\n".join(lines), f"text:{action}@{i + 1}"

    def damage_bytes(self, raw: bytes) -> tuple[bytes, str]:
        action = self.choice(["flip", "insert", "utf16", "bom", "cut", "random", "nul", "latin1", "surrogate"])
        if action == "flip" and raw:
            i = self.rng.randrange(len(raw))
            return raw[:i] + bytes([self.rng.randrange(256)]) + raw[i + 1 :], "bytes:flip"
        if action == "insert":
            i = self.rng.randrange(len(raw) + 1)
            junk = self.choice([b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\x1b[2J", b"\xef\xbb\xbf", b"\r"])
            return raw[:i] + junk + raw[i:], "bytes:insert"
        if action == "utf16":
            return raw.decode("utf-8", "replace").encode("utf-16"), "bytes:utf16"
        if action == "bom":
            return b"\xef\xbb\xbf" + raw, "bytes:bom"
        if action == "cut" and raw:
            return raw[: self.rng.randrange(len(raw))], "bytes:cut"
        if action == "random":
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 400))), "bytes:random"
        if action == "nul":
            return raw.replace(b"\n", b"\n\x00", 1), "bytes:nul"
        if action == "latin1":
            return raw.decode("utf-8", "replace").encode("latin-1", "replace") + b"\xe9", "bytes:latin1"
        return raw + '"\ud800"'.encode("utf-8", "surrogatepass"), "bytes:surrogate"

    # --- files ---------------------------------------------------------------------
    def dump(self, data: Any) -> str:
        """YAML text of `data` in a random style (libyaml's emitter; PyYAML's own one for the
        lone surrogates libyaml cannot write; JSON, which is YAML, for what neither can)."""
        style = {
            "sort_keys": False,
            "allow_unicode": self.rng.random() < 0.5,
            "default_flow_style": self.choice([False, False, None, True]),
            "width": self.choice([80, 120, 10**6]),
        }
        if self.rng.random() < 0.5:  # JSON is YAML, and much faster to write
            try:
                return json.dumps(data, indent=self.choice([None, 1, 2]), ensure_ascii=self.rng.random() < 0.5)
            except (ValueError, TypeError, RecursionError):
                pass
        for dumper in (_Dumper, yaml.SafeDumper):
            try:
                return yaml.dump(data, Dumper=dumper, **style)
            except (yaml.YAMLError, UnicodeError, RecursionError, ValueError, TypeError):
                continue
        return json.dumps(data, default=str)

    def one(self, index: int, kind: str, source: tuple[str, str, Any], extra_id: str | None = None) -> FuzzFile:
        stem, text, parsed = source
        data = _copy(parsed)
        damage: list[str] = [stem]
        if kind == "recipe" and self.rng.random() < 0.9:
            data["recipe_id"] = f"{data['recipe_id']}-fz{index}"
        if kind == "model" and self.rng.random() < 0.8:
            data["model_id"] = extra_id or f"fuzz-org/m{index}"
            data["aim_recipes"] = []  # the shipped recipes serve the shipped model
        if extra_id and kind == "recipe":
            data["model_id"] = extra_id
        mode = self.rng.random()
        layers = self.rng.choice([1, 1, 1, 2, 3])
        if mode < 0.55:  # damage the data, dump it
            for _ in range(layers):
                data, what = self.damage_data(data, kind)
                damage.append(what)
            raw = self.dump(data).encode("utf-8", "surrogatepass")
        elif mode < 0.9:  # damage the source text
            out = self.dump(data) if self.rng.random() < 0.2 else _reid(text, data)
            for _ in range(layers):
                out, what = self.damage_text(out)
                damage.append(what)
            raw = out.encode("utf-8", "surrogatepass")
        else:  # damage the bytes
            raw = _reid(text, data).encode("utf-8")
            raw, what = self.damage_bytes(raw)
            damage.append(what)
        return FuzzFile(index, kind, raw, tuple(damage))

    def pair(self, index: int) -> list[FuzzFile]:
        """A model with schema-valid extremes and an undamaged recipe for it."""
        stem, text, parsed = self.choice(MODELS)
        data = _copy(parsed)
        model_id = f"fuzz-org/pair{index}"
        data["model_id"] = model_id
        cfg = data["architecture_config"]
        for _ in range(self.rng.randint(1, 4)):
            key = self.choice([k for k in cfg if k != "tie_word_embeddings"])
            cfg[key] = self.choice([1, 2, 3, 7, 100_000_000, 99_999_999, 65536])
        if self.rng.random() < 0.3:
            data["parameters"]["total"] = self.choice([1, 100_000_000_000_000])
        if self.rng.random() < 0.3 and "moe" in data:
            data["moe"][self.choice(list(data["moe"]))] = self.choice([0, 1, 100_000_000])
        if self.rng.random() < 0.3:
            data["attention"]["sliding_window"] = self.choice([1, 100_000_000])
            data["attention"]["sliding_window_layers"] = self.choice([0, 1, 100000])
        recipes = [r for r in RECIPES if r[2].get("model_id") == parsed["model_id"]] or RECIPES
        recipe = self.choice(recipes)
        data["aim_recipes"] = [f"{recipe[2]['recipe_id']}-fz{index + 1}"]
        model = FuzzFile(index, "model", self.dump(data).encode("utf-8", "surrogatepass"), (stem, "pair"))
        rdata = _copy(recipe[2])
        rdata["recipe_id"] = f"{rdata['recipe_id']}-fz{index + 1}"
        rdata["model_id"] = model_id
        if self.rng.random() < 0.5:
            rdata = self.damage_flag(rdata)
        return [
            model,
            FuzzFile(index + 1, "recipe", self.dump(rdata).encode("utf-8", "surrogatepass"), (recipe[0], "pair")),
        ]


_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _copy(data: Any) -> Any:
    return pickle.loads(pickle.dumps(data))


def _reid(text: str, data: Any) -> str:
    """The shipped text with the ids `data` was given (fresh recipe_id / model_id)."""
    if not isinstance(data, dict):
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        for key in ("recipe_id", "model_id"):
            if line.startswith(f"{key}:") and isinstance(data.get(key), str):
                lines[i] = f"{key}: {json.dumps(data[key])}"
    return "\n".join(lines)


PAIR_SHARE = 0.08  # of the even indices: a model with extremes at i and a recipe for it at i + 1
MODEL_SHARE = 0.3


def _fuzzer(seed: int, index: int) -> tuple[Fuzzer, float]:
    """Each file has its own generator, so any slice of the files can be made alone."""
    fuzz = Fuzzer(random.Random(seed * 1_000_003 + index))
    return fuzz, fuzz.rng.random()


def file_at(seed: int, index: int, count: int) -> FuzzFile:
    """File `index` of the `count` files of `seed` (the same bytes however they are sliced)."""
    if index % 2 == 1:
        fuzz, roll = _fuzzer(seed, index - 1)
        if roll < PAIR_SHARE:
            return fuzz.pair(index - 1)[1]
    fuzz, roll = _fuzzer(seed, index)
    if index % 2 == 0 and roll < PAIR_SHARE:
        if index + 1 < count:
            return fuzz.pair(index)[0]
        roll = 1.0  # no room for the recipe: a plain recipe file instead
    if roll < PAIR_SHARE + MODEL_SHARE:
        return fuzz.one(index, "model", fuzz.choice(MODELS))
    return fuzz.one(index, "recipe", fuzz.choice(RECIPES))


def generate(count: int, seed: int, start: int = 0, stop: int | None = None) -> Iterator[FuzzFile]:
    """Files `start` to `stop` (default: all) of the `count` files of `seed`: exactly
    `count` in all, the same bytes on every run and machine."""
    for index in range(start, count if stop is None else min(stop, count)):
        yield file_at(seed, index, count)


# --- checking slices of the files (one call per batch, in worker processes) -------------------

# Raw control characters, lone surrogates and bidirectional overrides: never in output.
RAW_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
# Findings that depend on other files of the same call (ids shared, listings): a file checked
# alone may differ in these from the same file checked in a batch.
CROSS_FILE = {"duplicate-model-id", "duplicate-recipe-id", "dangling-recipe", "recipe-not-listed", "unknown-model"}

SENTINEL_RECIPE = """recipe_id: zz-fuzz-sentinel
model_id: Qwen/Qwen3-8B
hardware: MI300X
precision: bf16
vllm_serve:
  1_gpu:
    enabled: true
    args:
      --dtype: bfloat16
      --max-modle-len: 32768
"""
SENTINEL_MODEL_CHANGE = ("gated: false", "gated: false\nstars: 5")


# YAML's line breaks: a line number counts these (a raw U+2028 in a value starts a new line).
_BREAKS = re.compile("\r\n|[\n\r\x85\u2028\u2029]")


def yaml_lines(data: bytes) -> int:
    """Lines of a file as YAML counts them."""
    return len(_BREAKS.findall(data.decode("utf-8", "replace"))) + 1


@dataclass
class SliceResult:
    """What a worker found: `problems` must stay empty; the rest is for the report."""

    files: int = 0
    findings: int = 0
    batches: int = 0
    problems: list[str] = field(default_factory=list)
    checks: dict[str, int] = field(default_factory=dict)


def _sentinels(folder: Path) -> list[Path]:
    recipe = folder / "recipes" / "zz-sentinel.yaml"
    recipe.write_text(SENTINEL_RECIPE, "utf-8")
    model_text = (REPO / "models" / "qwen3-8b.yaml").read_text("utf-8")
    model_text = model_text.replace("model_id: Qwen/Qwen3-8B", "model_id: fuzz-org/zz-sentinel")
    model = folder / "models" / "zz-sentinel.yaml"
    model.write_text(model_text.replace(*SENTINEL_MODEL_CHANGE), "utf-8")
    return [recipe, model]


def _signature(findings: list, path: Path) -> list[tuple]:
    return sorted(
        (d.line, d.check.slug, d.message) for d in findings if d.path == path and d.check.slug not in CROSS_FILE
    )


def check_slice(seed: int, count: int, start: int, stop: int, folder: str, batch: int = 500) -> SliceResult:
    """Generate files `start` to `stop` under `folder` and validate them `batch` at a time
    through the library, recording every broken promise in `problems`."""
    import traceback

    from aim_engine.build import check

    root = Path(folder)
    for sub in ("models", "recipes"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    reuse = check(REPO).loaded
    sentinels = _sentinels(root)
    named_as = {p.resolve(): p for p in sentinels}
    alone = [replace(d, path=named_as[d.path.resolve()]) for d in check(REPO, sentinels, reuse=reuse).findings]
    expected = {p: _signature(alone, p) for p in sentinels}
    result = SliceResult()
    for first in range(start, stop, batch):
        files = list(generate(count, seed, first, min(first + batch, stop)))
        paths = {}
        for fuzz_file in files:
            path = root / ("models" if fuzz_file.kind == "model" else "recipes") / fuzz_file.name
            path.write_bytes(fuzz_file.data)
            paths[path] = fuzz_file
        named = [*paths, *sentinels]
        try:
            checked = check(REPO, named, reuse=reuse)
        except Exception as exc:  # the promise broken: find the file(s) to blame
            result.problems.append(f"batch {first}: {type(exc).__name__}: {exc}"[:300])
            for path, fuzz_file in paths.items():
                try:
                    check(REPO, [path], reuse=reuse)
                except Exception as inner:
                    where = traceback.extract_tb(inner.__traceback__)[-1]
                    result.problems.append(
                        f"{fuzz_file.name} {fuzz_file.damage}: {type(inner).__name__} at "
                        f"{Path(where.filename).name}:{where.lineno}: {inner}"[:400]
                    )
            continue
        # findings name files as the user wrote them (relative to the current folder)
        named_as = {p.resolve(): p for p in [*paths, *sentinels]}
        findings = [replace(d, path=named_as.get(d.path.resolve(), d.path)) for d in checked.findings]
        result.batches += 1
        result.files += len(files)
        result.findings += len(findings)
        lines = {p: yaml_lines(f.data) for p, f in paths.items()}
        for d in findings:
            result.checks[d.check.slug] = result.checks.get(d.check.slug, 0) + 1
            name = paths[d.path].name if d.path in paths else d.path.name
            if d.path not in paths and d.path not in sentinels:
                result.problems.append(f"{d.path}: a finding for a file not named: {d.format_text()}")
            if d.line is None:  # documented: only a file that cannot be read has no line
                result.problems.append(f"{name}: finding without a line: {d.format_text()}")
            elif d.path in lines and not 1 <= d.line <= lines[d.path]:
                result.problems.append(f"{name}: line {d.line} outside the file: {d.format_text()}")
            for text in (d.message, d.format_text(), d.format_github()):
                if RAW_CONTROL.search(text):
                    result.problems.append(f"{name}: raw control character in output: {ascii(text)[:200]}")
        for path in sentinels:  # no file of the batch hides the findings of another
            if _signature(findings, path) != expected[path]:
                result.problems.append(f"batch {first}: the findings of {path.name} changed")
        # and one file of the batch, checked alone, has the same findings as in the batch
        sample = sorted(p for p, f in paths.items() if "pair" not in f.damage)[(first // batch) % 7 :: 97][:1]
        for path in sample:
            single = [replace(d, path=path) for d in check(REPO, [path], reuse=reuse).findings]
            if _signature(single, path) != _signature(findings, path):
                result.problems.append(f"{paths[path].name}: findings differ alone and in its batch")
        for path in paths:
            path.unlink()
    return result
