"""Render a plan's artifacts (docker command, compose file, Kubernetes manifests, env
file, run script) from the Jinja2 templates in templates/.

What goes into each artifact is decided by `aim_pick.contract.deploy` (shared with the host
shim); the templates decide only how it is written. Escaping is done by construction, one
Jinja2 environment per template kind (`KINDS`), in the manner of autoescape:

- Every `{{ ... }}` goes through the kind's `finalize`: text that did not come from one of
  the kind's filters is written in the kind's default form, which is safe at any place in
  a file of that language, comments included: a YAML double-quoted scalar (control
  characters escaped), a POSIX shell word or a bare env-file value (both refuse text with a
  control character rather than change it).
- The filters say what the place is, and return text marked as written for it (`Safe`):
  `comment` (one line of comment text: control characters written as escapes by
  `aim_pick.contract.text.printable`), `yaml_str`, `yaml_value`, `yaml_plain`,
  `yaml_key`, `shquote`, `shell_words`, `env_name`, `env_value`. Kubernetes objects are
  written as block YAML by `yaml_documents` with the same `yaml_key` / `yaml_value`.
- Templates use no macros (a macro's text would be quoted again as one value) and Jinja2's
  `safe` filter is removed: there is no way to write data unescaped.

`$` is doubled where compose or Kubernetes would interpolate it by `deploy` itself, in the
data (aim-pick prints the same structures as JSON).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

from aim_engine.errors import AimError
from aim_pick.contract import deploy

TEMPLATES = resources.files("aim_engine.publish") / "templates"

# Characters a YAML double-quoted scalar must escape: C0/C1 controls, DEL, the
# characters YAML treats as line breaks, and the byte-order mark.
_YAML_ESCAPE = re.compile(
    '[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff"\\\\]|[\U00010000-\U0010ffff]'
)
_YAML_NAMED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}
# Plain YAML scalars a template may write unquoted (keys, DNS labels): letters, digits and
# '-', a letter first, and none of the words YAML 1.1 reads as booleans or null.
_YAML_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9-]*\Z")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_YAML_KEY = re.compile(r"[A-Za-z][A-Za-z0-9._/-]*\Z")


class Safe(str):
    """Text a filter wrote for its place in the file; `finalize` leaves it as it is."""

    __slots__ = ()


class ArtifactError(AimError):
    """Data an artifact cannot carry faithfully (a build error naming the recipe)."""


def yaml_str(value: Any) -> str:
    """A YAML double-quoted scalar that reads back as exactly `value` (as text)."""
    return _quoted(str(value))


@lru_cache(maxsize=16384)  # a build writes the same names, images and paths thousands of times
def _quoted(text: str) -> str:
    def escape(match: re.Match) -> str:
        ch = match.group(0)
        if ch in _YAML_NAMED:
            return _YAML_NAMED[ch]
        code = ord(ch)
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"

    return '"' + _YAML_ESCAPE.sub(escape, text) + '"'


def yaml_value(value: Any) -> str:
    """Numbers and booleans as YAML scalars, everything else as a quoted string."""
    if type(value) is str:  # most scalars of a bundle: straight to the cached quoting
        return _quoted(value)
    if type(value) is int:  # what json.dumps writes for an int, without building an encoder per call
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if value is None:
        return "null"
    if isinstance(value, (dict, list)) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    return yaml_str(value)


def yaml_plain(value: Any) -> str:
    """A key or DNS label written unquoted; anything YAML would read otherwise is refused."""
    text = str(value)
    if not _YAML_PLAIN.match(text) or text.lower() in _YAML_WORDS:
        raise deploy.DeployError(
            f"{deploy.one_line(repr(text))} cannot be an unquoted YAML name (letters, digits and -, a letter first)"
        )
    return text


def yaml_key(value: Any) -> str:
    """A mapping key: plain when YAML reads it back as the same string (Kubernetes field and
    label names: letters, digits, . _ / -, a letter first, no boolean word), else quoted."""
    return _key(str(value))


@lru_cache(maxsize=4096)
def _key(text: str) -> str:
    if _YAML_KEY.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return yaml_str(text)


def _block_lines(node: dict | list, first: str, rest: str, out: list[str]) -> None:
    """Append `node` (mappings, sequences and scalars, as JSON holds them) as block-style lines:
    its first line indented by `first`, the others by `rest` (they differ after a sequence dash);
    keys through yaml_key, scalars (and empty mappings or sequences) through yaml_value."""
    if isinstance(node, dict):
        inner = rest + "  "
        for key, value in node.items():
            written = _key(key) if type(key) is str else yaml_key(key)
            if value and isinstance(value, (dict, list)):
                out.append(f"{first}{written}:\n")
                _block_lines(value, inner, inner, out)
            else:
                out.append(f"{first}{written}: {yaml_value(value)}\n")
            first = rest
        return
    for item in node:
        if type(item) is str:
            out.append(f"{first}- {_quoted(item)}\n")
        elif isinstance(item, dict) and item:
            _block_lines(item, first + "- ", first + "  ", out)
        elif isinstance(item, list) and item:
            raise deploy.DeployError("a sequence directly inside a sequence has no block form here")
        else:
            out.append(f"{first}- {yaml_value(item)}\n")


def comment(value: Any) -> str:
    """Text for one comment line, in any of the languages: no line break or other control
    character (written as escapes, like lone surrogates, which no file can hold)."""
    return deploy.one_line(str(value))


def shell_word(value: Any) -> str:
    """One POSIX shell word on one line (the shell kind's default): control characters refused."""
    text = str(value)
    if _CONTROL.search(text):
        raise deploy.DeployError(
            f"{deploy.one_line(repr(text))} has a control character: it cannot be one shell word on a line"
        )
    return shlex.quote(text)


def shell_words(argv: list[str]) -> str:
    """A command line whose words are exactly `argv` (values keep every character, quoted)."""
    if isinstance(argv, str):
        raise TypeError("shell_words takes a list of words, not a string")
    return deploy.shell_command(list(argv))


def shell_node_words(argv: list[str]) -> str:
    """`shell_words`, except that the words only a host knows (deploy.RANK_WORD, ADDRESS_WORD)
    are written as the script's "$NODE_RANK" and "$LEADER_ADDR" (everything else quoted)."""
    if isinstance(argv, str):
        raise TypeError("shell_node_words takes a list of words, not a string")
    stand_ins = {deploy.RANK_WORD: '"$NODE_RANK"', deploy.ADDRESS_WORD: '"$LEADER_ADDR"'}
    words = []
    for word in argv:
        parts = re.split(f"({'|'.join(map(re.escape, stand_ins))})", word)
        written = [stand_ins.get(part) or shell_word(part) for part in parts if part]
        words.append("".join(written) or "''")
    return " ".join(words)


def env_name(value: Any) -> str:
    text = str(value)
    if not deploy.ENV_NAME.match(text):
        raise deploy.DeployError(
            f"environment variable name {deploy.one_line(repr(text))} is not a portable name", text
        )
    return text


def env_value(value: Any, name: str | None = None) -> str:
    """A value after `NAME=` that `set -a; . file` and `docker --env-file` read the same."""
    return deploy.env_value(name, str(value))


def _safe(function: Callable[..., str]) -> Callable[..., Safe]:
    return lambda value, *args: Safe(function(value, *args))


def _finalize(default: Callable[[Any], str]) -> Callable[[Any], str]:
    def finalize(value: Any) -> str:
        if type(value) is Safe:
            return value  # written by one of this kind's filters
        return default(value)

    return finalize


# Every kind can show a shell command in a comment: `| shquote | comment`, `| shell_words | comment`.
_COMMON = {"comment": comment, "shquote": shell_word, "shell_words": shell_words}
_YAML = {
    "yaml_str": yaml_str,
    "yaml_value": yaml_value,
    "yaml_plain": yaml_plain,
    "yaml_key": yaml_key,
    **_COMMON,
}
_SHELL = {**_COMMON, "shell_node_words": shell_node_words}
_ENV = {"env_name": env_name, "env_value": env_value, **_COMMON}
# template kind -> (default for unfiltered text, the kind's filters)
KINDS: dict[str, tuple[Callable[[Any], str], dict[str, Callable[..., str]]]] = {
    "yaml": (yaml_str, _YAML),
    "shell": (shell_word, _SHELL),
    "env": (env_value, _ENV),
}
TEMPLATE_KINDS = {
    "compose.yaml.j2": "yaml",
    "k8s.yaml.j2": "yaml",
    "docker-run.sh.j2": "shell",
    "plan.env.j2": "env",
}


def kind_of(template: str) -> str:
    if template in TEMPLATE_KINDS:
        return TEMPLATE_KINDS[template]
    for suffix, kind in ((".yaml.j2", "yaml"), (".sh.j2", "shell"), (".env.j2", "env")):
        if template.endswith(suffix):
            return kind
    raise ValueError(f"no template kind for {template} (expected *.yaml.j2, *.sh.j2 or *.env.j2)")


@lru_cache(maxsize=8)
def environment(kind: str, template_dir: str | None = None) -> jinja2.Environment:
    default, filters = KINDS[kind]
    folders = [template_dir] if template_dir else []
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(TEMPLATES)]),
        autoescape=False,  # not HTML: `finalize` escapes for this kind's language
        finalize=_finalize(default),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates do not change during a build: no stat of the file per render
    )
    for hatch in ("safe", "escape", "e", "forceescape"):  # HTML's, and the way around finalize
        env.filters.pop(hatch, None)
    env.filters.update({name: _safe(function) for name, function in filters.items()})
    return env


def render(template: str, **context: Any) -> str:
    return str(environment(kind_of(template)).get_template(template).render(**context))


def _context(plan: dict, options: deploy.DeployOptions) -> dict[str, Any]:
    return {"plan": plan, "options": options, "cache_root": deploy.CACHE_ROOT}


def compose_text(plan: dict, options: deploy.DeployOptions = deploy.DEFAULT_OPTIONS) -> str:
    return render(
        "compose.yaml.j2",
        name=deploy.k8s_name(plan),
        service=deploy.compose_service(plan, options),
        **_context(plan, options),
    )


# bundle file -> its template (each writes its comments, then its objects as `documents`: yaml_documents)
K8S_TEMPLATES = {
    deploy.K8S_MANIFESTS: "k8s.yaml.j2",
    deploy.K8S_KUSTOMIZATION: "k8s-kustomization.yaml.j2",
    deploy.K8S_HPA: "k8s-hpa.yaml.j2",
    deploy.K8S_SECRET: "k8s-secret.yaml.j2",
}


def yaml_documents(objects: list[dict]) -> Safe:
    """The objects as YAML block documents, `---` between them, keys and scalars written by the
    same functions as the templates' filters (yaml_key, yaml_value). Written here rather than
    by a template loop, which took most of a build's time: a bundle has thousands of lines."""
    out: list[str] = []
    for i, node in enumerate(objects):
        if i:
            out.append("---\n")
        _block_lines(node, "", "", out)
    return Safe("".join(out))


def _k8s_render(template: str, objects: list[dict], plan: dict, options: deploy.DeployOptions) -> str:
    documents = yaml_documents(objects)
    return render(
        template,
        objects=objects,
        documents=documents,
        claim=deploy.cache_claim(plan, options),
        name=deploy.k8s_name(plan),
        deploy=deploy,
        **_context(plan, options),
    )


def k8s_text(plan: dict, options: deploy.DeployOptions = deploy.DEFAULT_OPTIONS) -> str:
    """The bundle's manifests file (`deploy.k8s_objects`)."""
    return _k8s_render("k8s.yaml.j2", deploy.k8s_objects(plan, options), plan, options)


def k8s_bundle(plan: dict, options: deploy.DeployOptions = deploy.DEFAULT_OPTIONS) -> dict[str, str]:
    """Every file of the plan's Kubernetes bundle (a `kubectl apply -k` folder), by name."""
    return {
        name: _k8s_render(K8S_TEMPLATES[name], objects, plan, options)
        for name, objects in deploy.k8s_files(plan, options).items()
    }


def env_text(plan: dict, options: deploy.DeployOptions = deploy.DEFAULT_OPTIONS) -> str:
    return render(
        "plan.env.j2", env=deploy.env_file(plan, options), bare_chars=deploy.ENV_BARE_CHARS, **_context(plan, options)
    )


def script_text(plan: dict, options: deploy.DeployOptions = deploy.DEFAULT_OPTIONS) -> str:
    return render("docker-run.sh.j2", docker_argv=deploy.docker_argv(plan, options), **_context(plan, options))


def node_script_text(plan: dict, role: str, options: deploy.DeployOptions = deploy.DEFAULT_OPTIONS) -> str:
    """The `docker run` script of one host of a multi-node plan (leader or worker)."""
    argv = deploy.docker_node_argv(plan, role == "leader", options)
    return render(
        "docker-run-node.sh.j2", docker_argv=argv, role=role, nodes=deploy.nodes(plan), **_context(plan, options)
    )


def artifacts(plan: dict, options: deploy.DeployOptions = deploy.DEFAULT_OPTIONS) -> dict[str, Any]:
    """The docker argv and command plus the text of every artifact file for `plan`.

    Data an artifact cannot carry (an env value both env-file readers would not read the
    same, a variable name no shell can assign) is an ArtifactError naming the recipe."""
    made: dict[str, Any] = {}
    try:
        if deploy.nodes(plan) > 1:
            # compose and one `docker run` cannot span hosts: a script per role instead
            made["node_scripts"] = {role: node_script_text(plan, role, options) for role in ("leader", "worker")}
        else:
            made["docker_argv"] = deploy.docker_argv(plan, options)
            made["docker_command"] = deploy.shell_command(made["docker_argv"])
            made["compose"] = compose_text(plan, options)
            made["script"] = script_text(plan, options)
        made["k8s_bundle"] = k8s_bundle(plan, options)
        made["k8s"] = made["k8s_bundle"][deploy.K8S_MANIFESTS]
        made["env"] = env_text(plan, options)
    except deploy.DeployError as exc:
        raise ArtifactError(
            f"recipe {comment(plan.get('recipe_id'))} (plan {comment(plan.get('plan_id'))}): {exc}"
        ) from None
    return made
