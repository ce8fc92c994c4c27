"""Render a plan's artifacts (docker command, compose file, Kubernetes manifests, env
file, run script) from the Jinja2 templates in templates/.

What goes into each artifact is decided by `aim_pick.contract.deploy` (shared with the host
shim); the templates decide only how it is written. Every value that comes from data
passes through a quoting filter for its language.
"""

from __future__ import annotations

import json
import re
import shlex
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

from aim_pick.contract import deploy

TEMPLATES = resources.files("aim_engine.publish") / "templates"

# Characters a YAML double-quoted scalar must escape: C0/C1 controls, DEL, the
# characters YAML treats as line breaks, and the byte-order mark.
_YAML_ESCAPE = re.compile(
    '[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff"\\\\]|[\U00010000-\U0010ffff]'
)
_YAML_NAMED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}


def yaml_str(value: Any) -> str:
    """A YAML double-quoted scalar that reads back as exactly `value` (as text)."""
    text = str(value)

    def escape(match: re.Match) -> str:
        ch = match.group(0)
        if ch in _YAML_NAMED:
            return _YAML_NAMED[ch]
        code = ord(ch)
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return '"' + _YAML_ESCAPE.sub(escape, text) + '"'


def yaml_value(value: Any) -> str:
    """Numbers and booleans as YAML scalars, everything else as a quoted string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if value is None:
        return "null"
    return yaml_str(value)


@lru_cache(maxsize=8)
def environment(template_dir: str | None = None) -> jinja2.Environment:
    folders = [template_dir] if template_dir else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(TEMPLATES)]),
        autoescape=False,  # YAML and shell: quoting is done by the filters below
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(yaml_str=yaml_str, yaml_value=yaml_value, shquote=shlex.quote)
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def artifacts(plan: dict, options: deploy.DeployOptions = deploy.DEFAULT_OPTIONS) -> dict[str, Any]:
    """The docker argv and command plus the text of every artifact file for `plan`."""
    argv = deploy.docker_argv(plan, options)
    command = deploy.shell_command(argv)
    context = {"plan": plan, "options": options, "cache_root": deploy.CACHE_ROOT}
    return {
        "docker_argv": argv,
        "docker_command": command,
        "compose": render(
            "compose.yaml.j2", name=deploy.k8s_name(plan), service=deploy.compose_service(plan, options), **context
        ),
        "k8s": render("k8s.yaml.j2", objects=deploy.k8s_objects(plan, options), **context),
        "env": render(
            "plan.env.j2",
            env=deploy.env_file(plan, options),
            native=deploy.shell_command(plan["engine_argv"]),
            **context,
        ),
        "script": render("docker-run.sh.j2", docker_command=command, **context),
    }
