"""What "offline" means, said once: offline mode is on, or a host cannot be reached.

HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) switches every download off, the app's own too, so one
setting keeps LDM Studio and the libraries it uses off the network.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path
from urllib.parse import urlsplit

from ldm_studio.core.errors import DiskSpaceError, OfflineError
from ldm_studio.core.models.manager.progress import format_bytes

DEFAULT_ENDPOINT = "https://huggingface.co"
TRUE = {"1", "on", "yes", "true"}
UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def offline_mode() -> bool:
    """True when HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set now, or was when huggingface_hub was imported."""
    if any(os.environ.get(v, "").strip().lower() in TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        return False


def hub_endpoint(endpoint: str | None = None) -> str:
    """The Hub to use: the argument, else HF_ENDPOINT (read now, not at import), else huggingface.co."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_cache_dir() -> Path:
    """The shared hub cache other tools use: HF_HUB_CACHE, else HF_HOME/hub, else the library default."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def require_online(what: str) -> None:
    if offline_mode():
        raise offline_error(what, None)


def offline_error(what: str, url: str | None, cause: BaseException | None = None) -> OfflineError:
    """The one offline message: what could not be downloaded, from where, and what to do."""
    if url is None:
        return OfflineError(f"offline: cannot download {what}: HF_HUB_OFFLINE is set (unset it to download)")
    host = urlsplit(url).netloc or url
    why = f" ({describe_cause(cause)})" if cause is not None else ""
    return OfflineError(
        f"offline: cannot download {what}: {host} cannot be reached{why}; check the network connection "
        "(or HF_ENDPOINT / the proxy settings)"
    )


def describe_cause(cause: BaseException) -> str:
    """A few words for the root of a connection failure (wrapped by urllib or httpx or not)."""
    for exc in _chain(cause):
        if isinstance(exc, socket.gaierror):
            return "host name not found"
        if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(exc, TimeoutError | socket.timeout):
            return "timed out"
    text = str(cause).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "getaddrinfo" in text or "name resolution" in text:
        return "host name not found"
    return type(cause).__name__


def _chain(exc: BaseException | None) -> list[BaseException]:
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        reason = getattr(exc, "reason", None)
        exc = reason if isinstance(reason, BaseException) else (exc.__cause__ or exc.__context__)
    return out


def is_unreachable(exc: BaseException) -> bool:
    """A failure to reach the host at all (DNS, refused, no route), as opposed to an error it answered."""
    for item in _chain(exc):
        if isinstance(item, socket.gaierror | ConnectionRefusedError):
            return True
        if isinstance(item, OSError) and item.errno in UNREACHABLE_ERRNOS:
            return True
        if type(item).__name__ in ("ConnectError", "ConnectTimeout", "OfflineModeIsEnabled"):
            return True
    return False


def ensure_free_space(folder: Path, needed: int, what: str, margin: int = 64 << 20) -> None:
    """DiskSpaceError before starting when `needed` bytes (plus a margin) do not fit in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if needed + margin > free:
        raise DiskSpaceError(
            f"{folder}: not enough free space for {what}: needs {format_bytes(needed)}, {format_bytes(free)} free"
        )
