"""Time the catalogue site build and weigh the largest model page and builder data file.

Run: .venv/bin/python bench/bench_site.py [--scales 1,10]
Targets: site build <= 60 s for the shipped catalogue (it writes the JSON API, every plan's
compose file, manifests and multi-node scripts and the builder data into the site besides the
pages); largest model page <= 400 KB (the page's own HTML, without the theme's shared
CSS/JS/fonts; every tab's command is written twice, as shown and as copied, in character
references); largest builder data file (one model on one GPU type, loaded only when that GPU is
chosen) <= 500 KB.

Measured 2026-12-01 on the 2-core shared machine, 49 models / 8,500 plans: site build 38.5 s
(19.2 s before the command builder, with 8,140 plans and no API copy); largest model page
368 KB (was 271 KB); largest builder data 434 KB.
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
            data = sorted((site / "models").glob("*.plans/*.js"), key=lambda p: p.stat().st_size)
            print(
                f"x{scale:<3} {len(pages):>4} model pages: site build {seconds:6.2f} s; largest model page "
                f"{largest.stat().st_size / 1024:.1f} KB ({largest.name}); largest builder data "
                f"{data[-1].stat().st_size / 1024:.1f} KB ({data[-1].parent.name}/{data[-1].name})",
                flush=True,
            )
    print("targets: shipped site build <= 60 s; largest model page <= 400 KB; builder data <= 500 KB")


if __name__ == "__main__":
    main()
