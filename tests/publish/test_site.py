"""The catalogue site, in a real browser (Playwright driving Debian's chromium) against
the built site served on loopback, plus a link checker over every page.

The site is built once per module from the hostile catalogue (tests/hostile.py): the shipped
models plus test-org/Hostile-8B, whose every free value is an attack payload. The ordinary
tests run against the shipped models in it; the hostile ones walk every page and check that
no payload runs or turns into an element, and that the name is shown as the literal text."""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import shlex
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlparse

import pytest
from playwright.sync_api import sync_playwright

from aim_engine.build import build
from aim_engine.planning.planner import Reason
from aim_engine.publish.parallel import default_jobs
from tests import hostile
from tests.conftest import REPO

pytestmark = [pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
NAME = hostile.payload(0)  # the hostile model's name: <script>window.__aimPwned=1</script>
FAMILY = hostile.payload(1)
LICENSE = hostile.payload(2)
MODEL_PAGE = f"models/{hostile.SLUG}.html"
# on* attributes the site writes itself: (tag, attribute, value).
OWN_HANDLERS = {("form", "onsubmit", "return false")}


@pytest.fixture(scope="module")
def site_build(tmp_path_factory):
    """The shipped catalogue plus the hostile model, built with the site."""
    root = hostile.hostile_catalogue(tmp_path_factory.mktemp("cat"), REPO)
    out = tmp_path_factory.mktemp("out") / "build"
    started = time.monotonic()
    build(root, out, jobs=default_jobs())
    print(f"hostile catalogue built with the site in {time.monotonic() - started:.1f} s")
    return out


@pytest.fixture(scope="module")
def server(site_build):
    handler = functools.partial(QuietHandler, directory=str(site_build / "site"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    yield page
    context.close()


def plan(site_build, plan_id):
    return json.loads((site_build / "api" / "plans" / f"{plan_id}.json").read_text())


def search(page, server, text):
    page.goto(f"{server}/index.html")
    page.click(".md-search__input")
    page.locator(".md-search__input").press_sequentially(text, delay=30)  # real key events
    page.locator(".md-search-result__item").first.wait_for(timeout=30000)


@pytest.mark.browser
def test_search_finds_a_model_page(page, server):
    search(page, server, "Qwen3-32B")
    link = page.locator(".md-search-result__item a[href*='Qwen--Qwen3-32B']").first
    link.wait_for(timeout=30000)
    link.click()
    page.wait_for_url("**/models/Qwen--Qwen3-32B.html*")
    assert page.locator("h1").first.inner_text() == "Qwen3-32B"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("deepseek-ai/DeepSeek-R1", "models/deepseek-ai--DeepSeek-R1.html"),  # Hugging Face id
        ("gpt-oss", "models/openai--gpt-oss-120b.html"),  # family
        ("MI355X", "hardware/MI355X.html"),  # GPU
        ("mxfp4", "models/openai--gpt-oss-20b.html"),  # precision
    ],
)
@pytest.mark.browser
def test_search_by_id_family_gpu_precision(page, server, text, expected):
    search(page, server, text)
    results = page.locator(".md-search-result__item a")
    results.first.wait_for(timeout=30000)
    hrefs = [results.nth(i).get_attribute("href") or "" for i in range(results.count())]
    assert any(expected in href for href in hrefs), hrefs


@pytest.mark.browser
def test_catalogue_filter_by_gpu_and_shareable_url(page, server, site_build):
    index = json.loads((site_build / "api" / "index.json").read_text())
    has_mi355x = set()
    for m in index["models"]:
        model = json.loads((site_build / "api" / "models" / f"{m['slug']}.json").read_text())
        if any(p["hardware"] == "MI355X" for p in model["plans"]):
            has_mi355x.add(m["model_id"])
    assert has_mi355x

    page.goto(f"{server}/catalogue.html")
    assert page.locator("#aim-catalogue tbody tr:visible").count() == len(index["models"])
    page.select_option("select[name=gpu]", "MI355X")
    visible = set(
        page.locator("#aim-catalogue tbody tr:visible").evaluate_all("rows => rows.map(r => r.dataset.model)")
    )
    assert visible == has_mi355x
    assert "gpu=MI355X" in page.url
    # a shared link restores the filter
    page.goto(f"{server}/catalogue.html?gpu=MI300X&count=1&family=Qwen")
    assert page.locator("select[name=gpu]").input_value() == "MI300X"
    rows = page.locator("#aim-catalogue tbody tr:visible").evaluate_all(
        "rows => rows.map(r => [r.dataset.model, r.dataset.family])"
    )
    assert rows and {family for _, family in rows} == {"Qwen"}
    assert "Qwen/Qwen3-235B-A22B" not in [m for m, _ in rows]  # needs more than one MI300X
    assert "Qwen/Qwen3-8B" in [m for m, _ in rows]


@pytest.mark.browser
def test_model_page_command_is_the_published_one_and_copies(page, server, site_build):
    expected = plan(site_build, "qwen3-32b-mi300x-bf16-vllm-tp1")
    page.goto(f"{server}/models/Qwen--Qwen3-32B.html")
    page.locator(".tabbed-labels > label").filter(has_text="MI300X").first.click()  # its first tab: 1 GPU
    block = page.locator(".tabbed-block .aim-command").filter(has_text="aim-qwen3-32b-mi300x-bf16-vllm-tp1 ").first
    assert block.is_visible()
    shown = block.locator("code").inner_text()
    assert len(shown.splitlines()) > 10  # one option a line, for reading
    assert shell_words(shown) == expected["docker_argv"]
    block.locator(".aim-copy").click()  # copied as the one exact line
    assert page.evaluate("navigator.clipboard.readText()") == expected["docker_command"]


def shell_words(shown: str) -> list[str]:
    """The words a shell reads from a command shown on several lines."""
    return shlex.split(shown.replace("\\\n", ""))


def lookup(site_build, hw, slug):
    return json.loads((site_build / "api" / "lookup" / hw / f"{slug}.json").read_text())


BUILDER = "#aim-builder-form select[name={}]"


def choose(page, **choices):
    for name, value in choices.items():
        page.select_option(BUILDER.format(name), str(value))


def shown_plan(page) -> str | None:
    page.wait_for_selector("#aim-builder-result .aim-builder-plan")
    return page.locator("#aim-builder-result").get_attribute("data-plan")


@pytest.mark.browser
def test_builder_reaches_a_non_default_plan_and_the_url_restores_it(page, server, site_build):
    slug = "Qwen--Qwen3-32B"
    key = "4/exact/fp8/sglang/throughput"
    table = lookup(site_build, "MI300X", slug)
    plan_id = table["decisions"][table["keys"][key]]["plan"]
    default_id = table["decisions"][table["keys"]["1/exact/auto/auto/latency"]]["plan"]
    assert plan_id and plan_id != default_id
    expected = plan(site_build, plan_id)
    page.goto(f"{server}/models/{slug}.html")
    assert shown_plan(page) == default_id  # the first view is the page's first tab
    choose(page, gpu="MI300X", n=4, mode="exact", precision="fp8", engine="sglang", objective="throughput")
    assert shown_plan(page) == plan_id
    result = page.locator("#aim-builder-result")
    assert shell_words(result.locator(".aim-command code").inner_text()) == expected["docker_argv"]
    result.locator(".aim-copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == expected["docker_command"]
    badges = result.locator(".aim-badge").all_inner_texts()
    assert expected["status"] in badges and ("measured" if expected["measured"] else "not measured") in badges
    links = result.locator(".aim-files a")
    assert links.nth(0).get_attribute("href") == f"../artifacts/{expected['compose']}"
    assert links.nth(2).get_attribute("href") == f"../artifacts/{expected['k8s']}"
    assert (site_build / "site" / "artifacts" / expected["compose"]).is_file()
    assert result.locator("svg.memory-bar").count() == 1
    # why: the walk names each candidate, up to the chosen one
    steps = result.locator(".aim-path").first.locator("li").all_inner_texts()
    assert steps[-1].startswith("SGLang fp8") and ": chosen, chosen" in steps[-1]
    url = page.url
    assert "gpu=MI300X" in url and "precision=fp8" in url and "engine=sglang" in url
    again = page.context.new_page()
    again.goto(url)
    assert shown_plan(again) == plan_id
    assert again.locator(BUILDER.format("objective")).input_value() == "throughput"
    assert shell_words(again.locator("#aim-builder-result .aim-command code").inner_text()) == expected["docker_argv"]


@pytest.mark.browser
def test_builder_turns_the_models_serving_options_on_and_off(page, server, site_build):
    """Qwen3-32B offers reasoning and tool calling; its MI300X TP1 vLLM recipe turns on reasoning only."""
    slug = "Qwen--Qwen3-32B"
    table = lookup(site_build, "MI300X", slug)
    published = plan(site_build, table["decisions"][table["keys"]["1/exact/auto/vllm/latency"]]["plan"])
    argv = published["docker_argv"]
    assert "--reasoning-parser" in argv and "--tool-call-parser" not in argv
    page.goto(f"{server}/models/{slug}.html?gpu=MI300X&n=1&mode=exact&precision=auto&engine=vllm&objective=latency")
    assert shown_plan(page) == published["plan_id"]
    result = page.locator("#aim-builder-result")
    assert shell_words(result.locator(".aim-command code").inner_text()) == argv  # "as planned"
    choose(page, reasoning="off", tools="on")
    shown = shell_words(result.locator(".aim-command code").inner_text())
    at = argv.index("--reasoning-parser")
    assert shown == argv[:at] + argv[at + 2 :] + ["--tool-call-parser", "hermes", "--enable-auto-tool-choice"]
    result.locator(".aim-copy").click()
    assert shlex.split(page.evaluate("navigator.clipboard.readText()")) == shown
    changed = result.locator(".aim-serving-changed").inner_text()
    assert "reasoning turned off" in changed and "tool calling turned on" in changed
    assert "files are the published plan's" in changed
    url = page.url
    assert "reasoning=off" in url and "tools=on" in url
    again = page.context.new_page()
    again.goto(url)
    assert shell_words(again.locator("#aim-builder-result .aim-command code").inner_text()) == shown
    choose(page, reasoning="plan", tools="plan")
    assert shell_words(result.locator(".aim-command code").inner_text()) == argv
    assert result.locator(".aim-serving-changed").count() == 0


@pytest.mark.browser
def test_builder_reaches_a_plan_no_key_chooses(page, server, site_build):
    """A published plan the planner never picks first (a sibling's recipe where the GPU's own
    gives a plan) is offered as an alternative that runs, and the link to it can be shared."""
    slug = "Qwen--Qwen3-32B"
    page.goto(f"{server}/models/{slug}.html?gpu=MI300X&n=1&mode=exact&precision=bf16&engine=vllm&objective=latency")
    shown_plan(page)
    link = page.locator("#aim-builder-result .aim-alternatives a[data-plan$='-from-mi325x']").first
    target = link.get_attribute("data-plan")
    table = lookup(site_build, "MI300X", slug)
    assert target not in {d["plan"] for d in table["decisions"].values()}
    link.click()
    assert shown_plan(page) == target
    assert f"plan={target}" in page.url
    again = page.context.new_page()
    again.goto(page.url)
    assert shown_plan(again) == target
    command = again.locator("#aim-builder-result .aim-command code").inner_text()
    assert shell_words(command) == plan(site_build, target)["docker_argv"]


@pytest.mark.browser
def test_builder_choice_without_a_plan_says_why(page, server, site_build):
    slug = "Qwen--Qwen3-32B"
    table = lookup(site_build, "MI210", slug)
    decision = table["decisions"][table["keys"]["1/exact/auto/auto/latency"]]
    assert decision["plan"] is None
    page.goto(f"{server}/models/{slug}.html")
    shown_plan(page)
    choose(page, gpu="MI210", n=1, mode="exact")
    assert shown_plan(page) is None
    result = page.locator("#aim-builder-result")
    reasons = [table["candidates"][cid]["reason"] for cid, _ in decision["path"]]
    code = result.locator(".aim-none code").inner_text()
    assert code in reasons and code in {r.code for r in Reason}
    sentence = next(r.sentence for r in Reason if r.code == code)
    assert sentence in result.locator(".aim-none").inner_text()
    steps = result.locator(".aim-path li").all_inner_texts()
    assert len(steps) == len(decision["path"])
    assert all(reason in step for reason, step in zip(reasons, steps, strict=True))
    if "fp8" not in table["precisions"]:
        choose(page, precision="fp8")
        assert result.locator(".aim-none code").inner_text() == "precision-not-offered"
        assert "no fp8 checkpoint or recipe" in result.inner_text()


@pytest.mark.browser
def test_builder_shows_the_several_host_plan_one_host_cannot_replace(page, server, site_build):
    found = None
    for path in sorted((site_build / "api" / "lookup").glob("*/*.json")):
        table = json.loads(path.read_text())
        for key, did in table["keys"].items():
            decision = table["decisions"][did]
            if decision["plan"] is None and decision.get("multi_node") and key.split("/")[1:] == [
                "exact", "auto", "auto", "latency"
            ]:  # fmt: skip
                found = (table["hardware"], table["model_slug"], key.split("/")[0], decision["multi_node"])
                break
        if found:
            break
    assert found, "the catalogue has a model one host of some GPU type cannot serve"
    hw, slug, n, target = found
    page.goto(f"{server}/models/{slug}.html?gpu={hw}&n={n}&mode=exact&precision=auto&engine=auto&objective=latency")
    assert shown_plan(page) == target
    result = page.locator("#aim-builder-result")
    assert "One host cannot serve this choice" in result.inner_text()
    assert result.locator(".aim-command").count() == 0 and result.locator(".aim-multi-node").count() == 1
    expected = plan(site_build, target)
    hrefs = result.locator(".aim-files a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert f"../artifacts/{expected['node_scripts']['leader']}" in hrefs
    assert f"../artifacts/{expected['k8s']}" in hrefs
    for href in hrefs:
        assert (site_build / "site" / "models" / href).resolve().is_file(), href


@pytest.mark.browser
def test_without_javascript_the_page_shows_the_default_plans(browser, server, site_build):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{server}/models/Qwen--Qwen3-32B.html")
    assert not page.locator("#aim-builder").is_visible()
    assert "needs JavaScript" in page.locator("article").inner_text()
    expected = plan(site_build, "qwen3-32b-mi300x-bf16-vllm-tp1")
    block = page.locator(".aim-command").filter(has_text="aim-qwen3-32b-mi300x-bf16-vllm-tp1 ").first
    assert shell_words(block.locator("code").inner_text()) == expected["docker_argv"]
    assert block.locator(".aim-copy").get_attribute("data-command") == expected["docker_command"]
    context.close()


def test_builder_data_files_exist_for_every_model(site_build):
    for model_file in (site_build / "api" / "models").glob("*.json"):
        model = json.loads(model_file.read_text())
        page = (site_build / "site" / "models" / f"{model['slug']}.html").read_text("utf-8")
        config = json.loads(html.unescape(re.search(r'data-config="([^"]*)"', page).group(1)))
        assert sorted(config["files"]) == sorted(model["support_matrix"])
        for relative in config["files"].values():
            assert (site_build / "site" / "models" / relative).is_file(), relative
        assert (site_build / "site" / "models" / f"{model['slug']}.md").is_file()
    assert (site_build / "site" / "llms.txt").read_text().startswith("# AIM Engine catalogue")
    assert (site_build / "site" / "api" / "index.json").is_file()


def builder_files_of(site_build, slug: str) -> dict[str, dict]:
    """GPU type -> the builder data a model page loads for it, read back from its script file."""
    page = (site_build / "site" / "models" / f"{slug}.html").read_text("utf-8")
    config = json.loads(html.unescape(re.search(r'data-config="([^"]*)"', page).group(1)))
    out = {}
    for hw, relative in config["files"].items():
        text = (site_build / "site" / "models" / relative).read_text("utf-8")
        out[hw] = json.loads(re.search(r"^window\.aimBuilderData\[\"[^\"]+\"\] = (.*);$", text, re.M).group(1))
    return out


def test_every_published_plan_is_reachable_from_its_model_page(site_build):
    """Over the whole catalogue: each plan in the API is the builder's answer to some choice, an
    alternative that runs for one, or the several-host plan of a choice one host cannot serve."""
    plans_total = 0
    for model_file in (site_build / "api" / "models").glob("*.json"):
        model = json.loads(model_file.read_text())
        reached = set()
        for d in builder_files_of(site_build, model["slug"]).values():
            for decision in d["decisions"]:
                options = [decision["plan"], decision["multi_node"]]
                options += [d["candidates"][c]["plan"] for c, _ in decision["path"]]
                reached |= {d["plans"][i]["id"] for i in options if i is not None}
        published = {p["plan_id"] for p in model["plans"]}
        assert published == reached, (model["slug"], sorted(published - reached)[:5])
        plans_total += len(published)
    assert plans_total == len(list((site_build / "api" / "plans").glob("*.json")))


# --- the catalogue ---------------------------------------------------------------------------------


def catalogue_models(page) -> list[str]:
    return page.locator("#aim-catalogue tbody tr:visible").evaluate_all("rows => rows.map(r => r.dataset.model)")


@pytest.mark.browser
def test_catalogue_sorts_naturally_and_finds_words_in_any_order(page, server):
    page.goto(f"{server}/catalogue.html")
    order = catalogue_models(page)
    qwen = [m for m in order if m in ("Qwen/Qwen3-8B", "Qwen/Qwen3-14B", "Qwen/Qwen3-32B", "Qwen/Qwen3-235B-A22B")]
    assert qwen == ["Qwen/Qwen3-8B", "Qwen/Qwen3-14B", "Qwen/Qwen3-32B", "Qwen/Qwen3-235B-A22B"]
    for query, expected in [("llama 70b", "meta-llama/Llama-3.3-70B-Instruct"), ("qwen3 32b", "Qwen/Qwen3-32B"),
                            ("32B QWEN3", "Qwen/Qwen3-32B")]:  # fmt: skip
        page.fill("input[name=q]", query)
        found = catalogue_models(page)
        assert expected in found, (query, found)
        words = query.lower().split()
        texts = page.locator("#aim-catalogue tbody tr:visible").evaluate_all("rows => rows.map(r => r.dataset.text)")
        assert all(all(w in t for w in words) for t in texts)
        assert page.locator("#aim-count").inner_text().startswith(f"{len(found)} of ")


@pytest.mark.browser
def test_catalogue_gpu_filter_says_tuned_derived_or_generic(page, server, site_build):
    index = json.loads((site_build / "api" / "index.json").read_text())
    best = {}
    order = ("tuned", "derived", "generic")
    for m in index["models"]:
        model = json.loads((site_build / "api" / "models" / f"{m['slug']}.json").read_text())
        statuses = [p["status"] for p in model["plans"] if p["hardware"] == "MI350X"]
        if statuses:
            best[m["model_id"]] = min(statuses, key=order.index)
    page.goto(f"{server}/catalogue.html?gpu=MI350X")
    assert set(catalogue_models(page)) == set(best)
    counts = {w: list(best.values()).count(w) for w in order}
    text = page.locator("#aim-count").inner_text()
    assert text.startswith(f"{len(best)} of {len(index['models'])} models have a plan on MI350X: ")
    assert f"{counts['tuned']} tuned, {counts['derived']} derived, {counts['generic']} generic" in text
    cells = page.locator("#aim-catalogue tbody tr:visible").evaluate_all(
        "rows => rows.map(r => [r.dataset.model, r.querySelector('td.aim-on-gpu').textContent])"
    )
    assert all(text.startswith(best[m] + " (") for m, text in cells)
    # with a GPU count: the best status among the plans within it, and their fewest GPUs
    within: dict[str, tuple[str, int]] = {}
    for m in index["models"]:
        model = json.loads((site_build / "api" / "models" / f"{m['slug']}.json").read_text())
        plans = [p for p in model["plans"] if p["hardware"] == "MI300X" and p["gpu_count"] <= 4]
        if plans:
            status = min((p["status"] for p in plans), key=order.index)
            within[m["model_id"]] = (status, min(p["gpu_count"] for p in plans if p["status"] == status))
    page.goto(f"{server}/catalogue.html?gpu=MI300X&count=4")
    cells = page.locator("#aim-catalogue tbody tr:visible").evaluate_all(
        "rows => rows.map(r => [r.dataset.model, r.querySelector('td.aim-on-gpu').textContent])"
    )
    assert dict(cells) == {m: f"{status} ({n}+ GPUs)" for m, (status, n) in within.items()}
    counts = {w: [v[0] for v in within.values()].count(w) for w in order}
    assert (
        f"{counts['tuned']} tuned, {counts['derived']} derived, {counts['generic']} generic"
        in page.locator("#aim-count").inner_text()
    )


# --- layout at a desktop and a phone width ---------------------------------------------------------

# What a reader would see as broken, per page: sideways scroll, overlapping choices or matrix
# cells, content under a sidebar or beyond the window, a label running into its value, code cut
# off, a copy button over the text.
LAYOUT = r"""() => {
  const rect = e => e.getBoundingClientRect();
  const meets = (a, b) =>
    a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const shown = e => {
    const r = rect(e);
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== "hidden";
  };
  const clip = (r, c) => ({
    left: Math.max(r.left, c.left), right: Math.min(r.right, c.right),
    top: Math.max(r.top, c.top), bottom: Math.min(r.bottom, c.bottom),
  });
  const textRects = node => {
    const range = document.createRange();
    range.selectNodeContents(node);
    return [...range.getClientRects()].filter(r => r.width > 0);
  };
  const name = e => e.localName + "." + String(e.className).split(" ")[0] + ":" + e.textContent.trim().slice(0, 40);
  const scrolls = e => ["auto", "scroll"].includes(getComputedStyle(e).overflowX);
  const out = {scroll: document.documentElement.scrollWidth - window.innerWidth,
               overlaps: [], labels: [], code: [], outside: []};
  // the builder's and the filters' choices, and matrix cells: no two overlap, none overflows
  for (const sel of [".aim-builder-form label", ".aim-filters label", ".aim-matrix th, .aim-matrix td"]) {
    const items = [...document.querySelectorAll(sel)].filter(shown);
    const rects = items.map(rect);
    for (let i = 0; i < items.length; i++) {
      for (let j = i + 1; j < items.length; j++)
        if (meets(rects[i], rects[j])) out.overlaps.push([name(items[i]), name(items[j])]);
      if (sel.includes("matrix") && items[i].scrollWidth > items[i].clientWidth + 1)
        out.overlaps.push([name(items[i]), "overflows its cell"]);
    }
  }
  // wide content stays in the content column: not under a sidebar, not beyond the window
  const sidebars = [...document.querySelectorAll(".md-sidebar .md-sidebar__scrollwrap")].filter(shown);
  for (const t of document.querySelectorAll(".md-content table, .md-content pre, .md-content svg, .aim-builder")) {
    if (!shown(t)) continue;
    let r = rect(t);
    for (let p = t.parentElement; p && p !== document.body; p = p.parentElement)
      if (["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX)) r = clip(r, rect(p));
    if (r.right <= r.left) continue;
    for (const s of sidebars) if (meets(r, rect(s))) out.outside.push([name(t), "under the sidebar"]);
    if (r.right > window.innerWidth + 0.5 || r.left < -0.5) out.outside.push([name(t), "beyond the window"]);
  }
  // labels and values apart: on one line, the label's text ends 8 px before the value's starts
  for (const row of document.querySelectorAll(".aim-figures tr")) {
    const th = row.querySelector("th"), td = row.querySelector("td");
    if (!th || !td || !shown(th)) continue;
    const a = textRects(th), b = textRects(td);
    if (!a.length || !b.length) continue;
    const gap = Math.min(...b.map(r => r.left)) - Math.max(...a.map(r => r.right));
    const sameLine = a.some(x => b.some(y => x.top < y.bottom && y.top < x.bottom));
    if (sameLine && gap < 8) out.labels.push([th.textContent, td.textContent.slice(0, 30), gap]);
  }
  for (const label of document.querySelectorAll(".aim-builder-form label, .aim-filters label")) {
    if (!shown(label)) continue;
    const control = label.querySelector("select, input");
    for (const t of [...label.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim()))
      for (const r of textRects(t)) if (meets(r, rect(control))) out.labels.push([t.textContent, "over its control"]);
  }
  // code: all of it visible or scrollable, no copy button over its text
  for (const pre of document.querySelectorAll(".md-content pre")) {
    if (!shown(pre)) continue;
    const code = pre.querySelector("code");
    const box = rect(code);
    if (code.scrollWidth > code.clientWidth + 1 && !scrolls(code) && !scrolls(pre))
      out.code.push([name(code), "cut off"]);
    const lines = textRects(code).map(r => clip(r, box)).filter(r => r.right > r.left && r.bottom > r.top);
    const buttons = [...pre.querySelectorAll("button, .md-clipboard, .md-code__button")];
    const own = pre.parentElement.querySelector(":scope > .aim-copy");
    if (own) buttons.push(own);
    for (const b of buttons.filter(shown))
      if (lines.some(l => meets(rect(b), l))) out.code.push([name(code), "button over the text"]);
  }
  return out;
}"""
LAYOUT_PAGES = [
    "index.html",
    "aim-pick.html",
    "catalogue.html",
    "catalogue.html?gpu=MI300X",
    "models/Qwen--Qwen3-32B.html",
    "models/Qwen--Qwen3-32B.html?gpu=MI300X&n=4&mode=exact&precision=fp8&engine=sglang&objective=throughput",
    "models/deepseek-ai--DeepSeek-R1.html",
    "hardware/MI300X.html",
    "selection.html",
    "recipes.html",
    "api.html",
]


@pytest.mark.browser
@pytest.mark.parametrize("width", [1400, 420])
def test_layout_at_desktop_and_phone_width(browser, server, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = {}
    for path in LAYOUT_PAGES:
        page.goto(f"{server}/{path}")
        if "aim-builder" in (page.content()):
            page.wait_for_selector("#aim-builder-result .aim-builder-plan")
        found = page.evaluate(LAYOUT)
        bad = {k: v for k, v in found.items() if v and k != "scroll"}
        if found["scroll"] > 0:
            bad["scroll"] = found["scroll"]
        if bad:
            problems[path] = bad
    context.close()
    assert problems == {}


def site_pages(site_build):
    """Every page of the site, 404.html included (served on its own it works like any page)."""
    return sorted((site_build / "site").rglob("*.html"))


# What a page holds once loaded: anything a payload could have made, and the hostile name
# where the nav shows it.
PROBE = """([mark, slug]) => {
  const handlers = [], links = [];
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) {
      const name = a.name.toLowerCase();
      if (name.startsWith("on")) handlers.push([el.localName, name, a.value]);
      const url = a.value.replace(/[\\u0000-\\u0020]/g, "").toLowerCase();
      if (["href", "src", "action", "formaction", "xlink:href", "data"].includes(name) && url.startsWith("javascript:"))
        links.push(el.outerHTML.slice(0, 300));
    }
  }
  return {
    pwned: typeof window[mark],
    handlers: handlers,
    links: links,
    scripts: [...document.scripts].filter(s => (s.text + s.src).includes(mark)).map(s => s.outerHTML.slice(0, 300)),
    markdown: [...document.querySelectorAll("strong, em, b, i")].filter(e => e.textContent === "bold").length,
    nav: [...document.querySelectorAll(".md-nav--primary a")]
      .filter(a => (a.getAttribute("href") || "").endsWith(slug + ".html"))
      .map(a => a.textContent.trim()),
  };
}"""


@pytest.fixture(scope="module")
def walk(browser, server, site_build):
    """Load every page once in Chromium; per page: errors, dialogs and what PROBE found."""
    context = browser.new_context()
    page = context.new_page()
    errors, dialogs = [], []
    page.on("console", lambda msg: errors.append((page.url, msg.text)) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append((page.url, str(exc))))
    # Navigating away aborts the search worker's index download; anything else is a failure.
    page.on(
        "requestfailed",
        lambda req: errors.append((req.url, req.failure)) if "ERR_ABORTED" not in (req.failure or "") else None,
    )
    page.on("dialog", lambda dialog: (dialogs.append((page.url, dialog.message)), dialog.dismiss()))
    found = {}
    started = time.monotonic()
    for path in site_pages(site_build):
        relative = path.relative_to(site_build / "site").as_posix()
        page.goto(f"{server}/{relative}", wait_until="load")
        found[relative] = page.evaluate(PROBE, [hostile.MARK, hostile.SLUG])
    print(f"{len(found)} pages loaded in {time.monotonic() - started:.1f} s")
    context.close()
    return {"errors": errors, "dialogs": dialogs, "pages": found}


@pytest.mark.browser
def test_no_console_errors_on_any_page(walk):
    assert len(walk["pages"]) > 30
    assert walk["errors"] == []


@pytest.mark.browser
def test_no_payload_runs_on_any_page(walk):
    assert walk["dialogs"] == []
    assert {path for path, seen in walk["pages"].items() if seen["pwned"] != "undefined"} == set()


@pytest.mark.browser
def test_no_injected_element_on_any_page(walk):
    for path, seen in walk["pages"].items():
        assert {tuple(h) for h in seen["handlers"]} <= OWN_HANDLERS, path
        assert seen["scripts"] == [], path
        assert seen["links"] == [], path
        assert seen["markdown"] == 0, path


@pytest.mark.browser
def test_hostile_name_is_text_in_the_nav_of_every_page(walk):
    for path, seen in walk["pages"].items():
        assert seen["nav"] and set(seen["nav"]) == {NAME}, (path, seen["nav"])


@pytest.mark.browser
def test_hostile_model_page_shows_its_values_as_text(page, server):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server}/{MODEL_PAGE}")
    assert page.title() == f"{NAME} - AIM Engine catalogue"
    assert page.locator("article h1").inner_text() == NAME
    assert page.locator(".md-header__topic").last.inner_text() == NAME
    assert page.locator(".aim-description").inner_text() == " ".join(hostile.PAYLOADS)
    assert FAMILY + " family" in page.locator(".aim-meta").inner_text()
    assert page.locator(".aim-license strong").inner_text() == LICENSE
    assert page.locator("meta[name=description]").get_attribute("content") == (
        f"Serving {hostile.MODEL_ID} on AMD Instinct GPUs with vLLM or SGLang"
    )
    # the command is the published one, hostile env values and flag values included
    commands = page.locator(".tabbed-block .aim-copy").evaluate_all("bs => bs.map(b => b.dataset.command)")
    assert any(hostile.ENV_PAYLOADS[0] in c and hostile.payload(6) in c for c in commands)
    shown = page.locator(".tabbed-block .aim-command code").evaluate_all("cs => cs.map(c => c.textContent)")
    assert sorted(map(shell_words, shown)) == sorted(map(shlex.split, commands))
    assert page.evaluate(f"typeof window.{hostile.MARK}") == "undefined"
    assert dialogs == []


@pytest.mark.browser
def test_hostile_values_in_catalogue_and_hardware_rows(page, server):
    page.goto(f"{server}/catalogue.html?family={quote(FAMILY)}")
    rows = page.locator("#aim-catalogue tbody tr:visible")
    assert rows.evaluate_all("rows => rows.map(r => [r.dataset.model, r.dataset.family])") == [
        [hostile.MODEL_ID, FAMILY]
    ]
    assert rows.locator("td a").inner_text() == NAME
    assert page.locator("select[name=family]").input_value() == FAMILY
    page.goto(f"{server}/catalogue.html?q={quote(NAME)}")
    assert page.locator("#aim-catalogue tbody tr:visible").evaluate_all("rows => rows.map(r => r.dataset.model)") == [
        hostile.MODEL_ID
    ]
    page.goto(f"{server}/hardware/MI300X.html")
    assert page.locator(f".aim-matrix a[href$='{hostile.SLUG}.html']").inner_text() == NAME
    assert page.evaluate(f"typeof window.{hostile.MARK}") == "undefined"


@pytest.mark.browser
def test_search_results_show_hostile_values_as_text(page, server):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    search(page, server, "Hostile")
    result = page.locator(f".md-search-result__item a[href*='{hostile.SLUG}']").first
    result.wait_for(timeout=30000)
    assert NAME in result.locator("h1, h2").all_inner_texts()
    search(page, server, "onerror")  # teasers quote the payloads
    results = page.locator(".md-search-result")
    assert "onerror=" in results.inner_text()
    injected = results.locator("img, svg, script, a[href^='javascript:'], [onerror], [onload]").count()
    assert injected == 0
    assert page.evaluate(f"typeof window.{hostile.MARK}") == "undefined"
    assert dialogs == []


def test_payloads_appear_only_escaped_in_the_html(site_build):
    """No payload with markup is in any page's HTML as written; in the nav it is escaped."""
    markup = [p for p in hostile.PAYLOADS if "<" in p or ">" in p]
    for path in site_pages(site_build):
        text = path.read_text("utf-8")
        assert [p for p in markup if p in text] == [], path
    index = (site_build / "site" / "index.html").read_text("utf-8")
    start = index.index(f'<a href="models/{hostile.SLUG}.html" class="md-nav__link">')
    link = index[start : index.index("</a>", start)]
    assert html.escape(NAME) in link and NAME not in link
    search_index = json.loads((site_build / "site" / "search" / "search_index.json").read_text("utf-8"))
    entries = [e for e in search_index["docs"] if e["location"].startswith(MODEL_PAGE)]
    assert entries[0]["title"] == html.escape(NAME)  # Material shows the title as HTML
    for entry in search_index["docs"]:
        assert [p for p in markup if p in entry["title"] or p in entry["text"]] == [], entry["location"]


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name) and tag in ("a", "link", "script", "img"):
                self.links.append(attrs[name])


def test_no_broken_internal_links(site_build):
    root = (site_build / "site").resolve()
    parsed = {}
    for path in root.rglob("*.html"):
        if path.name == "404.html":
            continue  # served for any missing URL, so MkDocs writes its links from the site root
        parser = Links()
        parser.feed(path.read_text("utf-8"))
        parsed[path] = parser
    broken, checked = [], 0
    for path, parser in parsed.items():
        base = "file://" + str(path)
        for link in parser.links:
            url = urlparse(urljoin(base, link))
            if url.scheme != "file":
                continue  # external references are checked separately below
            target = Path(unquote(url.path))
            if target.is_dir():
                target = target / "index.html"
            checked += 1
            if not target.exists() or root not in target.resolve().parents and target.resolve() != root:
                broken.append((str(path.relative_to(root)), link))
            elif (
                url.fragment
                and target.suffix == ".html"
                and target in parsed
                and url.fragment not in parsed[target].ids
            ):
                broken.append((str(path.relative_to(root)), link))
    assert checked > 1000
    assert broken == []


def test_site_loads_nothing_from_outside(site_build):
    for path in (site_build / "site").rglob("*.html"):
        parser = Links()
        parser.feed(path.read_text("utf-8"))
        external = [
            link
            for link in parser.links
            if urlparse(link).scheme in ("http", "https") and not link.startswith("http://localhost")
        ]
        assert not [url for url in external if not url.startswith("https://huggingface.co/")], (path.name, external)
        text = path.read_text("utf-8")
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text


class MatrixCells(HTMLParser):
    """(class words, text) of every support-matrix cell, and the legend's words."""

    def __init__(self):
        super().__init__()
        self.cells, self.legend, self._open = [], [], None

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if "aim-cell" in classes:
            self._open = (tag, [c[4:] for c in classes if c.startswith("aim-") and c != "aim-cell"], [])

    def handle_data(self, data):
        if self._open:
            self._open[2].append(data)

    def handle_endtag(self, tag):
        if self._open and tag == self._open[0]:
            _, words, text = self._open
            (self.legend if tag == "dt" else self.cells).append((words, "".join(text).strip()))
            self._open = None


def test_matrix_cells_show_the_published_status_with_a_legend(site_build):
    """Each model page's matrix shows the model JSON's word per cell; the legend explains each
    word the site uses, and no cell says "verified"."""
    words_seen, several_hosts = set(), 0
    for model_file in (site_build / "api" / "models").glob("*.json"):
        model = json.loads(model_file.read_text())
        parser = MatrixCells()
        page = (site_build / "site" / "models" / f"{model['slug']}.html").read_text("utf-8")
        parser.feed(page)
        # then a "2 × 8" / "4 × 8" column per host count some GPU type needs ("none" where one host does)
        hosts = sorted({int(k) for row in model["multi_node"].values() for k in row})
        expected = [
            [model["support_matrix"][hw][str(n)]["status"] for n in range(1, 9)]
            + [model["multi_node"].get(hw, {}).get(str(k), {"status": "none"})["status"] for k in hosts]
            for hw in sorted(model["support_matrix"])
        ]
        assert [words[0] for words, _ in parser.cells] == [w for row in expected for w in row], model["slug"]
        assert all(text.startswith(w.replace("-", " ")) for (w, *_), text in parser.cells if w != "none")
        assert all(f"<th>{k} × 8</th>" in page for k in hosts)
        several_hosts += bool(hosts)
        expected = [w for row in expected for w in row if w != "none"]
        assert {w for (w, *_), _ in parser.legend} == {
            "tuned", "derived", "generic", "tight", "does-not-fit", "not-supported"
        }  # fmt: skip
        words_seen.update(expected)
        assert not any("verified" in text for _, text in parser.cells)
    assert {"tuned", "derived", "generic", "does-not-fit"} <= words_seen
    assert several_hosts  # some model needs more than one host of some GPU type (Llama-3.1-405B bf16)


def test_a_generic_plan_tab_says_so_and_is_not_measured(site_build):
    page = (site_build / "site" / "models" / "Qwen--Qwen3-32B.html").read_text("utf-8")
    text = html.unescape(page)
    assert "Status: generic, not measured on hardware" in " ".join(HTMLText.of(page).split()), (
        "a generic plan's tab states its status"
    )
    assert "generic plan: no tuned recipe for MI210 yet" in text


class HTMLText(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)

    @classmethod
    def of(cls, page: str) -> str:
        parser = cls()
        parser.feed(page)
        return "".join(parser.parts)
