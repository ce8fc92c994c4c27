"""A hostile catalogue: the shipped one plus a model and recipes whose every free value is an
attack payload, as an untrusted pull request could write them.

Each payload is different, so a test can check that a rendered file gives back exactly the
value it came from. The catalogue validates and builds: payloads avoid what the validator
refuses — control characters in names, descriptions, env values and flag values (only
`notes` may span lines), and in env values anything an env file cannot carry for both a
shell and `docker --env-file` (ENV_PAYLOADS are the hostile values it can carry;
REFUSED_ENV_PAYLOADS must be findings). Renderers are also tested with every payload,
control characters included, on plan records built directly (tests/publish/test_render.py,
tests/publish/test_hostile_artifacts.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.catalogues import copy_models

MODEL_ID = "test-org/Hostile-8B"
SLUG = "test-org--Hostile-8B"
MARK = "__aimPwned"  # a payload that runs sets window.__aimPwned or creates a file named PWNED

# Markup, script-context, shell, compose/k8s interpolation and template payloads.
PAYLOADS = (
    f"<script>window.{MARK}=1</script>",
    f'<img src=x onerror="window.{MARK}=2">',
    f"</script><script>window.{MARK}=3</script>",
    f'"><svg onload="window.{MARK}=4">',
    f"javascript:window.{MARK}=5",
    "**bold** [link](javascript:alert(6)) `code` | pipe",
    "$(touch PWNED7)",
    "`touch PWNED8`",
    "; touch PWNED9 #",
    "| touch PWNED10",
    "' ; touch PWNED11 ; '",
    '" ; touch PWNED12 ; "',
    "${HOME}-13",
    "$(HOME)-14",
    "{{ 7*7 }}-15 {% raw %}",
    "&lt;b&gt;16&amp;",
    "back\\slash\\17",
    "<img src=x onerror=alert(18)>",
)
# Only where a field may span lines (notes): newline and terminal escapes.
LINE_PAYLOADS = (
    "line one\ntouch PWNED20 #",
    "tab\there-21\n$(touch PWNED21)\n</script><script>window.__aimPwned=21</script>",
)
# Env values an env file carries for sh and docker alike, hostile all the same.
ENV_PAYLOADS = (
    "PWNED1=--served-model-name=x",
    "a=b==c",
    "^lo,docker0",
    "@%+=:,./-^_",
    "-e",
    "HOME:/tmp/x",
    "%PATH%",
)
# Env values the validator must refuse (ENV_FILE_VALUE): shell and interpolation payloads.
REFUSED_ENV_PAYLOADS = PAYLOADS[6:14]


def payload(index: int) -> str:
    return PAYLOADS[index % len(PAYLOADS)]


def hostile_catalogue(root: Path, repo: Path, models: tuple[str, ...] = ()) -> Path:
    """Copy the catalogue at `repo` to `root` (only the `models` named by file stem, with their
    recipes, when given) and add the hostile model with an MI300X recipe for vLLM and SGLang;
    returns `root`."""
    if models:
        copy_models(repo, root, models)
    else:
        shutil.copytree(repo / "models", root / "models")
        shutil.copytree(repo / "recipes", root / "recipes")
    model = (repo / "models" / "qwen3-8b.yaml").read_text("utf-8")
    model = model.replace("model_id: Qwen/Qwen3-8B", f"model_id: {MODEL_ID}")
    model = _field(model, "name", payload(0), "family")
    model = _field(model, "family", payload(1), "size")
    model = _field(model, "description", " ".join(PAYLOADS), "license")
    model = _field(model, "license", payload(2), "gated")
    start, end = model.index("aim_recipes:"), model.index("variants:")
    model = model[:start] + "aim_recipes:\n- hostile-8b-mi300x-bf16\n" + model[end:]
    start, end = model.index("variants:"), model.index("provenance:")
    model = model[:start] + "variants: []\n" + model[end:]
    start = model.index("provenance:")
    provenance = [{"source": payload(i), "kind": "config", "figures": ["hidden_size"]} for i in range(3, 6)]
    model = model[:start] + "provenance: " + json.dumps(provenance) + "\nunverified: []\n"
    (root / "models" / "hostile-8b.yaml").write_text(model, "utf-8")
    env = {f"AIM_HOSTILE_{i}": value for i, value in enumerate(ENV_PAYLOADS[:-1])}
    recipe = {
        "recipe_id": "hostile-8b-mi300x-bf16",
        "model_id": MODEL_ID,
        "hardware": "MI300X",
        "precision": "bf16",
        "status": "untested",
        "notes": "\n".join(LINE_PAYLOADS),
        "env": env,
        "vllm_serve": {
            "1_gpu": {
                "enabled": True,
                "notes": LINE_PAYLOADS[0],
                "args": {"--dtype": "bfloat16", "--max-model-len": 32768, "--served-model-name": payload(6)},
                "env": {"AIM_HOSTILE_ENTRY": ENV_PAYLOADS[-1]},
            }
        },
        "sglang_serve": {
            "1_gpu": {
                "enabled": True,
                "notes": LINE_PAYLOADS[1],
                "args": {"--dtype": "bfloat16", "--context-length": 32768, "--served-model-name": payload(8)},
            }
        },
    }
    (root / "recipes" / "hostile-8b-mi300x-bf16.yaml").write_text(json.dumps(recipe, indent=1), "utf-8")
    return root


def _field(text: str, key: str, value: str, next_key: str) -> str:
    """Replace the value of top-level `key` (up to `next_key`) with a JSON (= YAML) string."""
    start, end = text.index(f"\n{key}:") + 1, text.index(f"\n{next_key}:") + 1
    return text[:start] + f"{key}: {json.dumps(value)}\n" + text[end:]
