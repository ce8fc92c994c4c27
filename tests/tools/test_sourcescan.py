"""ast scans of engine source: env reads, environ prefix loops, deprecation messages."""

from __future__ import annotations

import ast
import textwrap

from tools.flagdump import sourcescan

SOURCE = textwrap.dedent(
    """
    import os
    from os import environ

    _MSG = "--old-flag is deprecated and will be removed in v2. " + "Use --new-flag instead."

    def read():
        a = os.environ.get("ENGINE_A", "1")
        b = os.getenv("ENGINE_B")
        c = os.environ["ENGINE_C"]
        d = "ENGINE_D" in os.environ
        e = get_bool_env_var("ENGINE_E")
        f = environ.get("not_an_env_name")
        g = os.environ.get(name_from_variable)
        return a, b, c, d, e, f, g

    def check():
        for key in list(os.environ.items()):
            if key.startswith("ENGINE_"):
                logger.warning("Unknown engine variable %s", key)

    class Args:
        def post_init(self):
            logger.warning(_MSG)
            logger.warning_once(f"--model-name {self.x} is deprecated; use the positional model")
            warnings.warn("The env variable ENGINE_X is deprecated. Please use `--new-flag 1` instead.")
            logger.info("nothing to see")
    """
)
TREE = ast.parse(SOURCE)


def test_env_reads():
    assert sourcescan.env_reads(TREE) == {"ENGINE_A", "ENGINE_B", "ENGINE_C", "ENGINE_D", "ENGINE_E"}


def test_environ_prefix_loops():
    assert sourcescan.environ_prefix_loops(TREE) == [("check", "ENGINE_")]


def test_module_constants_join_concatenations():
    assert sourcescan.module_constants(TREE)["_MSG"].endswith("Use --new-flag instead.")


def test_deprecation_messages_resolve_names_and_fstrings():
    found = sourcescan.deprecation_messages(TREE)
    assert [(m.where, m.call) for m in found] == [
        ("Args.post_init", "warning"),
        ("Args.post_init", "warning_once"),
        ("Args.post_init", "warn"),
    ]
    assert found[1].text == "--model-name {self.x} is deprecated; use the positional model"


def test_deprecated_options_are_the_subjects_not_the_replacements():
    table = {"--old-flag": "--old-flag", "--new-flag": "--new-flag", "--model-name": "--model-name"}
    messages = sourcescan.deprecation_messages(TREE)
    assert sourcescan.deprecated_options(messages[0].text, table) == ["--old-flag"]
    assert sourcescan.deprecated_options(messages[1].text, table) == ["--model-name"]
    # an env var is the subject: --new-flag is only the replacement
    assert sourcescan.deprecated_options(messages[2].text, table) == []
    assert sourcescan.deprecated_options("Deprecated: --old-flag, use --new-flag.", table) == ["--old-flag"]
    assert sourcescan.deprecated_options("--old_flag is deprecated", table) == ["--old-flag"]


def test_call_sites_and_class_dict_keys():
    tree = ast.parse("class P:\n    M = {'a': 1, 'b': 2}\n\ndef f(self):\n    P.validate(self.flag)\n")
    assert [where for where, _ in sourcescan.call_sites(tree, "validate")] == ["f"]
    assert sourcescan.class_dict_keys(tree, "P", "M") == ["a", "b"]
    assert sourcescan.class_dict_keys(tree, "P", "N") is None


def test_text_of_format_and_unknown():
    assert sourcescan.text_of(ast.parse("'x {}'.format(y)").body[0].value) == "x {}"
    assert sourcescan.text_of(ast.parse("some_call()").body[0].value) is None


def _module(name: str, source: str) -> sourcescan.Module:
    from pathlib import Path

    return sourcescan.Module(name, Path(name), ast.parse(textwrap.dedent(source)))


def test_unused_registry_variables_follow_stored_values_to_their_readers():
    registry = _module("pkg.envs", 'environment_variables = {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5}\n')
    ops = _module(
        "pkg.ops",
        """
        import pkg.envs as envs

        class Ops:
            _B = envs.B  # stored; only is_b() reads it and nothing calls is_b
            _C = envs.C  # stored; is_c() reads it and main() calls is_c

            @classmethod
            def is_b(cls):
                return cls._B

            @classmethod
            def is_c(cls):
                return cls._C

        def main():
            if envs.A:  # read directly
                return Ops.is_c()
            return getattr(envs, "E")  # a string naming the variable counts as a read
        """,
    )
    unused = sourcescan.unused_registry_variables([registry, ops], {"A", "B", "C", "D", "E"}, "pkg.envs")
    assert set(unused) == {"B", "D"}
    assert "is_b()" in unused["B"] and "nothing calls it" in unused["B"]
    assert "no code outside pkg.envs" in unused["D"]
