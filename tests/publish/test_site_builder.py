"""The model pages' command builder, the concurrency chart, the catalogue's order and the plain
pages for tools (llms.txt, models/<slug>.md), checked on the generated files without MkDocs.
The builder in a real browser is in test_site_browser.py."""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET

import pytest

from aim_engine.planning.planner import Reason
from aim_engine.publish.site import (
    PRECISION_NOT_OFFERED,
    VERDICTS,
    builder_files,
    catalogue_rows,
    command_lines,
    display_command,
    flag_value,
    generated_pages,
    llms_txt,
    model_page,
    natural_key,
    plain_text,
    serving_options,
)
from aim_engine.publish.svg import ChartSeries, concurrency_chart, contexts, requests_at
from aim_pick.contract.units import GIB
from tests.publish import test_svg

small_api = test_svg.small_api  # the two-model API fixture

SVG = "{http://www.w3.org/2000/svg}"


def builder_data(files: dict[str, bytes], hw_file: str) -> dict:
    """The data object a builder script file assigns, read back as JSON."""
    text = files[f"models/{hw_file}"].decode("utf-8")
    match = re.search(r"^window\.aimBuilderData\[(\"[^\"]+\")\] = (.*);$", text, re.M)
    assert match, text[:200]
    return json.loads(match.group(2))


def command(data: dict, plan: dict) -> str:
    """A builder plan's one-line command, from the data file's string table."""
    return " ".join(data["strings"][i] for i in plan["lines"])


def all_builder_data(api, model) -> tuple[dict, dict[str, dict]]:
    config, files = builder_files(api, model)
    return config, {hw: builder_data(files, relative) for hw, relative in config["files"].items()}


# --- the command builder ---------------------------------------------------------------------------


@pytest.mark.slow
def test_every_published_plan_is_reachable_from_the_builder(small_api):
    """Each plan of a model (its JSON's `plans`) is the answer to some choice of the builder."""
    api = small_api
    for summary in api.index["models"]:
        model = api.model(summary["slug"])
        _, data = all_builder_data(api, model)
        reached = set()
        for hw, d in data.items():
            for decision in d["decisions"]:
                # the chosen plan, and the alternatives that run, which the builder offers too
                options = [decision["plan"]] + [d["candidates"][c]["plan"] for c, _ in decision["path"]]
                reached |= {(hw, d["plans"][i]["id"]) for i in options if i is not None}
        published = {(p["hardware"], p["plan_id"]) for p in model["plans"]}
        assert reached == published, summary["slug"]
        assert len(published) > 50
    # an alternative no key chooses, reached only as "runs too" on the MI300X paths
    _, data = all_builder_data(api, api.model("Qwen--Qwen3-32B"))
    chosen = {data["MI300X"]["plans"][d["plan"]]["id"] for d in data["MI300X"]["decisions"] if d["plan"] is not None}
    assert "qwen3-32b-mi300x-bf16-vllm-tp1-from-mi325x" not in chosen


@pytest.mark.slow
def test_builder_answers_each_lookup_key_with_the_published_decision(small_api):
    api = small_api
    model = api.model("Qwen--Qwen3-32B")
    _, data = all_builder_data(api, model)
    for hw, d in data.items():
        lookup = api.lookup(hw, model["slug"])
        assert set(d["keys"]) == set(lookup["keys"])
        for key, did in lookup["keys"].items():
            published = lookup["decisions"][did]
            mine = d["decisions"][d["keys"][key]]
            if published["plan"] is None:
                assert mine["plan"] is None
                # a choice without a plan says why: every candidate tried, with its reason
                assert [d["candidates"][c]["reason"] for c, _ in mine["path"]] == [
                    lookup["candidates"][cid]["reason"] for cid, _ in published["path"]
                ]
            else:
                plan = d["plans"][mine["plan"]]
                assert plan["id"] == published["plan"]
                assert command(d, plan) == api.plan(plan["id"])["docker_command"]
                assert [VERDICTS[v] for _, v in mine["path"]] == [v for _, v in published["path"]]
            assert mine["warnings"] == published["warnings"]


@pytest.mark.slow
def test_builder_names_each_candidate_and_knows_every_reason(small_api):
    api = small_api
    config, data = all_builder_data(api, api.model("Qwen--Qwen3-32B"))
    codes = {c["reason"] for d in data.values() for c in d["candidates"]}
    assert codes <= set(config["reasons"]) and {r.code for r in Reason} <= set(config["reasons"])
    labels = {c["label"] for d in data.values() for c in d["candidates"]}
    assert "vLLM bf16 on 1 GPU, recipe qwen3-32b-mi300x-bf16" in labels
    assert "SGLang fp8 on 4 GPUs, recipe qwen3-32b-mi325x-fp8, from the MI325X recipe" in labels
    assert not any(label.startswith("none/") for label in labels)
    assert config["reasons"]["precision-not-offered"] == PRECISION_NOT_OFFERED


@pytest.mark.slow
def test_a_precision_a_gpu_does_not_offer_says_so(small_api):
    api = small_api
    config, data = all_builder_data(api, api.model("meta-llama--Llama-3.1-8B-Instruct"))
    offered_somewhere = set(config["precisions"])
    for hw, d in data.items():
        missing = offered_somewhere - set(d["precisions"])
        assert set(d["not_offered"]) == missing
        for precision, message in d["not_offered"].items():
            assert f"no {precision} checkpoint or recipe" in message and hw in message
            assert not any(key.split("/")[2] == precision for key in d["keys"])


@pytest.mark.slow
def test_builder_default_is_a_tab_of_the_page(small_api):
    api = small_api
    model = api.model("Qwen--Qwen3-32B")
    config, _ = builder_files(api, model)
    cell = model["support_matrix"][config["default"]["gpu"]][str(config["default"]["n"])]
    assert cell["status"] == "tuned" and cell["gpu_count"] == config["default"]["n"]
    assert config["gpus"] == sorted(model["support_matrix"])
    page = model_page(api, {"slug": model["slug"]})
    assert f"<code>{cell['plan']}</code>".replace("-", "&#45;") in page.markdown


def test_command_lines_join_to_the_exact_command():
    argv = ["docker", "run", "--rm", "-e", "A=it's", "-p", "8000:8000", "img:1", "m", "--x", "a b", "--flag"]
    lines = command_lines(argv, "img:1")
    assert lines == ["docker run", "--rm", "-e 'A=it'\"'\"'s'", "-p 8000:8000", "img:1 m", "--x 'a b'", "--flag"]
    assert " ".join(lines) == shlex.join(argv)
    shown = display_command({"docker_argv": argv, "image": "img:1"})
    assert shlex.split(shown.replace("\\\n", "")) == argv  # a shell drops each backslash-newline


# --- the concurrency chart -------------------------------------------------------------------------


def test_requests_at_follow_the_kv_budget():
    s = ChartSeries("MI300X × 1", kv_budget_bytes=100 * GIB, kv_bytes_per_token=128 * 1024, longest_context=65536)
    assert requests_at(s, 4096) == 200  # 100 GiB / (128 KiB × 4096) = 200
    assert requests_at(s, 65536) == 12
    assert requests_at(s, 131072) == 0  # longer than one request can be on this plan
    assert contexts(131072) == [4096, 8192, 16384, 32768, 65536, 131072]
    assert contexts(40960) == [4096, 8192, 16384, 32768, 40960]


def test_chart_cells_and_escaped_labels():
    hostile = '<script>alert(1)</script> & "x"'
    series = [
        ChartSeries("MI300X × 1", 100 * GIB, 128 * 1024, 65536),
        ChartSeries(hostile, 10 * GIB, 128 * 1024, 8192),
    ]
    svg = str(concurrency_chart(series, 65536))
    root = ET.fromstring(svg)  # well-formed: every text escaped
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[:5] == ["4K", "8K", "16K", "32K", "64K"]
    assert texts[5:11] == ["MI300X × 1", "200", "100", "50", "25", "12"]
    assert texts[11:] == [hostile, "20", "10", "–", "–", "–"]
    assert "<script>" not in svg and root.find(f"{SVG}script") is None


@pytest.mark.slow
def test_model_page_has_a_chart_row_per_gpu_type_with_a_plan(small_api):
    api = small_api
    model = api.model("Qwen--Qwen3-32B")
    text = model_page(api, {"slug": model["slug"]}).markdown
    svg = re.search(r'<svg [^>]*class="aim-chart".*?</svg>', text).group(0)
    labels = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text") if t.get("x") == "0"]
    with_plan = [hw for hw, row in sorted(model["support_matrix"].items()) if any(c["plan"] for c in row.values())]
    assert [label.split(" × ")[0] for label in labels] == with_plan


# --- the catalogue and the plain pages -------------------------------------------------------------


def test_natural_key_sorts_by_family_then_size():
    models = [
        {"family": "Qwen", "parameters": {"total": t}, "name": n, "model_id": "Qwen/" + n}
        for n, t in [("Qwen3-14B", 14e9), ("Qwen3-235B-A22B", 235e9), ("Qwen3-30B-A3B", 30e9), ("Qwen3-8B", 8e9)]
    ] + [{"family": "DeepSeek", "parameters": {"total": 671e9}, "name": "DeepSeek-R1", "model_id": "d/R1"}]
    assert [m["name"] for m in sorted(models, key=natural_key)] == [
        "DeepSeek-R1", "Qwen3-8B", "Qwen3-14B", "Qwen3-30B-A3B", "Qwen3-235B-A22B"
    ]  # fmt: skip


@pytest.mark.slow
def test_catalogue_rows_sorted_with_best_status_per_gpu(small_api):
    api = small_api
    rows = catalogue_rows(api)
    assert [r["model"]["model_id"] for r in rows] == ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-32B"]
    qwen = rows[1]
    assert qwen["best"]["MI300X"] == "tuned" and qwen["best"]["MI308X"] == "derived"
    assert qwen["best"]["MI210"] == "generic"
    assert "qwen3" in qwen["words"] and "32b" in qwen["words"]
    # per status, the fewest GPUs a plan of it needs (what the "Tuned for" column and the count filter read)
    plans = [p for p in qwen["model"]["plans"] if p["hardware"] == "MI300X"]
    for status, n in qwen["fewest"]["MI300X"].items():
        assert n == min(p["gpu_count"] for p in plans if p["status"] == status)
    assert qwen["smallest"]["MI300X"] == min(p["gpu_count"] for p in plans)


def test_plain_text_escapes_markdown():
    assert str(plain_text("a *b* [c](d) <x>\n#y")) == "a \\*b\\* \\[c\\](d) \\<x\\> \\#y"


@pytest.mark.slow
def test_llms_txt_and_plain_model_pages(small_api):
    api = small_api
    files = generated_pages(api).extra
    llms = files["llms.txt"].decode()
    assert llms.startswith("# AIM Engine catalogue\n\n> ")
    for summary in api.index["models"]:
        assert f"](models/{summary['slug']}.md)" in llms
        plain = files[f"models/{summary['slug']}.md"].decode()
        model = api.model(summary["slug"])
        assert plain.startswith(f"# {model['name']}\n") and model["model_id"] in plain
        for hw, row in model["support_matrix"].items():
            cell = next((row[str(n)] for n in range(1, 9) if row[str(n)]["plan"]), None)
            if cell:
                assert f"### {hw} × {cell['gpu_count']}" in plain
                assert "\n" + api.plan(cell["plan"])["docker_command"] + "\n" in plain
    assert llms == llms_txt(api)
    # the API and every plan's compose file and manifests are served with the site
    assert "api/index.json" in files
    assert all(f"artifacts/{p['compose']}" in files for p in map(api.plan, ["qwen3-32b-mi300x-bf16-vllm-tp1"]))


# --- serving options -------------------------------------------------------------------------------


def test_flag_value_reads_both_spellings():
    assert flag_value(["m", "--reasoning-parser", "qwen3"], "--reasoning-parser") == "qwen3"
    assert flag_value(["--reasoning-parser=qwen3"], "--reasoning-parser") == "qwen3"
    assert flag_value(["--reasoning-parser-x", "y"], "--reasoning-parser") is None


@pytest.mark.slow
def test_serving_options_say_what_the_command_turns_on(small_api):
    api = small_api
    model = api.model("Qwen--Qwen3-32B")
    tuned = serving_options(model, api.plan("qwen3-32b-mi300x-bf16-vllm-tp1"))  # the recipe adds no tool parser
    assert tuned == [
        {
            "option": "reasoning",
            "field": "reasoning",
            "value": "qwen3",
            "on": True,
            "flags": "--reasoning-parser qwen3",
            "add": ["--reasoning-parser qwen3"],
            "drop": ["--reasoning-parser"],
        },
        {
            "option": "tool calling",
            "field": "tools",
            "value": "hermes",
            "on": False,
            "flags": "--tool-call-parser hermes --enable-auto-tool-choice",
            "add": ["--tool-call-parser hermes", "--enable-auto-tool-choice"],
            "drop": ["--tool-call-parser", "--enable-auto-tool-choice"],
        },
    ]
    # the builder offers a choice per option the model has on any engine
    config, _ = builder_files(api, model)
    offered = [(o["field"], o["label"]) for o in config["serving"]]
    assert offered == [("reasoning", "reasoning"), ("tools", "tool calling")]
    generic = serving_options(model, api.plan("qwen3-32b-mi210-bf16-vllm-tp2-generic"))
    assert [(o["option"], o["on"]) for o in generic] == [("reasoning", True), ("tool calling", True)]
