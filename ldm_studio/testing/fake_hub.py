"""A loopback HTTP server that speaks just enough of the Hugging Face Hub, plus plain file downloads.

For tests of the model manager (and later of the Models dialog): no test may touch the network,
so this emulates the calls huggingface_hub's `snapshot_download` makes (repo info, recursive tree
listing, HEAD/GET `resolve` with X-Repo-Commit, ETag/X-Linked-Etag, Content-Length, Range) and
serves plain files with Range/If-Range. It can drop a connection halfway (once per path), corrupt
bytes, and throttle, and it records every request. It binds 127.0.0.1 on a random port and shuts
itself down after `lifetime` seconds even if a test forgets to stop it.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class FakeRepo:
    commit: str
    files: dict[str, bytes]


@dataclass
class FakeServer:
    """Start with `start()`; `url` is the endpoint; `stop()` (or the lifetime timer) ends it."""

    lifetime: float = 300.0  # a safety net on a loaded machine; tests stop it themselves
    chunk: int = 16384
    delay: float = 0.0  # seconds to sleep after each chunk (to make cancel tests deterministic)
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # "/files/x.zip" -> bytes
    drop_once: set[str] = field(default_factory=set)  # paths whose first GET stops halfway
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def add_repo(self, repo_id: str, folder: Path, commit: str | None = None) -> FakeRepo:
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        repo = FakeRepo(commit or hashlib.sha1(repo_id.encode()).hexdigest(), files)
        self.repos[repo_id] = repo
        return repo

    def add_file(self, name: str, data: bytes) -> str:
        self.files[f"/files/{name}"] = data
        return f"{self.url}/files/{name}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.cancel()
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def gets(self, path_part: str) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and path_part in r.path]


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeServer

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def _dispatch(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        self.fake.requests.append(Request(self.command, self.path, dict(self.headers.items())))
        if path.startswith("/api/models/"):
            return self._api(path[len("/api/models/") :])
        if path in self.fake.files:
            data = self.fake.files[path]
            return self._send_file(path, data, f'"{hashlib.sha256(data).hexdigest()}"', {}, head)
        parts = path.strip("/").split("/")
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id, rev, name = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
            repo = self.fake.repos.get(repo_id)
            if repo is None or rev not in (repo.commit, "main"):
                return self._error(404, "RepoNotFound" if repo is None else "RevisionNotFound")
            if name not in repo.files:
                return self._error(404, "EntryNotFound", {"X-Repo-Commit": repo.commit})
            data = repo.files[name]
            extra = {"X-Repo-Commit": repo.commit}
            if name.endswith(LFS_SUFFIXES):
                sha = hashlib.sha256(data).hexdigest()
                extra |= {"X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(data))}
                etag = f'"{sha}"'
            else:
                etag = f'"{git_blob_sha1(data)}"'
            return self._send_file(path, data, etag, extra, head)
        return self._error(404, "EntryNotFound")

    def _api(self, rest: str) -> None:
        parts = rest.split("/")
        repo = self.fake.repos.get("/".join(parts[:2]))
        if repo is None:
            return self._error(404, "RepoNotFound")
        kind, rev = (parts[2], parts[3]) if len(parts) >= 4 else ("", "")
        if rev not in (repo.commit, "main"):
            return self._error(404, "RevisionNotFound")
        if kind == "revision":
            body = {
                "id": "/".join(parts[:2]),
                "sha": repo.commit,
                "siblings": [{"rfilename": n} for n in repo.files],
            }
        elif kind == "tree":
            body = _tree(repo)
        else:
            return self._error(404, "EntryNotFound")
        self._send_json(body)

    def _send_json(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, error_code: str, extra: dict[str, str] | None = None) -> None:
        data = json.dumps({"error": error_code}).encode()
        self.send_response(code)
        self.send_header("X-Error-Code", error_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_file(self, path: str, data: bytes, etag: str, extra: dict[str, str], head: bool) -> None:
        start = 0
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and wanted.startswith("bytes=") and (if_range is None or if_range == etag):
            start = int(wanted[len("bytes=") :].split("-")[0] or 0)
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        if head:
            return
        drop = path in self.fake.drop_once
        if drop:
            self.fake.drop_once.discard(path)
        limit = len(body) // 2 if drop else len(body)
        sent = 0
        try:
            while sent < limit:
                piece = body[sent : min(limit, sent + self.fake.chunk)]
                self.wfile.write(piece)
                self.wfile.flush()
                sent += len(piece)
                if self.fake.delay:
                    time.sleep(self.fake.delay)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        if drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)


def _tree(repo: FakeRepo) -> list[dict]:
    entries: list[dict] = []
    folders = sorted({n.rsplit("/", 1)[0] for n in repo.files if "/" in n})
    for folder in folders:
        entries.append({"type": "directory", "path": folder, "oid": hashlib.sha1(folder.encode()).hexdigest()})
    for name, data in repo.files.items():
        item: dict = {"type": "file", "path": name, "size": len(data), "oid": git_blob_sha1(data)}
        if name.endswith(LFS_SUFFIXES):
            item["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        entries.append(item)
    return entries
