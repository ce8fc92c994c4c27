"""Make a synthetic catalogue: the shipped one repeated `scale` times under new model ids.

Each copy renames every model (org/name -> org/name-s<k>) and its recipes, so the
planner sees `scale` times as many models with the same shapes. Used by the build and
site benchmarks to show how time grows with catalogue size.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make(root: Path, scale: int) -> Path:
    if root.exists():
        shutil.rmtree(root)
    (root / "models").mkdir(parents=True)
    (root / "recipes").mkdir()
    models = sorted((REPO / "models").glob("*.yaml"))
    recipes = sorted((REPO / "recipes").glob("*.yaml"))
    ids = {}
    for path in models:
        text = path.read_text()
        ids[path.stem] = re.search(r"^model_id: (\S+)", text, re.M).group(1)
    for k in range(scale):
        suffix = f"-s{k}" if k else ""
        for path in models:
            text = path.read_text()
            model_id = ids[path.stem]
            text = text.replace(f"model_id: {model_id}\n", f"model_id: {model_id}{suffix}\n", 1)
            text = re.sub(r"^name: (.+)$", lambda m, s=suffix: f"name: {m.group(1)}{s}", text, count=1, flags=re.M)
            text = re.sub(
                r"^(- )([a-z0-9.-]+-mi\d+x-[a-z0-9]+)$",
                lambda m, s=suffix: f"{m.group(1)}{m.group(2)}{s}",
                text,
                flags=re.M,
            )
            (root / "models" / f"{path.stem}{suffix}.yaml").write_text(text)
        for path in recipes:
            text = path.read_text()
            model_id = re.search(r"^model_id: (\S+)", text, re.M).group(1)
            text = re.sub(
                r"^recipe_id: (\S+)$", lambda m, s=suffix: f"recipe_id: {m.group(1)}{s}", text, count=1, flags=re.M
            )
            text = text.replace(f"model_id: {model_id}\n", f"model_id: {model_id}{suffix}\n", 1)
            # the checkpoint stays the real repo: variants are shared, the base id is renamed
            text = text.replace(f"--model: {model_id}\n", f"--model: {model_id}{suffix}\n")
            text = text.replace(f"--model-path: {model_id}\n", f"--model-path: {model_id}{suffix}\n")
            (root / "recipes" / f"{path.stem}{suffix}.yaml").write_text(text)
    return root
