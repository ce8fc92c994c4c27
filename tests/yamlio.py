"""YAML as the tests read it: PyYAML's safe loader through libyaml (CSafeLoader), which gives the
same documents as yaml.safe_load about ten times faster. Several test modules read hundreds of
catalogue and fixture files while pytest collects them."""

from __future__ import annotations

from typing import Any

import yaml


def safe_load(text: str) -> Any:
    # a PyYAML built without libyaml has no CSafeLoader: the pure-Python loader reads the same
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
