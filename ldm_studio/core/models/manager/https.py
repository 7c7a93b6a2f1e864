"""Plain HTTP(S) downloads that survive interruptions: stream to `<name>.part`, resume with Range.

The `.part` file and a small `.part.json` (the server's ETag / Last-Modified / length) live in the
downloads cache; a later attempt asks for the rest with `Range` + `If-Range`, so a file that changed
on the server is fetched whole again instead of being spliced. A finished file is checked against
its SHA-256 when one is known and only then renamed to its final name.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from ldm_studio import __version__
from ldm_studio.core.errors import ChecksumError, DownloadCancelled, DownloadError
from ldm_studio.core.models.manager.hashing import file_digests
from ldm_studio.core.models.manager.network import ensure_free_space, is_unreachable, offline_error, require_online
from ldm_studio.core.models.manager.progress import ProgressTracker

CHUNK = 1 << 16
TIMEOUT = 30.0
RETRIES = 5
TRANSIENT = (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionError, TimeoutError, socket.timeout)


def download_file(
    url: str,
    target: Path,
    tracker: ProgressTracker,
    *,
    sha256: str | None = None,
    size_bytes: int | None = None,
    retries: int = RETRIES,
    retry_wait: float = 0.5,
) -> Path:
    """Download `url` to `target` (resuming `target.part` if there is one) and return `target`."""
    require_online(url)
    if target.is_file():  # finished earlier (e.g. before a failed conversion): check it once more
        tracker.start("verifying", target.name, total=target.stat().st_size)
        _check_sha(target, sha256, tracker)
        return target
    part = target.with_name(target.name + ".part")
    attempt = 0
    tracker.start("downloading", target.name, total=size_bytes, done=_part_size(part))
    while True:
        try:
            _fetch(url, part, tracker, size_bytes)
            break
        except DownloadCancelled:
            raise
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{url}: the server answered {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, *TRANSIENT) as exc:
            if is_unreachable(exc):  # a .part stays for a later resume
                raise offline_error(target.name, url, getattr(exc, "reason", exc)) from None
            attempt += 1
            if attempt > retries:
                raise DownloadError(
                    f"{url}: download interrupted {attempt} times ({exc}); run it again to resume"
                ) from None
            time.sleep(retry_wait * attempt)
            tracker.note(f"{target.name}: connection lost, resuming (try {attempt} of {retries})")
    tracker.start("verifying", target.name, total=part.stat().st_size)
    _check_sha(part, sha256, tracker, shown=target)
    part.replace(target)
    _meta_path(part).unlink(missing_ok=True)
    return target


def _fetch(url: str, part: Path, tracker: ProgressTracker, size_hint: int | None) -> None:
    """One request: the whole file, or the rest of it after `part`'s bytes."""
    have = _part_size(part)
    meta = _read_meta(part) if have else {}
    headers = {"User-Agent": f"ldm-studio/{__version__}", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
        validator = meta.get("etag") or meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have and meta.get("length") == have:
            return  # the .part is already complete
        if exc.code == 416:  # the part is longer than the file (it changed): start again
            part.unlink(missing_ok=True)
            _meta_path(part).unlink(missing_ok=True)
            raise http.client.IncompleteRead(b"") from None
        raise
    with contextlib.closing(response):
        if response.status == 206 and have:
            mode = "ab"
            total = _total_from_range(response.headers.get("Content-Range")) or meta.get("length")
        else:  # 200: a fresh start (no range asked, or the server/file ignored it)
            if have:
                tracker.add(-have)
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else size_hint
            _write_meta(part, response.headers, total)
        tracker.set_total(total)
        if total is not None:
            ensure_free_space(part.parent, total - have, part.name.removesuffix(".part"))
        part.parent.mkdir(parents=True, exist_ok=True)
        with part.open(mode) as handle:
            while chunk := response.read(CHUNK):
                handle.write(chunk)
                tracker.add(len(chunk))  # raises DownloadCancelled; what was written stays for a resume
        if total is not None and part.stat().st_size < total:
            raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def _check_sha(path: Path, expected: str | None, tracker: ProgressTracker, shown: Path | None = None) -> None:
    actual = file_digests(path, tracker)[0]
    if expected and actual != expected.lower():
        path.unlink(missing_ok=True)  # a corrupt file must not be resumed or reused
        _meta_path(path).unlink(missing_ok=True)
        raise ChecksumError(shown or path, expected, actual)


def _part_size(part: Path) -> int:
    return part.stat().st_size if part.is_file() else 0


def _meta_path(part: Path) -> Path:
    return (
        part.with_name(part.name + ".json") if part.name.endswith(".part") else part.with_name(part.name + ".part.json")
    )


def _read_meta(part: Path) -> dict:
    try:
        return json.loads(_meta_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_meta(part: Path, headers: object, total: int | None) -> None:
    get = headers.get  # type: ignore[attr-defined]
    etag = get("ETag")
    meta = {"etag": etag if etag and not etag.startswith("W/") else None, "last_modified": get("Last-Modified")}
    meta["length"] = total
    part.parent.mkdir(parents=True, exist_ok=True)
    _meta_path(part).write_text(json.dumps(meta), encoding="utf-8")


def _total_from_range(value: str | None) -> int | None:
    if not value or "/" not in value:
        return None
    tail = value.rsplit("/", 1)[1].strip()
    return int(tail) if tail.isdigit() else None
