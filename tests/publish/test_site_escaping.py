"""Escaping of data in the site, without building it: every template value is written inert
(HTML and Markdown), titles are HTML, inline JSON cannot close its script element. The
browser tests over a whole hostile build are in test_site.py."""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser

import markdown
import pytest
import yaml

from aim_engine.publish.site import (
    SITE_SOURCE,
    ApiView,
    environment,
    fence,
    front_matter,
    html_text,
    inert,
    literal_block,
    nav,
    script_json,
)
from tests import hostile

VALUES = hostile.PAYLOADS + hostile.LINE_PAYLOADS + ("plain", "", "\u2028\u2029", "a\r\nb")


def test_inert_text_in_markdown_and_html():
    assert str(inert("<b>*x*</b>\n#")) == "&#60;b&#62;&#42;x&#42;&#60;/b&#62;<br>&#35;"


@pytest.mark.parametrize("value", VALUES)
def test_every_template_value_is_inert_by_default(value):
    """No filter needed: a plain {{ value }} in text or in an attribute is written inert."""
    template = environment().from_string('<p title="{{ v }}">{{ v }}</p>{{ v | lower }}{{ n }}')
    assert template.render(v=value, n=7) == f'<p title="{inert(value)}">{inert(value)}</p>{inert(value.lower())}7'


def test_markup_filters_that_skip_the_markdown_escaping_are_not_offered():
    for name in ("safe", "tojson", "e", "escape", "forceescape", "xmlattr", "urlize"):
        assert name not in environment().filters


class Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def site_markdown() -> markdown.Markdown:
    """Python-Markdown with the extensions of the site's mkdocs.yml."""
    config = yaml.safe_load((SITE_SOURCE / "mkdocs.yml").read_text("utf-8"))
    names, options = [], {}
    for entry in config["markdown_extensions"]:
        name, conf = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
        names.append(name)
        options[name] = conf
    options["toc"] = {k: v for k, v in options["toc"].items() if k != "permalink"}
    return markdown.Markdown(extensions=names, extension_configs=options)


CONTEXTS = {
    "paragraph": ("{v}", ["p"]),
    "table cell": ("| a |\n|---|\n| {v} |", ["table", "thead", "tr", "th", "tbody", "tr", "td"]),
    "code element": ("Plan <code>{v}</code>.", ["p", "code"]),
    "tab": ('=== "MI300X"\n\n    {v}', None),
    "html block": ('<p class="x" title="{v}">{v}</p>', ["p"]),
    "list item": ("1. **x** {v}", ["ol", "li", "strong"]),
}


@pytest.mark.parametrize("value", hostile.PAYLOADS + ("a|b", "line one\ntouch", "*x*"))
@pytest.mark.parametrize("context", CONTEXTS)
def test_inert_renders_as_the_literal_text(context, value):
    """What the page shows is the value itself, and Markdown made no element of it."""
    source, tags = CONTEXTS[context]
    rendered = site_markdown().convert(source.format(v=inert(value)))
    parsed = Text()
    parsed.feed(rendered)
    shown = "".join(parsed.text).replace("\n", "")
    assert value.replace("\n", "") in shown, rendered
    if tags is not None:
        assert [t for t in parsed.tags if t != "br"] == tags, rendered
    else:  # tabs: the tab's own markup, never an element from the value
        assert not {"script", "img", "svg", "a", "code", "strong", "em"} & set(parsed.tags), rendered


@pytest.mark.parametrize("value", VALUES)
def test_front_matter_holds_html_text(value):
    """A front matter title is one YAML line whose value is the HTML-escaped text."""
    scalar = str(front_matter(value))
    assert "\n" not in scalar and scalar.isascii()
    loaded = yaml.safe_load(f"title: {scalar}\n")["title"]
    assert loaded == html_text(value) and html.unescape(loaded) == value
    assert "<" not in loaded and '"' not in loaded


def test_nav_titles_from_data_are_escaped():
    index = {"models": [{"name": p, "slug": f"m{i}"} for i, p in enumerate(VALUES)], "hardware": {"<b>X": {}}}
    api = ApiView({"api/index.json": json.dumps(index).encode()})
    entries = {k: v for section in nav(api) for k, v in section.items()}
    models = [title for item in entries["Models"] for title in item]
    assert sorted(models) == sorted(html.escape(p, quote=True) for p in VALUES)  # in the nav's own order
    assert [title for item in entries["Hardware"] for title in item] == ["&lt;b&gt;X"]


@pytest.mark.parametrize("value", VALUES + ({"k": list(hostile.PAYLOADS)}, "<!--", "]]>"))
def test_script_json_cannot_leave_its_script_element(value):
    text = str(script_json(value))
    assert not {"<", ">", "&", "\u2028", "\u2029"} & set(text)
    assert json.loads(text) == value


@pytest.mark.parametrize("value", ["docker run x", "a ``` b", "`````", "one\ntwo\n\n    three", "<b>&amp;"])
def test_literal_block_stays_inside_its_fence(value):
    """The command block of a model page: a fenced block in a tab in a tab, 8 spaces in."""
    pad = " " * 8
    source = f'=== "A"\n\n    === "B"\n\n{pad}{fence(value)}text\n{pad}{literal_block(value, 8)}\n{pad}{fence(value)}\n'
    rendered = site_markdown().convert(source)
    codes = []

    class Code(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "code":
                codes.append("")

        def handle_data(self, data):
            if codes:
                codes[-1] += data

    Code().feed(rendered)
    assert rendered.count("<pre") == 1 and [c.rstrip("\n") for c in codes] == [value], rendered
