"""Read the published JSON API: a folder, a URL, or the copy inside the zipapp. Shared by
aim-pick and by the compiler's cache commands (which read a plan's checkpoint).

Only the files a lookup needs are read: index.json, one lookup file, one plan.
"""

from __future__ import annotations

import json
import os

from aim_pick.contract import layout

EXIT_CATALOGUE = 5  # aim-pick's exit status for a missing or corrupt catalogue


class ApiError(Exception):
    """The catalogue is missing or corrupt."""

    exit_code = EXIT_CATALOGUE

    def __str__(self) -> str:
        return "catalogue missing or corrupt: " + super().__str__()


EMBEDDED_PREFIX = "api/"


def _embedded_loader():
    """The zipimport loader when running from build/aim-pick.pyz, else None."""
    loader = globals().get("__loader__")
    archive = getattr(loader, "archive", None)
    return loader if archive and hasattr(loader, "get_data") else None


class Api:
    index: dict  # set by open_api once index.json is read

    def __init__(self, location: str | None):
        self.embedded = None
        if location is None:
            loader = _embedded_loader()
            if loader is not None:
                self.embedded = loader
                self.location = f"{loader.archive}/{EMBEDDED_PREFIX}"
                return
            location = os.path.join("build", "api")
        self.location = location
        self.is_url = location.startswith(("http://", "https://", "file://"))

    def read(self, relative: str):
        try:
            if self.embedded is not None:
                raw = self.embedded.get_data(os.path.join(self.embedded.archive, EMBEDDED_PREFIX + relative))
            elif self.is_url:
                import urllib.request

                with urllib.request.urlopen(f"{self.location.rstrip('/')}/{relative}", timeout=10) as response:
                    raw = response.read()
            else:
                with open(os.path.join(self.location, relative), "rb") as handle:
                    raw = handle.read()
        except FileNotFoundError:
            raise ApiError(f"{relative} is not in the catalogue at {self.location}") from None
        except OSError as exc:  # urllib errors are OSErrors too
            raise ApiError(f"cannot read {relative} from {self.location}: {exc}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(f"{relative} in {self.location} is not valid JSON (corrupt catalogue?)") from None

    def read_plan(self, plan_id: str, hardware: str | None = None, slug: str | None = None) -> dict:
        """One plan. The zipapp keeps plans bundled per GPU type and model (see
        aim_engine/shim.py); a folder or URL has one file per plan."""
        if self.embedded is None:
            return self.read(layout.plan_path(plan_id))
        where = f"{hardware}/{slug}" if hardware and slug else None
        bundle = self.read(f"plan-bundles/{where}.json") if where else {}
        if plan_id not in bundle:
            where = self.read("plan-index.json").get(plan_id)
            if where is None:
                raise ApiError(f"plans/{plan_id}.json is not in the catalogue at {self.location}")
            bundle = self.read(f"plan-bundles/{where}.json")
        if not isinstance(bundle, dict) or plan_id not in bundle:
            raise ApiError(f"the plan bundle for {plan_id} in {self.location} is malformed")
        return bundle[plan_id]

    def exists(self, relative: str) -> bool:
        try:
            self.read(relative)
            return True
        except ApiError:
            return False


def open_api(explicit: str | None) -> Api:
    location = explicit or os.environ.get("AIM_API") or None
    api = Api(location)
    index = api.read("index.json")
    if not isinstance(index, dict) or not all(key in index for key in ("models", "hardware", "engines")):
        raise ApiError(f"index.json at {api.location} is not an AIM Engine catalogue")
    api.index = index
    return api
