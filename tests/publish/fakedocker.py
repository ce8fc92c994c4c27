"""A fake Docker daemon for tests: the real docker CLI talks to it, and it records what the
CLI sent.

Much of what `docker run` does happens in the client: parsing flags and `--env-file`
(docker/cli `pkg/kvfile`), building the container config. The daemon only sees the result,
as the JSON body of `POST /v<api>/containers/create`. This server answers `/_ping` and
`/version` like a daemon would, records every create body, and refuses the create, so the
CLI stops there (exit status 125) and nothing is ever run.

    with FakeDocker(tmp_path) as daemon:
        subprocess.run(["docker", "run", "--env-file", "x.env", "img"], env=daemon.env())
        daemon.creates[-1]["Env"]   # what the CLI parsed from x.env
"""

from __future__ import annotations

import json
import os
import socketserver
import subprocess
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

API_VERSION = "1.47"  # what docker 28.x speaks; the CLI negotiates down to it from /_ping
REFUSAL = "aim-engine fake docker daemon: container not created"


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, recorder: FakeDocker):
        self.recorder = recorder
        super().__init__(path, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet; the unix socket has no client address to log anyway

    def _reply(self, status: int, body: object = None, text: str | None = None) -> None:
        data = text.encode() if text is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8" if text is not None else "application/json")
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Ostype", "linux")
        self.send_header("Docker-Experimental", "false")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _route(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        self.server.recorder.requests.append((self.command, self.path))
        if path == "/_ping" or path.endswith("/_ping"):
            self._reply(200, text="OK")
        elif path.endswith("/version"):
            self._reply(
                200,
                {
                    "Version": "28.2.2",
                    "ApiVersion": API_VERSION,
                    "MinAPIVersion": "1.24",
                    "Os": "linux",
                    "Arch": "amd64",
                },
            )
        elif self.command == "POST" and path.endswith("/containers/create"):
            self.server.recorder.creates.append(json.loads(body or b"{}"))
            self._reply(500, {"message": REFUSAL})
        else:
            self._reply(404, {"message": f"fake daemon: no route for {self.command} {path}"})

    do_GET = do_POST = do_HEAD = do_DELETE = _route


class FakeDocker:
    """A fake daemon on a unix socket in `folder`; a context manager."""

    def __init__(self, folder: Path):
        self.socket = str(Path(folder) / "docker.sock")
        self.creates: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self._server: _Server | None = None

    def __enter__(self) -> FakeDocker:
        self._server = _Server(self.socket, self)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        os.unlink(self.socket)

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment for the docker CLI that points it at this daemon only."""
        env = dict(os.environ if base is None else base)
        for key in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
            env.pop(key, None)
        env["DOCKER_HOST"] = f"unix://{self.socket}"
        env["DOCKER_CONFIG"] = str(Path(self.socket).parent / "docker-config")  # no user contexts or plugins
        return env

    def run(self, docker: str, args: list[str], env: dict[str, str] | None = None) -> tuple[dict, str]:
        """Run `docker <args>` (a `run`/`create` command) against this daemon: the create body
        the CLI sent, and its stderr. Fails if the CLI never got as far as creating."""
        before = len(self.creates)
        done = subprocess.run([docker, *args], capture_output=True, text=True, env=self.env(env), timeout=60)
        if len(self.creates) != before + 1:
            raise AssertionError(f"docker did not reach containers/create (status {done.returncode}): {done.stderr}")
        assert REFUSAL in done.stderr, done.stderr
        return self.creates[-1], done.stderr


def parsed_env(docker: str, daemon: FakeDocker, env_file: Path, env: dict[str, str] | None = None) -> list[str]:
    """The environment list the docker CLI builds from `--env-file env_file`, as sent to the daemon."""
    body, _ = daemon.run(docker, ["run", "--rm", "--env-file", str(env_file), "aim-engine-test:none"], env)
    return list(body.get("Env") or [])
