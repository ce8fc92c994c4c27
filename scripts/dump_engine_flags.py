#!/usr/bin/env python3
"""Moved to tools/flagdump (``python -m tools.flagdump <engine> <version>`` from the repository
root); see tools/flagdump/README.md. This shim keeps ``python3 scripts/dump_engine_flags.py
vllm 0.33.0`` working."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.flagdump.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
