"""A loopback stand-in for the Hugging Face Hub, answering what huggingface_hub 2.4.0 asks.

Real HTTP on 127.0.0.1 (two origins: the hub and a "CDN" for LFS content, so the client's
cross-host redirect handling is exercised as against huggingface.co):

    GET       /api/models/{org}/{name}[/revision/{rev}]   model_info / repo_info (siblings, gated, card)
    GET       /api/models/{org}/{name}/tree/{rev}[/path]  list_repo_tree (snapshot_download, verify)
    HEAD/GET  /{org}/{name}/resolve/{rev}/{path}          small files: 200, ETag = git blob sha1;
                                                          LFS files: 302 to the CDN with X-Linked-Etag
                                                          (sha256) and X-Linked-Size; X-Repo-Commit always
    HEAD/GET  /cdn/{sha256}                               LFS content, with Range (206 + Content-Range)

Errors carry the hub's X-Error-Code: RepoNotFound, RevisionNotFound, EntryNotFound, and
GatedRepo (401 without a token, 403 with a token the repo has not granted).

Test controls: cut a transfer once at an offset (the connection drops mid-body), stall one
at an offset until released (so a client can be killed mid-download), slow every transfer
down, and a log of every request.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

CHUNK = 64 * 1024


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Repo:
    repo_id: str
    commits: dict[str, dict[str, bytes]]  # commit -> path -> content
    refs: dict[str, str]  # branch or tag -> commit
    gated: str | bool = False  # False, "auto" or "manual", as the hub reports it
    tokens: tuple[str, ...] = ()  # tokens granted access to a gated repo
    card: dict = field(default_factory=lambda: {"license": "apache-2.0"})

    def is_lfs(self, path: str, data: bytes) -> bool:
        return path.endswith((".safetensors", ".pth", ".bin")) or len(data) > 2000

    def commit(self, revision: str) -> str | None:
        return revision if revision in self.commits else self.refs.get(revision)


@dataclass
class Stall:
    offset: int
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


class FakeHub:
    def __init__(self, repos: list[Repo]):
        self.repos = {r.repo_id: r for r in repos}
        self.blobs = {
            sha256(d): d for r in repos for files in r.commits.values() for p, d in files.items() if r.is_lfs(p, d)
        }
        self.lock = threading.Lock()
        self.reset()

    # controls
    def reset(self) -> None:
        with self.lock:
            self.log: list[dict] = []
            self.cuts: dict[str, int] = {}
            self.stalls: dict[str, Stall] = {}
            self.chunk_delay = 0.0

    def cut_once(self, blob: str, offset: int) -> None:
        self.cuts[blob] = offset

    def stall(self, blob: str, offset: int) -> Stall:
        self.stalls[blob] = Stall(offset)
        return self.stalls[blob]

    def requests(self, method: str | None = None, contains: str = "") -> list[dict]:
        with self.lock:
            return [r for r in self.log if (method is None or r["method"] == method) and contains in r["path"]]

    # lifecycle
    def start(self) -> FakeHub:
        self.servers = []
        for role in ("api", "cdn"):
            handler = type(f"{role}Handler", (Handler,), {"hub": self, "role": role})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)
        self.endpoint = f"http://127.0.0.1:{self.servers[0].server_address[1]}"
        self.cdn = f"http://127.0.0.1:{self.servers[1].server_address[1]}"
        return self

    def stop(self) -> None:
        for stall in self.stalls.values():
            stall.release.set()
        for server in self.servers:
            server.shutdown()
            server.server_close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub
    role: str

    def log_message(self, *args) -> None:  # keep test output clean; the hub keeps its own log
        pass

    def do_HEAD(self) -> None:
        self.dispatch(head=True)

    def do_GET(self) -> None:
        self.dispatch(head=False)

    def dispatch(self, head: bool) -> None:
        url = urlsplit(self.path)
        with self.hub.lock:
            self.hub.log.append(
                {
                    "method": self.command,
                    "role": self.role,
                    "path": unquote(url.path),
                    "query": url.query,
                    "range": self.headers.get("Range"),
                    "auth": self.headers.get("Authorization"),
                }
            )
        parts = [unquote(p) for p in url.path.lstrip("/").split("/")]
        try:
            if self.role == "cdn":
                data = self.hub.blobs.get(parts[-1]) if parts[0] == "cdn" else None
                if data is None:
                    return self.error(404, None, "no such object", head)
                return self.content(data, head, parts[-1], {"ETag": f'"{parts[-1]}"'})
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                return self.api(parts[2:], parse_qs(url.query), head)
            if len(parts) >= 5 and parts[2] == "resolve":
                return self.resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), head)
            self.error(404, None, "not found", head)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # responses
    def send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict | None = None,
        head: bool = False,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def error(self, status: int, code: str | None, message: str, head: bool, headers: dict | None = None) -> None:
        headers = {"X-Error-Message": message, **({"X-Error-Code": code} if code else {}), **(headers or {})}
        self.send(status, json.dumps({"error": message}).encode(), headers, head)

    def content(self, data: bytes, head: bool, key: str, headers: dict) -> None:
        start, end, status = 0, len(data) - 1, 200
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if match:
            start, status = int(match.group(1)), 206
            end = min(int(match.group(2)), len(data) - 1) if match.group(2) else len(data) - 1
            if start >= len(data):
                return self.error(416, None, "range not satisfiable", head)
            headers = {**headers, "Content-Range": f"bytes {start}-{end}/{len(data)}"}
        body = data[start : end + 1]
        self.send_response(status)
        for k, v in {
            **headers,
            "Accept-Ranges": "bytes",
            "Content-Length": str(len(body)),
            "Content-Type": "application/octet-stream",
        }.items():
            self.send_header(k, v)
        self.end_headers()
        if head:
            return
        cut = self.hub.cuts.pop(key, None) if status == 200 else None
        stall = self.hub.stalls.get(key) if status == 200 else None
        if cut is not None or stall is not None:
            offset = cut if cut is not None else stall.offset
            self.wfile.write(body[:offset])
            self.wfile.flush()
            if stall is not None:
                stall.reached.set()
                stall.release.wait(timeout=30)
                self.hub.stalls.pop(key, None)
            self.close_connection = True  # drop the connection mid-body, as a network cut does
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        for i in range(0, len(body), CHUNK):
            self.wfile.write(body[i : i + CHUNK])
            if self.hub.chunk_delay:
                time.sleep(self.hub.chunk_delay)

    # the hub's endpoints
    def repo(self, repo_id: str, head: bool) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            self.error(404, "RepoNotFound", "Repository not found", head)
        return repo

    def api(self, parts: list[str], query: dict, head: bool) -> None:
        repo = self.repo(f"{parts[0]}/{parts[1]}", head)
        if repo is None:
            return
        kind = parts[2] if len(parts) > 2 else None
        revision = parts[3] if len(parts) > 3 else "main"
        commit = repo.commit(revision)
        if commit is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
        files = repo.commits[commit]
        if kind == "tree":
            prefix = "/".join(parts[4:])
            entries = []
            folders = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p})
            for folder in folders:
                entries.append({"type": "directory", "oid": git_sha1(folder.encode()), "size": 0, "path": folder})
            for path, data in sorted(files.items()):
                entry = {"type": "file", "oid": git_sha1(data), "size": len(data), "path": path}
                if repo.is_lfs(path, data):
                    entry["lfs"] = {"oid": sha256(data), "size": len(data), "pointerSize": 134}
                entries.append(entry)
            entries = [e for e in entries if e["path"].startswith(prefix)]
            return self.send(200, json.dumps(entries).encode(), head=head)
        siblings = []
        for path, data in sorted(files.items()):
            sibling = {"rfilename": path, "size": len(data), "blobId": git_sha1(data)}
            if repo.is_lfs(path, data):
                sibling["lfs"] = {"sha256": sha256(data), "size": len(data), "pointerSize": 134}
            siblings.append(sibling)
        org = repo.repo_id.split("/")[0]
        info = {
            "_id": git_sha1(repo.repo_id.encode())[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": org,
            "sha": commit,
            "lastModified": "2026-01-05T10:00:00.000Z",
            "createdAt": "2026-01-01T10:00:00.000Z",
            "private": False,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "library_name": "transformers",
            "tags": [
                "transformers",
                "safetensors",
                *([f"license:{repo.card['license']}"] if repo.card.get("license") else []),
            ],
            "cardData": repo.card,
            "siblings": siblings,
            "usedStorage": sum(len(d) for d in files.values()),
        }
        self.send(200, json.dumps(info).encode(), head=head)

    def resolve(self, repo_id: str, revision: str, path: str, head: bool) -> None:
        repo = self.repo(repo_id, head)
        if repo is None:
            return
        if repo.gated:
            auth = self.headers.get("Authorization")
            if not auth:
                return self.error(
                    401,
                    "GatedRepo",
                    f"Access to model {repo_id} is restricted. You must have access "
                    "to it and be authenticated to access it. Please log in.",
                    head,
                )
            if auth.split()[-1] not in repo.tokens:
                return self.error(
                    403,
                    "GatedRepo",
                    f"Access to model {repo_id} is restricted and you are not in "
                    "the authorized list. Visit the model page to ask for access.",
                    head,
                )
        commit = repo.commit(revision)
        if commit is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
        data = repo.commits[commit].get(path)
        if data is None:
            return self.error(
                404, "EntryNotFound", f"{path} does not exist on {revision}", head, {"X-Repo-Commit": commit}
            )
        if repo.is_lfs(path, data):
            digest = sha256(data)
            return self.send(
                302,
                b"",
                {
                    "X-Repo-Commit": commit,
                    "X-Linked-Etag": f'"{digest}"',
                    "X-Linked-Size": str(len(data)),
                    "ETag": f'"{git_sha1(data)}"',
                    "Location": f"{self.hub.cdn}/cdn/{digest}",
                },
                head,
            )
        self.content(data, head, f"{repo_id}/{path}", {"X-Repo-Commit": commit, "ETag": f'"{git_sha1(data)}"'})
