"""Time the catalogue site build and weigh the largest model page.

Run: .venv/bin/python bench/bench_site.py [--scales 1,10]
Targets: site build <= 20 s for the shipped catalogue; largest model page <= 200 KB
(the page's own HTML, without the theme's shared CSS/JS/fonts).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "compiler"))
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402
from aim_engine.build import compile_catalogue  # noqa: E402
from aim_engine.publish.site import build_site  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,10")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for scale in [int(s) for s in args.scales.split(",")]:
            root = synthetic.make(Path(tmp) / f"cat{scale}", scale) if scale > 1 else synthetic.REPO
            api = compile_catalogue(root)
            site = Path(tmp) / f"site{scale}"
            start = time.perf_counter()
            build_site(api.files, site)
            seconds = time.perf_counter() - start
            pages = sorted((site / "models").glob("*.html"), key=lambda p: p.stat().st_size)
            largest = pages[-1]
            print(
                f"x{scale:<3} {len(pages):>4} model pages: site build {seconds:6.2f} s; largest model page "
                f"{largest.stat().st_size / 1024:.1f} KB ({largest.name})",
                flush=True,
            )
    print("targets: shipped site build <= 20 s; largest model page <= 200 KB")


if __name__ == "__main__":
    main()
