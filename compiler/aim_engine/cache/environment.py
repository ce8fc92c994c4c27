"""`cache env` and `cache volumes`: what an engine needs to use a cached model.

The values come from `aim_pick.contract.deploy`, the code that writes the artifacts, so
they cannot drift: HF_HOME is the mounted cache (the root itself for an engine run on
the host), HF_HUB_OFFLINE=1 only once the checkpoint is complete, HF_TOKEN passed by name
for gated models. Whether a model is gated comes from the index (recorded from the hub
by a download) or from an explicit catalogue: `--api` (a built API folder or URL), else
the model files under `--root` (default: the current folder's models/).

Printed as `KEY=value` lines, every value is shell-quoted and every comment is one line,
so `set -a; . file` reads exactly the values shown and never runs anything.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from aim_engine.cache import CacheError
from aim_engine.cache.index import load_index
from aim_engine.cache.names import printable
from aim_pick.contract.cache_state import snapshot_state
from aim_pick.contract.deploy import CACHE_ROOT, DeployError, cache_environment, env_assignment, one_line, token_env


@dataclasses.dataclass(frozen=True)
class Gating:
    """Whether a model is gated (None: nobody said) and where that was looked up, in words."""

    gated: bool | None
    source: str


def _api_gated(repo_id: str, location: str) -> Gating:
    from aim_pick.contract.reader import ApiError, open_api

    where = f"the catalogue API at {printable(location)}"
    if not location:
        return Gating(None, "--api is empty")
    try:
        index = getattr(open_api(location), "index", {})  # open_api checked it is a catalogue's index
    except ApiError as exc:
        return Gating(None, f"{where} could not be read ({printable(str(exc))})")
    except RecursionError:
        return Gating(None, f"{where} could not be read (its index.json nests too deeply)")
    models = index.get("models")
    for model in models if isinstance(models, list) else []:
        if isinstance(model, dict) and model.get("model_id") == repo_id:
            return Gating(bool(model.get("gated")), where)
    return Gating(None, f"{where} does not list {repo_id}")


def _models_gated(repo_id: str, catalogue_root: Path) -> Gating:
    from aim_engine.catalogue.load import yaml_files  # yaml only when a catalogue is read
    from aim_engine.catalogue.yamlsource import YamlError, load_yaml

    folder = catalogue_root / "models"
    where = f"the model files in {printable(str(folder))}"
    if not folder.is_dir():
        return Gating(None, f"there is no catalogue at {printable(str(folder.absolute()))} (pass --root or --api)")
    for path in yaml_files(folder):
        try:
            if repo_id not in path.read_text("utf-8", errors="replace"):
                continue  # a model file names its id verbatim: skip parsing the others
            data = load_yaml(path).data
        except (OSError, YamlError):
            continue  # `aim-engine validate` reports broken files; here they just say nothing
        if isinstance(data, dict) and data.get("model_id") == repo_id:
            return Gating(data.get("gated") is True, where)
    return Gating(None, f"{where} do not describe {repo_id}")


def catalogue_gated(repo_id: str, api: str | Path | None = None, catalogue_root: Path | None = None) -> Gating:
    """What the catalogue says about `repo_id` being gated, needed before the first
    download, when the index cannot know yet: the API at `api` if given, else the model
    files under `catalogue_root` (default: the current folder). Never raises: an unreadable
    catalogue is an unknown answer, with the reason in `source`."""
    if api is not None:
        return _api_gated(repo_id, str(api))
    return _models_gated(repo_id, Path(".") if catalogue_root is None else catalogue_root)


@dataclasses.dataclass(frozen=True)
class EngineEnvironment:
    values: dict[str, str]  # variables with their values
    pass_through: list[str]  # variables passed by name from the caller's environment (HF_TOKEN)
    state: dict[str, Any]  # the checkpoint's snapshot state (aim_pick.contract.cache_state)
    gating: Gating  # where gating was learnt (the index, or the catalogue)


def model_environment(
    root: Path,
    repo_id: str,
    host: bool = False,
    api_dir: str | Path | None = None,
    catalogue_root: Path | None = None,
) -> EngineEnvironment:
    """The environment for running an engine on `repo_id` from this cache.

    Gated if the index recorded it from the hub or the catalogue says so (see
    `catalogue_gated` for which catalogue); HF_TOKEN is then passed by name, never valued.
    """
    state = snapshot_state(str(root), repo_id)
    recorded = load_index(root).get(repo_id, {}).get("gated")
    if recorded is True:
        gating = Gating(True, "the cache index (recorded from the hub by a download)")
    else:
        catalogue = catalogue_gated(repo_id, api_dir, catalogue_root)
        if catalogue.gated is True or (catalogue.gated is False and recorded is not False):
            gating = catalogue
        elif recorded is False:
            gating = Gating(False, "the cache index (recorded from the hub by a download)")
        else:
            gating = Gating(None, f"it is not in the cache index, and {catalogue.source}")
    values = cache_environment(str(root), state["complete"], host=host)
    return EngineEnvironment(dict(sorted(values.items())), token_env(gating.gated is True), state, gating)


def model_volumes(root: Path) -> list[str]:
    """The bind mount the artifacts use: `<root>:/workspace/model-cache`."""
    return [f"{root}:{CACHE_ROOT}"]


def shell_assignment(key: str, value: str) -> str:
    """`KEY=value` as the generated env files write it (`deploy.env_assignment`): bare where
    a shell and `docker --env-file` read it alike, else shell-quoted (exact for `set -a; . file`)."""
    try:
        return env_assignment(key, value, quote=True)
    except DeployError as exc:
        raise CacheError(str(exc), 2) from None


def comment(text: str) -> str:
    """A `# ...` line: data in it cannot end the comment and start a command."""
    return f"# {one_line(text)}"
