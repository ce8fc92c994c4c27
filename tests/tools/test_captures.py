"""Engine-neutral captures of tools/flagdump, on a small argparse parser."""

from __future__ import annotations

import argparse

from tools.flagdump import captures
from tools.flagdump.serialise import dump_parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toy")
    parser.add_argument("--config", type=str, help="Read options from a YAML file.")
    parser.add_argument("--chat-template", type=str, help="A template file, read when the server starts.")
    parser.add_argument("--mode", type=str, choices=["a", "b"])
    return parser


def _launch(parser: argparse.ArgumentParser):
    """A launch that, like vLLM's and SGLang's, merges a --config file into argv before parsing."""

    def launch(argv: list[str]) -> str | None:
        try:
            if "--config" in argv:
                with open(argv[argv.index("--config") + 1], encoding="utf-8") as f:
                    argv = argv + f.read().split()
            parser.parse_args(argv)
        except (Exception, SystemExit) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    return launch


def test_files_read_at_launch_are_the_options_whose_missing_file_stops_it():
    parser = _parser()
    options = dump_parser(parser, fire_deprecated=False)["options"]
    found = captures.files_read_at_launch(options, _launch(parser), "toy.launch")
    assert list(found["options"]) == ["--config"]  # --chat-template is read later, --mode has choices
    assert "{path}" in found["options"]["--config"]["missing_file"]
    assert captures.PROBE_FILE not in str(found) and found["source"] == "toy.launch"


def test_no_option_is_listed_when_the_launch_reads_no_file():
    parser = _parser()
    options = dump_parser(parser, fire_deprecated=False)["options"]
    assert captures.files_read_at_launch(options, lambda argv: None, "toy")["options"] == {}
