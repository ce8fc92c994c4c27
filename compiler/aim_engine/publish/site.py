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
import shutil
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from aim_engine.catalogue.load import PRECISIONS, schema
from aim_engine.checks.diagnostics import Check
from aim_engine.planning import policy
from aim_engine.planning.planner import Reason
from aim_engine.publish.svg import memory_bar
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


def _finalize(value: Any) -> Any:
    return value if isinstance(value, Markup) else inert(value)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        finalize=_finalize,  # every {{ value }} that no filter below marked is written inert
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    for name in _UNSAFE_FILTERS:
        del env.filters[name]
    env.filters.update(
        fence=fence,
        literal_block=literal_block,
        front_matter=front_matter,
        script_json=script_json,
        gib=gib,
        memory_bar=memory_bar,  # inline SVG (publish/svg.py escapes its text)
        json_attr=lambda v: json.dumps(v, sort_keys=True),  # a str: written inert like any value
    )
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


class ApiView:
    """Read access to the published API files held in memory by the build."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.index = self.json("api/index.json")

    def json(self, path: str) -> Any:
        return json.loads(self.files[path])

    def model(self, slug: str) -> dict:
        return self.json(f"api/models/{slug}.json")

    def plan(self, plan_id: str) -> dict:
        return self.json(f"api/plans/{plan_id}.json")

    def lookup(self, hardware: str, slug: str) -> dict:
        return self.json(f"api/lookup/{hardware}/{slug}.json")


def fallback_path(lookup: dict, key: str) -> list[dict]:
    """The steps the planner walked for `key`, up to and including the chosen one."""
    decision = lookup["decisions"][lookup["keys"][key]]
    steps = []
    for cid, verdict in decision["path"]:
        candidate = lookup["candidates"][cid]
        steps.append(
            {
                **candidate,
                "id": cid,
                "verdict": verdict,
                "reason": "chosen" if verdict == "chosen" else candidate["reason"],
            }
        )
        if verdict == "chosen":
            break
    return steps


def model_page(api: ApiView, summary: dict) -> tuple[str, dict[str, bytes]]:
    """(Markdown, artifact files to publish with the site) for one model."""
    model = api.model(summary["slug"])
    hardware = api.index["hardware"]
    sections, artifacts = [], {}
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
            for kind in ("compose", "k8s"):
                artifacts[f"artifacts/{plan[kind]}"] = api.files[plan[kind]]
            tabs.append({"n": n, "cell": cell, "plan": plan, "path": fallback_path(lookup, MATRIX_KEY.format(n=n))})
        if tabs:
            sections.append({"hardware": hardware[hw], "name": hw, "tabs": tabs})
    text = render(
        "model.md.j2",
        model=model,
        matrix_hardware=sorted(model["support_matrix"]),
        counts=MATRIX_COUNTS,
        sections=sections,
        status_text=STATUS_TEXT,
        status_legend=STATUS_LEGEND,
    )
    return text, artifacts


def catalogue_rows(api: ApiView) -> list[dict]:
    """One row per model, with what the client-side filters need."""
    rows = []
    for summary in api.index["models"]:
        model = api.model(summary["slug"])
        smallest: dict[str, int] = {}  # GPU type -> fewest GPUs any plan needs
        for plan in model["plans"]:
            smallest[plan["hardware"]] = min(plan["gpu_count"], smallest.get(plan["hardware"], plan["gpu_count"]))
        rows.append(
            {
                "model": model,
                # GPU types where a recipe tuned for that GPU serves the model (and where one was measured)
                "tuned": sorted({p["hardware"] for p in model["plans"] if p["status"] == "tuned"}),
                "measured": sorted({p["hardware"] for p in model["plans"] if p["measured"]}),
                "smallest": dict(sorted(smallest.items())),
                "precisions": sorted({p["precision"] for p in model["plans"]}),
                "backends": sorted({p["backend"] for p in model["plans"]}),
            }
        )
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


def generated_pages(api: ApiView) -> dict[str, bytes]:
    pages: dict[str, bytes] = {}
    for summary in api.index["models"]:
        text, artifacts = model_page(api, summary)
        pages[f"models/{summary['slug']}.md"] = text.encode("utf-8")
        pages.update(artifacts)
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
    return pages


def nav(api: ApiView) -> list:
    """The mkdocs nav. Titles are HTML to Material, so the ones from data are escaped."""
    return [
        {"Home": "index.md"},
        {"Catalogue": "catalogue.md"},
        {"Models": [{html_text(m["name"]): f"models/{m['slug']}.md"} for m in api.index["models"]]},
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
        for relative, data in generated_pages(api).items():
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
