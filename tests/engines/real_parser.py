"""Run inside an engine's flag-dump venv (tools/flagdump, /tmp/aim-engine-flags/<engine>-<ver>):
parse argv lists with the engine's real parser, built exactly as tools/flagdump builds it.

stdin: JSON {"engine": "vllm"|"sglang", "argvs": [[...], ...]} (engine arguments only, for vLLM
starting with the positional model); stdout: JSON list, per argv null (parsed) or the parser's
error message. Only the standard library and tools.flagdump are imported at module level.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys


def main() -> int:
    request = json.load(sys.stdin)
    engine = request["engine"]
    from tools.flagdump import fakes
    from tools.flagdump.engines import ENGINES

    fakes.install_fakes(engine, ENGINES[engine])
    module = importlib.import_module(f"tools.flagdump.{engine}_engine")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        built = module.build_parser()
    results = []
    for argv in request["argvs"]:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                if engine == "vllm":
                    built.root.parse_args(["serve", *argv])  # FlexibleArgumentParser rewrites argv first
                else:
                    built.parser.parse_args(argv)
            results.append(None)
        except SystemExit:
            results.append(err.getvalue().strip().splitlines()[-1:] or ["exit"])
        except Exception as exc:  # the parser's own type functions raise
            results.append([f"{type(exc).__name__}: {exc}"])
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
