"""Read the published JSON API: a folder, a URL, or the copy inside the zipapp. Shared by
aim-pick and by the compiler's cache commands (which read a plan's checkpoint).

Only the files a lookup needs are read: index.json, one lookup file, one plan.
"""

from __future__ import annotations

import json
import os

from aim_pick.contract import layout, pack

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
    index: dict  # set by opened() once index.json is read

    def __init__(self, location: str | None):
        self.embedded: pack.Pack | None = None
        if location is None:
            loader = _embedded_loader()
            if loader is not None:
                self.location = f"{loader.archive}/{EMBEDDED_PREFIX}"
                try:
                    self.embedded = pack.in_zipapp(loader.archive)
                except pack.PackError as exc:
                    raise ApiError(f"the catalogue inside {loader.archive} is unreadable: {exc}") from None
                return
            location = os.path.join("build", "api")
        self.location = location
        self.is_url = location.startswith(("http://", "https://", "file://"))

    def read(self, relative: str):
        return self._parse(relative, self._bytes(relative))

    def _bytes(self, relative: str) -> bytes:
        try:
            if self.embedded is not None:
                raw = self.embedded.read(relative)
                if raw is None:
                    raise FileNotFoundError(relative)
                return raw
            if self.is_url:
                import urllib.request

                with urllib.request.urlopen(f"{self.location.rstrip('/')}/{relative}", timeout=10) as response:
                    return response.read()
            with open(os.path.join(self.location, relative), "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise ApiError(f"{relative} is not in the catalogue at {self.location}") from None
        except (OSError, pack.PackError) as exc:  # urllib errors are OSErrors too
            raise ApiError(f"cannot read {relative} from {self.location}: {exc}") from None

    def _parse(self, relative: str, raw: bytes):
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: nesting no catalogue file has
            raise ApiError(f"{relative} in {self.location} is not valid JSON (corrupt catalogue?)") from None

    def read_plan(self, plan_id: str, hardware: str | None = None, slug: str | None = None) -> dict:
        """One plan. The zipapp keeps plans in one nested pack per GPU type and model (see
        aim_engine/publish/pyz.py); a folder or URL has one file per plan."""
        if self.embedded is None:
            return self.read(layout.plan_path(plan_id))
        raw = self._embedded_plan(f"{hardware}/{slug}", plan_id) if hardware and slug else None
        if raw is None:
            index = self.read("plan-index.json")
            where = index.get(plan_id) if isinstance(index, dict) else None
            raw = self._embedded_plan(where, plan_id) if isinstance(where, str) else None
            if raw is None:
                raise ApiError(f"plans/{plan_id}.json is not in the catalogue at {self.location}")
        plan = self._parse(f"plans/{plan_id}.json", raw)
        if not isinstance(plan, dict):
            raise ApiError(f"plans/{plan_id}.json in {self.location} is not a plan")
        return plan

    def _embedded_plan(self, where: str, plan_id: str) -> bytes | None:
        assert self.embedded is not None
        try:
            bundle = self.embedded.pack(f"plan-bundles/{where}")
            return bundle.read(plan_id) if bundle is not None else None
        except (OSError, pack.PackError) as exc:
            raise ApiError(f"cannot read plan {plan_id} from {self.location}: {exc}") from None

    def exists(self, relative: str) -> bool:
        try:
            self.read(relative)
            return True
        except ApiError:
            return False


def open_api(explicit: str | None) -> Api:
    location = explicit or os.environ.get("AIM_API") or None
    return opened(Api(location))


def opened(api: Api) -> Api:
    """`api` with its index.json read and checked to be a catalogue's."""
    index = api.read("index.json")
    if not isinstance(index, dict) or not all(key in index for key in ("models", "hardware", "engines")):
        raise ApiError(f"index.json at {api.location} is not an AIM Engine catalogue")
    api.index = index
    return api
