"""Errors that reach a person: each names the thing (file, field) and the problem.

The CLI prints them as one line, the window as a message; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations


class LdmStudioError(Exception):
    """Base class of every error meant for the user rather than for a traceback."""


class RequestError(LdmStudioError, ValueError):
    """A generation request has an invalid value; `field` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class ModelFolderError(LdmStudioError):
    """A model folder is missing parts or is malformed; `path` names the file or folder."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class Cancelled(LdmStudioError):
    """Raised inside the sampling loop when its cancel flag is set."""

    def __init__(self, step: int) -> None:
        super().__init__(f"cancelled before step {step}")
        self.step = step


class FileFormatError(LdmStudioError):
    """An input file (map, checkpoint, config) cannot be used; `path` names it."""

    def __init__(self, path: object, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class CheckpointError(FileFormatError):
    """A checkpoint file is unreadable, truncated, unsafe or not a checkpoint."""


class ConversionError(FileFormatError):
    """An original checkpoint or config cannot be converted; the message names the setting or keys."""


class DownloadError(LdmStudioError):
    """A model could not be downloaded or installed; the message names the source and the problem."""


class OfflineError(DownloadError):
    """No network: offline mode is on, or the host cannot be reached. One message for every cause."""


class ChecksumError(DownloadError):
    """A downloaded or installed file does not match its recorded SHA-256; `path` names it."""

    def __init__(self, path: object, expected: str, actual: str) -> None:
        super().__init__(f"{path}: checksum mismatch (expected sha256 {expected[:16]}…, got {actual[:16]}…)")
        self.path = path
        self.expected = expected
        self.actual = actual


class DiskSpaceError(DownloadError):
    """Not enough free space for a download; raised before any byte is written."""


class DownloadCancelled(LdmStudioError):
    """The user cancelled a download, import or verification; nothing was installed."""

    def __init__(self, what: str = "download") -> None:
        super().__init__(f"{what} cancelled; nothing was installed")
        self.what = what
