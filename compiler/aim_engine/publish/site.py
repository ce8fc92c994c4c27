"""The catalogue site: Markdown pages generated from the published JSON API with the
Jinja2 templates in templates/site/, plus the hand-written pages and assets in site/,
built by Material for MkDocs into build/site/.

Pages read the API files (not the planner), so a command shown on a page is the very
string published as `docker_command`.

Model and recipe files are untrusted (they arrive by pull request), so every value from
data is escaped for where it lands, by construction:

- Page bodies. The templates' `finalize` writes every `{{ value }}` through `inert`
  (character references for HTML and Markdown alike: Material's tabs run Markdown over
  nested HTML), in text and attributes alike. Only the filters below return `Markup`, each
  for one destination; Jinja2's own Markup-making filters (`safe`, `tojson`, `e`, ...) are
  removed from the environment. Character references are not decoded in code spans, so
  data in code is written as `<code>` elements, never between backticks.
- Nav titles, page titles and descriptions. Material writes them into the page verbatim
  (they are HTML to MkDocs: a title taken from a heading is escaped HTML), in the nav,
  the header, `<title>`, `<meta>` and the search index, whose results Material inserts as
  HTML. `html_text` escapes them at their source: `nav()` and the front matter
  (`front_matter`). overrides/main.html re-escapes `<title>`, where Material's `striptags`
  decodes the references again.
- Inline JSON in a `<script>` element: `script_json` (no `<`, `>`, `&`, U+2028/9 left).
"""

from __future__ import annotations

import html
import json
import re
import shlex
import shutil
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from aim_engine.catalogue.load import PRECISIONS, load_engines, schema
from aim_engine.checks.diagnostics import Check
from aim_engine.planning import policy
from aim_engine.planning.planner import Reason
from aim_engine.publish.svg import ChartSeries, concurrency_chart, memory_bar
from aim_pick.contract import listing
from aim_pick.contract.units import gib

SITE_SOURCE = Path(str(resources.files("aim_engine.publish") / "mkdocs"))
TEMPLATES = Path(str(resources.files("aim_engine.publish") / "templates" / "site"))
MATRIX_COUNTS = tuple(range(1, 9))
# The support matrix's words (api-model.schema.json #/$defs/matrixCell), as the site shows them.
STATUS_TEXT = {
    "tuned": "tuned",
    "derived": "derived",
    "generic": "generic",
    "tight": "tight",
    "does-not-fit": "does not fit",
    "not-supported": "not supported",
}
STATUS_LEGEND = {
    "tuned": "a recipe written for this GPU type, checked against the pinned engine and its memory",
    "derived": "a sibling GPU's recipe (same architecture), re-checked against this GPU's memory",
    "generic": "no recipe: the plan is built from the model and engine data alone, with the safe defaults",
    "tight": "fits, but with less room than the headroom for concurrent requests; a warning says so",
    "does-not-fit": "plans exist in principle, but none fits in this many GPUs",
    "not-supported": "the GPU or the pinned engines cannot run any precision of this model",
}
# What a matrix cell shows: the page answers "what do I get with n GPUs", lowest latency first.
MATRIX_KEY = "{n}/exact/auto/auto/latency"

# Characters Markdown (with the extensions in site/mkdocs.yml) gives a meaning to,
# written as numeric character references so they render as themselves.
_MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]()#+\-.!|~^=:<>&\"'$%@]")
# Jinja2 filters that return Markup without the Markdown escaping: not offered to templates.
_UNSAFE_FILTERS = ("safe", "tojson", "e", "escape", "forceescape", "xmlattr", "urlize")


def inert(value: Any) -> Markup:
    """Text that renders as itself in HTML and in Markdown, on one line."""
    text = "" if value is None else str(value)
    escaped = _MARKDOWN_SPECIAL.sub(lambda m: f"&#{ord(m.group(0))};", text)
    return Markup(escaped.replace("\r\n", "\n").replace("\n", "<br>"))


def html_text(value: Any) -> str:
    """Text as HTML, for the values MkDocs and Material treat as HTML: nav and page titles."""
    return html.escape("" if value is None else str(value), quote=True)


def front_matter(value: Any) -> Markup:
    """A YAML front matter scalar (a JSON string, ASCII only) holding `html_text(value)`."""
    return Markup(json.dumps(html_text(value), ensure_ascii=True))


def script_json(value: Any) -> Markup:
    """JSON to inline in a <script> element: `</script>`, `<!--` and U+2028/9 cannot occur."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return Markup(text)


def fence(text: str) -> Markup:
    """A backtick fence longer than any run of backticks inside `text`."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return Markup("`" * max(3, longest + 1))


def literal_block(text: str, width: int) -> Markup:
    """The body of a fenced code block opened with `fence(text)` at `width` spaces: the
    highlighter escapes it, so it is written as is, each further line indented too."""
    return Markup(("\n" + " " * width).join(str(text).split("\n")))


def inert_lines(text: str, width: int) -> Markup:
    """Text for a <pre> element inside Markdown indented by `width` spaces: each line inert,
    the lines kept apart by newlines (not <br>, which the text of the element would lose) and
    indented so the Markdown block around them goes on."""
    return Markup(("\n" + " " * width).join(str(inert(line)) for line in str(text).split("\n")))


def _finalize(value: Any) -> Any:
    return value if isinstance(value, Markup) else inert(value)


def _environment(autoescape: bool, finalize: Any, filters: dict[str, Any]) -> jinja2.Environment:
    """A site Jinja2 environment: `finalize` writes every value no filter marked, the escape
    hatches (_UNSAFE_FILTERS) are removed, `filters` are the only ways to write a value otherwise."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=autoescape,
        finalize=finalize,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    for name in _UNSAFE_FILTERS:
        del env.filters[name]
    env.filters.update(filters)
    return env


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """HTML/Markdown pages: every {{ value }} that no filter below marked is written inert."""
    return _environment(
        True,
        _finalize,
        {
            "fence": fence,
            "literal_block": literal_block,
            "inert_lines": inert_lines,
            "front_matter": front_matter,
            "script_json": script_json,
            "gib": gib,
            "memory_bar": memory_bar,  # inline SVG (publish/svg.py escapes its text)
            "json_attr": lambda v: json.dumps(v, sort_keys=True),  # a str: written inert like any value
        },
    )


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


# Plain Markdown (llms.txt, the per-model .md pages) is read as text, by people and tools: a value
# is written with a backslash before each character Markdown gives a meaning to, on one line.
_PLAIN_SPECIAL = re.compile(r"[\\`*_{}\[\]<>#|!]")


def plain_text(value: Any) -> Markup:
    text = " ".join(("" if value is None else str(value)).split())
    return Markup(_PLAIN_SPECIAL.sub(lambda m: "\\" + m.group(0), text))


def _plain_finalize(value: Any) -> Any:
    return value if isinstance(value, Markup) else plain_text(value)


@lru_cache(maxsize=1)
def plain_environment() -> jinja2.Environment:
    """Plain Markdown (llms.txt, models/<slug>.md): every {{ value }} no filter marked is plain_text."""
    return _environment(False, _plain_finalize, {"fence": fence, "literal_block": literal_block, "gib": gib})


def render_plain(template: str, **context: Any) -> str:
    return plain_environment().get_template(template).render(**context)


class ApiView:
    """Read access to the published API files held in memory by the build."""

    CACHED = 1024

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self._parsed: OrderedDict[str, Any] = OrderedDict()
        self.index = self.json("api/index.json")

    def json(self, path: str) -> Any:
        """The parsed file, kept while the pages of one model read it again (its page, builder
        data and chart read the same files); callers do not change what they get."""
        if path in self._parsed:
            self._parsed.move_to_end(path)
            return self._parsed[path]
        value = self._parsed[path] = json.loads(self.files[path])
        if len(self._parsed) > self.CACHED:  # one model's files at a time: the API is ~100 MB of JSON
            self._parsed.popitem(last=False)
        return value

    @property
    def titles(self) -> dict[str, str]:
        """Engine name -> the name people know it by (vllm -> vLLM)."""
        return {name: engine["title"] for name, engine in self.index.get("engines", {}).items()}

    def model(self, slug: str) -> dict:
        return self.json(f"api/models/{slug}.json")

    def plan(self, plan_id: str) -> dict:
        return self.json(f"api/plans/{plan_id}.json")

    def lookup(self, hardware: str, slug: str) -> dict:
        return self.json(f"api/lookup/{hardware}/{slug}.json")


def fallback_path(lookup: dict, key: str, titles: dict[str, str]) -> list[dict]:
    """The steps the planner walked for `key`, up to and including the chosen one."""
    decision = lookup["decisions"][lookup["keys"][key]]
    steps = []
    for cid, verdict in decision["path"]:
        candidate = lookup["candidates"][cid]
        steps.append(
            {
                **candidate,
                "id": cid,
                "label": candidate_label(candidate, titles),
                "verdict": verdict,
                "reason": "chosen" if verdict == "chosen" else candidate["reason"],
            }
        )
        if verdict == "chosen":
            break
    return steps


def command_lines(argv: list[str], image: str) -> list[str]:
    """The docker command cut into lines for reading: one option (with its value) a line, the
    image and what follows it on a line of their own. Joined with single spaces the lines are
    exactly `shlex.join(argv)`, the published `docker_command`."""
    groups: list[list[str]] = [[]]
    for word in argv:
        if groups[-1] and (word.startswith("-") or word == image):
            groups.append([])
        groups[-1].append(word)
    return [shlex.join(group) for group in groups]


def display_command(plan: dict) -> str:
    """The command as shown: its lines joined by shell line continuations."""
    return " \\\n    ".join(command_lines(plan["docker_argv"], plan["image"]))


# A GPU type names a file of the site; the index's names are plain, so anything else is refused.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def candidate_label(candidate: dict, titles: dict[str, str]) -> str:
    """A candidate of a lookup file named as a person reads it: engine, precision, GPUs, source."""
    engine = titles.get(candidate["backend"], candidate["backend"])
    gpus = candidate["gpus"]
    head = f"{engine} {candidate['precision']} on {gpus} GPU{'s' if gpus != 1 else ''}"
    if candidate.get("source") == "generic":
        return f"{head}, generic plan"
    if candidate.get("recipe"):
        origin = f", from the {candidate['source_hardware']} recipe" if candidate.get("derived") else ""
        return f"{head}, recipe {candidate['recipe']}{origin}"
    return f"{head}, no recipe"


@dataclass(frozen=True)
class ServingOption:
    """A serving option a model may offer (its per-engine serving facts): the serving-facts key
    (also the engine data's generic flag name), what the builder calls it, its URL field."""

    key: str
    label: str
    field: str


SERVING_OPTIONS = (
    ServingOption("reasoning_parser", "reasoning", "reasoning"),
    ServingOption("tool_call_parser", "tool calling", "tools"),
)


def flag_value(argv: list[str], flag: str) -> str | None:
    """The value `flag` has in `argv` (`--flag value` or `--flag=value`), or None."""
    for i, word in enumerate(argv):
        if word == flag and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith(flag + "="):
            return word[len(flag) + 1 :]
    return None


def serving_options(model: dict, plan: dict) -> list[dict]:
    """Which of the model's serving options (reasoning, tool calling) the plan's command turns
    on, and how the builder turns each on or off: the command lines to add (the engine's own
    spelling, from its engine data, checked against its flag snapshot) or the flags whose lines
    to drop."""
    engine = load_engines().get(plan["backend"])
    facts = (model.get("serving") or {}).get("engines", {}).get(plan["backend"], {})
    if engine is None:
        return []
    flags = engine.generic.get("flags", {})
    out = []
    for option in SERVING_OPTIONS:
        offered, flag = facts.get(option.key), flags.get(option.key)
        if not offered or not flag:
            continue
        used = flag_value(plan["container_argv"], flag)
        add = [shlex.join([flag, offered])]
        drop = [flag]
        if option.key == "tool_call_parser" and flags.get("tool_choice"):
            add.append(flags["tool_choice"])
            drop.append(flags["tool_choice"])
        out.append(
            {
                "option": option.label,
                "field": option.field,
                "value": used or offered,
                "on": used is not None,
                "flags": " ".join(add),
                "add": add,
                "drop": drop,
            }
        )
    return out


def offered_serving_options(model: dict) -> list[dict]:
    """The serving options the model offers on at least one engine, as the builder's choices."""
    engines = ((model.get("serving") or {}).get("engines") or {}).values()
    return [{"field": o.field, "label": o.label} for o in SERVING_OPTIONS if any(facts.get(o.key) for facts in engines)]


# The verdicts of a decision's path, written as their index here (a path has dozens of steps).
VERDICTS = ("chosen", "runnable", "rejected", "low-memory")


def builder_plan(api: ApiView, model: dict, plan_id: str, strings: dict[str, int]) -> dict:
    """What the command builder shows of one plan. Command lines are written as indexes into
    `strings` (the data file's string table): plans of one GPU type share most of them."""
    plan = api.plan(plan_id)
    # A multi-node plan has no single docker command: leader and worker scripts and Kubernetes.
    lines = command_lines(plan["docker_argv"], plan["image"]) if plan.get("docker_argv") else []
    if lines and " ".join(lines) != plan["docker_command"]:  # the copied line must be the published one
        raise ValueError(f"plan {plan_id}: docker_command is not the shell form of docker_argv")
    lines_at = [strings.setdefault(line, len(strings)) for line in lines]
    return {
        "id": plan_id,
        "status": plan["status"],
        "measured": plan["measured"],
        "tight": plan["tight"],
        "source": plan["source"],
        "derived_from": plan["derived_from"],
        "recipe": plan["recipe_id"] if plan["source"] != "generic" else None,
        "engine": f"{plan['engine']['title']} {plan['engine']['version']}",
        "precision": plan["precision"],
        "gpus": plan["gpu_count"],
        "replicas": plan["replicas"],
        "tp": plan["tensor_parallel_size"],
        "checkpoint": plan["checkpoint"],
        "lines": lines_at,
        "compose": plan["compose"],
        "k8s": plan["k8s"],
        "warnings": plan["warnings"],
        "summary": plan["summary"],
        "svg": str(memory_bar(plan["memory"], plan_id)),
        "serving": serving_options(model, plan),
        "nodes": plan.get("nodes", 1),
        "node_scripts": plan.get("node_scripts"),
    }


def builder_data(api: ApiView, model: dict, hw: str, precisions: list[str]) -> dict:
    """Everything the command builder needs for one model on one GPU type: the lookup keys, the
    decisions (the whole path the planner walked), the candidates on those paths (each with its
    plan when it runs), the plans, and why each precision of `precisions` this GPU does not
    offer is missing. A plan no key chooses is still reached as an alternative that runs."""
    lookup = api.lookup(hw, model["slug"])
    candidates: dict[str, int] = {}
    decisions: dict[str, int] = {}
    plans: dict[str, int] = {}
    strings: dict[str, int] = {}
    out: dict[str, Any] = {"hardware": hw, "precisions": lookup["precisions"], "keys": {}}
    out.update(decisions=[], candidates=[], plans=[])

    def plan_index(plan_id: str | None) -> int | None:
        if plan_id is None:
            return None
        if plan_id not in plans:
            plans[plan_id] = len(out["plans"])
            out["plans"].append(builder_plan(api, model, plan_id, strings))
        return plans[plan_id]

    for key, did in lookup["keys"].items():
        if did not in decisions:
            decision = lookup["decisions"][did]
            path = []
            for cid, verdict in decision["path"]:
                if cid not in candidates:
                    c = lookup["candidates"][cid]
                    candidates[cid] = len(out["candidates"])
                    out["candidates"].append(
                        {
                            "label": candidate_label(c, api.titles),
                            "reason": c["reason"],
                            "message": c["message"],
                            "plan": plan_index(c["plan"]),
                        }
                    )
                path.append([candidates[cid], VERDICTS.index(verdict)])
            decisions[did] = len(out["decisions"])
            out["decisions"].append(
                {
                    "plan": plan_index(decision["plan"]),
                    # nothing on one host serves the choice: the plan that does on several hosts
                    "multi_node": plan_index(decision.get("multi_node")),
                    "path": path,
                    "warnings": decision["warnings"],
                }
            )
        out["keys"][key] = decisions[did]
    out["strings"] = list(strings)  # insertion order: index i is the i-th line met
    out["not_offered"] = {
        p: listing.precision_not_offered(lookup, p, lookup["precisions"])["message"]
        for p in precisions
        if p not in lookup["precisions"]
    }
    return out


def builder_script(hw: str, data: dict) -> bytes:
    """The builder's data for one GPU type as a script file: it works from file:// too, where a
    page may not fetch JSON. `script_json` leaves no line terminator JavaScript would choke on."""
    return (
        "window.aimBuilderData = window.aimBuilderData || {};\n"
        f"window.aimBuilderData[{script_json(hw)}] = {script_json(data)};\n"
    ).encode()


def builder_default(model: dict) -> dict | None:
    """The builder's first view: the matrix's plan on the fewest GPUs of the first GPU type
    with a tuned plan (else any plan), as the static tabs show it."""
    best = None
    for hw, row in sorted(model["support_matrix"].items()):
        for n in MATRIX_COUNTS:
            cell = row[str(n)]
            if cell["plan"] and cell["gpu_count"] == n:
                if cell["status"] == "tuned":
                    return {"gpu": hw, "n": n}
                best = best or {"gpu": hw, "n": n}
                break
    return best


def builder_files(api: ApiView, model: dict) -> tuple[dict, dict[str, bytes]]:
    """(the builder's configuration inlined in the page, its data files by site path)."""
    slug = model["slug"]
    gpus = sorted(model["support_matrix"])
    lookups = {hw: api.lookup(hw, slug) for hw in gpus}
    precisions = sorted({p for lookup in lookups.values() for p in lookup["precisions"]}, key=PRECISIONS.index)
    keys = [key.split("/") for lookup in lookups.values() for key in lookup["keys"]]
    backends = sorted({key[3] for key in keys} - {"auto"})
    files, config_files = {}, {}
    for hw in gpus:
        if not _FILE_NAME.match(hw):
            raise ValueError(f"GPU type {hw!r} cannot name a file of the site")
        relative = f"{slug}.plans/{hw}.js"
        files[f"models/{relative}"] = builder_script(hw, builder_data(api, model, hw, precisions))
        config_files[hw] = relative
    reasons = {r.code: r.sentence for r in Reason}
    reasons["precision-not-offered"] = PRECISION_NOT_OFFERED
    config = {
        "gpus": gpus,
        "counts": sorted({int(key[0]) for key in keys}),
        "verdicts": VERDICTS,
        "files": config_files,
        "precisions": precisions,
        "backends": backends,
        "engines": {b: api.titles.get(b, b) for b in backends},
        "default": builder_default(model),
        "serving": offered_serving_options(model),
        "reasons": reasons,
        "status": STATUS_TEXT,
    }
    return config, files


PRECISION_NOT_OFFERED = "No checkpoint, variant or recipe of the model offers the requested precision on this GPU."


def chart_series(api: ApiView, model: dict) -> list[ChartSeries]:
    """Per GPU type, the matrix's plan on the fewest GPUs: the smallest deployment that serves it."""
    out = []
    for hw, row in sorted(model["support_matrix"].items()):
        cell = next((row[str(n)] for n in MATRIX_COUNTS if row[str(n)]["plan"]), None)
        if cell is None:
            continue
        memory = api.plan(cell["plan"])["memory"]
        out.append(
            ChartSeries(
                label=f"{hw} × {cell['gpu_count']}",
                kv_budget_bytes=int(memory.get("kv_budget_bytes_per_gpu") or 0),
                kv_bytes_per_token=int(memory.get("kv_bytes_per_token_per_gpu") or 0),
                longest_context=int(memory.get("max_model_len_that_fits") or 0),
            )
        )
    return out


@dataclass(frozen=True)
class ModelPage:
    markdown: str  # the page's source for MkDocs
    plain: str  # the plain-Markdown page published next to the HTML
    files: dict[str, bytes]  # further files of the site, by path: builder data, compose and k8s files


def model_page(api: ApiView, summary: dict) -> ModelPage:
    """One model's page, its plain-Markdown twin and the files they link to."""
    model = api.model(summary["slug"])
    hardware = api.index["hardware"]
    sections = []
    for hw, row in sorted(model["support_matrix"].items()):
        tabs = []
        lookup = None
        for n in MATRIX_COUNTS:
            cell = row[str(n)]
            # One tab per GPU count that has its own plan; counts that fall back to a
            # smaller plan say so in the matrix ("uses 4").
            if not cell["plan"] or cell["gpu_count"] != n:
                continue
            lookup = lookup or api.lookup(hw, model["slug"])
            plan = api.plan(cell["plan"])
            tabs.append(
                {
                    "n": n,
                    "cell": cell,
                    "plan": plan,
                    "command": display_command(plan),
                    "path": fallback_path(lookup, MATRIX_KEY.format(n=n), api.titles),
                }
            )
        if tabs:
            sections.append({"hardware": hardware[hw], "name": hw, "tabs": tabs})
    config, files = builder_files(api, model)
    series = chart_series(api, model)
    chart = concurrency_chart(series, model["architecture_config"]["max_position_embeddings"]) if series else None
    # a column per host count some GPU type needs ("2 × 8"): where one host cannot hold the model
    host_counts = sorted({int(nodes) for row in model["multi_node"].values() for nodes in row})
    text = render(
        "model.md.j2",
        model=model,
        matrix_hardware=sorted(model["support_matrix"]),
        counts=MATRIX_COUNTS,
        host_counts=host_counts,
        sections=sections,
        status_text=STATUS_TEXT,
        status_legend=STATUS_LEGEND,
        builder=config,
        chart=chart,
    )
    plain = render_plain("model.txt.j2", model=model, sections=sections, counts=MATRIX_COUNTS, status_text=STATUS_TEXT)
    return ModelPage(text, plain, files)


def natural_key(model: dict) -> tuple:
    """Family, then size (total parameters), then name: Qwen3-8B before Qwen3-14B before Qwen3-235B."""
    return (model["family"].casefold(), model["parameters"]["total"], model["name"].casefold(), model["model_id"])


# What a GPU type offers a model, best first: the catalogue says the best status any plan has there.
STATUS_RANK = ("tuned", "derived", "generic")


def catalogue_rows(api: ApiView) -> list[dict]:
    """One row per model, naturally sorted, with what the client-side filters need."""
    rows: list[dict[str, Any]] = []
    for summary in api.index["models"]:
        model = api.model(summary["slug"])
        # GPU type -> status -> fewest GPUs a plan of that status needs: with a GPU count chosen, the
        # filter shows the best status among the plans within it (a tuned TP8 plan is no 4-GPU plan)
        fewest: dict[str, dict[str, int]] = {}
        for plan in model["plans"]:
            of_status = fewest.setdefault(plan["hardware"], {})
            of_status[plan["status"]] = min(plan["gpu_count"], of_status.get(plan["status"], plan["gpu_count"]))
        smallest = {hw: min(by.values()) for hw, by in fewest.items()}  # GPU type -> fewest GPUs any plan needs
        best = {hw: next(w for w in STATUS_RANK if w in by) for hw, by in fewest.items() if set(by) & set(STATUS_RANK)}
        rows.append(
            {
                "model": model,
                # GPU types where a recipe tuned for that GPU serves the model (and where one was measured)
                "tuned": sorted({p["hardware"] for p in model["plans"] if p["status"] == "tuned"}),
                "measured": sorted({p["hardware"] for p in model["plans"] if p["measured"]}),
                "smallest": dict(sorted(smallest.items())),
                "best": dict(sorted(best.items())),
                "fewest": {hw: dict(sorted(by.items())) for hw, by in sorted(fewest.items())},
                "precisions": sorted({p["precision"] for p in model["plans"]}),
                "backends": sorted({p["backend"] for p in model["plans"]}),
                "words": " ".join([model["model_id"], model["name"], model["family"], model["size"]]).casefold(),
            }
        )
    rows.sort(key=lambda row: natural_key(row["model"]))
    return rows


def hardware_page(api: ApiView, name: str) -> str:
    gpu = api.index["hardware"][name]
    rows = []
    for summary in api.index["models"]:
        model = api.model(summary["slug"])
        row = model["support_matrix"][name]
        if any(row[str(n)]["plan"] for n in MATRIX_COUNTS):
            rows.append({"model": model, "row": row})
    return render(
        "hardware.md.j2",
        gpu=gpu,
        name=name,
        rows=rows,
        counts=MATRIX_COUNTS,
        status_text=STATUS_TEXT,
        status_legend=STATUS_LEGEND,
    )


def schema_fields(name: str) -> list[dict]:
    """Flatten a JSON Schema into rows (field, type, required, description)."""
    root = schema(name)
    rows: list[dict] = []

    def walk(node: dict, prefix: str, required: set) -> None:
        if "$ref" in node:
            node = {**root["$defs"][node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
        for key, sub in node.get("properties", {}).items():
            full = f"{prefix}{key}"
            resolved = root["$defs"][sub["$ref"].split("/")[-1]] if "$ref" in sub else sub
            if "enum" in resolved and resolved.get("type") is None:
                kind = "one of: " + ", ".join("null" if e is None else str(e) for e in resolved["enum"])
            else:
                kind = resolved.get("type") or ""
            rows.append(
                {
                    "field": full,
                    "type": kind if isinstance(kind, str) else " | ".join(kind),
                    "required": key in required,
                    "description": sub.get("description") or resolved.get("description") or "",
                }
            )
            if resolved.get("type") == "object" and "properties" in resolved:
                walk(resolved, full + ".", set(resolved.get("required", [])))
        for pattern, sub in node.get("patternProperties", {}).items():
            rows.append(
                {
                    "field": f"{prefix}<{pattern}>",
                    "type": "object",
                    "required": False,
                    "description": sub.get("description", ""),
                }
            )
            target = root["$defs"][sub["$ref"].split("/")[-1]] if "$ref" in sub else sub
            entry = target.get("additionalProperties")
            if isinstance(entry, dict) and "$ref" in entry:
                walk(
                    entry,
                    f"{prefix}<backend>.<N_gpu>.",
                    set(root["$defs"][entry["$ref"].split("/")[-1]].get("required", [])),
                )

    walk(root, "", set(root.get("required", [])))
    return rows


@dataclass(frozen=True)
class SiteFiles:
    pages: dict[str, bytes]  # Markdown sources for MkDocs, by path under docs/
    extra: dict[str, bytes]  # files written into the built site as they are, by path


def generated_pages(api: ApiView) -> SiteFiles:
    pages: dict[str, bytes] = {}
    extra: dict[str, bytes] = {}
    for summary in api.index["models"]:
        page = model_page(api, summary)
        pages[f"models/{summary['slug']}.md"] = page.markdown.encode("utf-8")
        # the plain page is published as models/<slug>.md next to models/<slug>.html
        extra[f"models/{summary['slug']}.md"] = page.plain.encode("utf-8")
        extra.update(page.files)
    extra["llms.txt"] = llms_txt(api).encode("utf-8")
    # The JSON API, compose files and manifests are served with the site, so its links to
    # them work wherever the site is put.
    for path, data in api.files.items():
        top = path.split("/", 1)[0]
        if top == "api":
            extra[path] = data
        elif top in ("compose", "k8s") or top == "docker" and path.endswith(("-leader.sh", "-worker.sh")):
            extra[f"artifacts/{path}"] = data  # the docker scripts of multi-node plans too
    for name in api.index["hardware"]:
        pages[f"hardware/{name}.md"] = hardware_page(api, name).encode("utf-8")
    pages["catalogue.md"] = render(
        "catalogue.md.j2",
        rows=catalogue_rows(api),
        hardware=sorted(api.index["hardware"]),
        precisions=PRECISIONS,
        families=sorted({m["family"] for m in api.index["models"]}),
        backends=sorted(api.index["engines"]),
    ).encode("utf-8")
    policy_text = {
        "headroom": policy.HEADROOM_REQUESTS,
        "context_step": policy.CONTEXT_STEP,
        "min_context": policy.MIN_USEFUL_CONTEXT,
    }
    selection = render("selection.md.j2", reasons=list(Reason), checks=list(Check), policy=policy_text)
    pages["selection.md"] = selection.encode("utf-8")
    pages["recipes.md"] = render(
        "recipes.md.j2", recipe_fields=schema_fields("recipe"), model_fields=schema_fields("model"), checks=list(Check)
    ).encode("utf-8")
    return SiteFiles(pages, extra)


def best_plans(api: ApiView, model: dict) -> list[dict]:
    """Per GPU type, the plan the matrix shows on the fewest GPUs, for the plain pages."""
    out = []
    for hw, row in sorted(model["support_matrix"].items()):
        cell = next((row[str(n)] for n in MATRIX_COUNTS if row[str(n)]["plan"]), None)
        if cell is not None:
            out.append({"hardware": hw, "cell": cell, "plan": api.plan(cell["plan"])})
    return out


def llms_txt(api: ApiView) -> str:
    """/llms.txt: what the site is and where each model's plain page is (llmstxt.org layout)."""
    models = [api.model(s["slug"]) for s in api.index["models"]]
    return render_plain(
        "llms.txt.j2",
        models=sorted(models, key=natural_key),
        hardware=sorted(api.index["hardware"]),
        engines=api.index["engines"],
    )


def _natural_models(api: ApiView) -> list[dict]:
    """The index's models by family, then name with its numbers compared as numbers."""

    def key(summary: dict) -> tuple:
        parts = re.split(r"(\d+)", summary["name"].casefold())
        name = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)
        return (summary.get("family", "").casefold(), name)

    return sorted(api.index["models"], key=key)


def nav(api: ApiView) -> list:
    """The mkdocs nav. Titles are HTML to Material, so the ones from data are escaped."""
    return [
        {"Home": "index.md"},
        {"Catalogue": "catalogue.md"},
        {"Models": [{html_text(m["name"]): f"models/{m['slug']}.md"} for m in _natural_models(api)]},
        {"Hardware": [{html_text(name): f"hardware/{name}.md"} for name in sorted(api.index["hardware"])]},
        {"How selection works": "selection.md"},
        {"Using aim-pick": "aim-pick.md"},
        {"Writing recipes": "recipes.md"},
        {"JSON API": "api.md"},
    ]


def build_site(api_files: dict[str, bytes], site_dir: Path) -> None:
    """Generate the pages and run `mkdocs build` into `site_dir`."""
    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config

    api = ApiView(api_files)
    with tempfile.TemporaryDirectory(prefix="aim-site-") as tmp:
        docs = Path(tmp) / "docs"
        shutil.copytree(SITE_SOURCE / "docs", docs)
        generated = generated_pages(api)
        for relative, data in generated.pages.items():
            target = docs / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        config_file = Path(tmp) / "mkdocs.yml"
        base = yaml.safe_load((SITE_SOURCE / "mkdocs.yml").read_text("utf-8"))
        base.update(docs_dir=str(docs), site_dir=str(site_dir), nav=nav(api))
        if (SITE_SOURCE / "overrides").is_dir():
            base["theme"]["custom_dir"] = str(SITE_SOURCE / "overrides")
        config_file.write_text(yaml.safe_dump(base, sort_keys=False), "utf-8")
        config = load_config(config_file=str(config_file))
        mkdocs_build(config)
    for relative, data in generated.extra.items():
        target = site_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
