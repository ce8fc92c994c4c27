"""The catalogue site, in a real browser (Playwright driving Debian's chromium) against
the built site served on loopback, plus a link checker over every page."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import textwrap
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
from playwright.sync_api import sync_playwright

from aim_engine.build import build
from aim_engine.publish.site import inert
from tests.conftest import REPO

pytestmark = [pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
EVIL = (
    "<script>window.__aimPwned = 1</script> **bold** [link](javascript:alert(1)) "
    '<img src=x onerror="window.__aimPwned = 2"> `code` | pipe'
)


@pytest.fixture(scope="module")
def site_build(tmp_path_factory):
    """The shipped catalogue plus one hostile model that only has an MI300X recipe."""
    root = tmp_path_factory.mktemp("cat")
    shutil.copytree(REPO / "models", root / "models")
    shutil.copytree(REPO / "recipes", root / "recipes")
    model = (REPO / "models" / "qwen3-8b.yaml").read_text()
    model = model.replace("model_id: Qwen/Qwen3-8B", "model_id: test-org/Evil-8B").replace(
        "name: Qwen3-8B", "name: Evil-8B"
    )
    start, end = model.index("description:"), model.index("license:")
    model = model[:start] + "description: " + json.dumps(EVIL) + "\n" + model[end:]
    start, end = model.index("aim_recipes:"), model.index("variants:")
    model = model[:start] + "aim_recipes:\n- evil-8b-mi300x-bf16\n" + model[end:]
    start, end = model.index("variants:"), model.index("provenance:")
    model = model[:start] + "variants: []\n" + model[end:]
    (root / "models" / "evil-8b.yaml").write_text(model)
    (root / "recipes" / "evil-8b-mi300x-bf16.yaml").write_text(
        textwrap.dedent("""
        recipe_id: evil-8b-mi300x-bf16
        model_id: test-org/Evil-8B
        hardware: MI300X
        precision: bf16
        vllm_serve:
          1_gpu:
            enabled: true
            args:
              --dtype: bfloat16
              --max-model-len: 32768
    """)
    )
    out = tmp_path_factory.mktemp("out") / "build"
    build(root, out)
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
    assert "test-org/Evil-8B" not in has_mi355x and has_mi355x

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
    expected = plan(site_build, "qwen3-32b-mi300x-bf16-vllm-tp1")["docker_command"]
    page.goto(f"{server}/models/Qwen--Qwen3-32B.html")
    block = page.locator(".tabbed-block pre").filter(has_text="aim-qwen3-32b-mi300x-bf16-vllm-tp1 ").first
    code = block.locator("code")
    assert code.text_content().rstrip("\n") == expected
    block.hover()
    block.locator("button[data-md-type=copy]").click()
    assert page.evaluate("navigator.clipboard.readText()").rstrip("\n") == expected


@pytest.mark.browser
def test_injected_script_stays_text(page, server, site_build):
    page.goto(f"{server}/models/test-org--Evil-8B.html")
    assert page.evaluate("typeof window.__aimPwned") == "undefined"
    description = page.locator(".aim-description").inner_text()
    assert description == EVIL
    assert (
        page.locator(
            ".aim-description strong, .aim-description img, .aim-description a, .aim-description script"
        ).count()
        == 0
    )
    raw = (site_build / "site" / "models" / "test-org--Evil-8B.html").read_text()
    assert "<script>window.__aimPwned" not in raw
    page.goto(f"{server}/catalogue.html?q=evil")
    assert page.evaluate("typeof window.__aimPwned") == "undefined"


def site_pages(site_build):
    return sorted(p for p in (site_build / "site").rglob("*.html") if p.name != "404.html")


@pytest.mark.browser
def test_no_console_errors_on_any_page(browser, server, site_build):
    context = browser.new_context()
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append((page.url, msg.text)) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append((page.url, str(exc))))
    # Navigating away aborts the search worker's index download; anything else is a failure.
    page.on(
        "requestfailed",
        lambda req: errors.append((req.url, req.failure)) if "ERR_ABORTED" not in (req.failure or "") else None,
    )
    pages = site_pages(site_build)
    for path in pages:
        page.goto(f"{server}/{path.relative_to(site_build / 'site').as_posix()}", wait_until="load")
    context.close()
    assert len(pages) > 30
    assert errors == []


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


def test_inert_text_in_markdown_and_html():
    assert str(inert("<b>*x*</b>\n#")) == "&#60;b&#62;&#42;x&#42;&#60;&#47;b&#62;<br>&#35;".replace("&#47;", "/")
