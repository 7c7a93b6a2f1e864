"""The model manager: catalogue downloads, imports, removal and verification, without Qt.

A GUI drives it from a worker thread: pass `progress=` (called with `Progress` snapshots: phase,
bytes done/total, speed, ETA) and `cancel=` (a `threading.Event`; setting it raises
`DownloadCancelled` in the job). Every function raises only `LdmStudioError`s for the user's
problems: `OfflineError`, `DiskSpaceError`, `ChecksumError`, `DownloadError`, `ModelFolderError`
(`InvalidModel` lists every problem), `ConversionError`, `DownloadCancelled`.
"""

from ldm_studio.core.models.manager.install import download, downloads_dir, import_model, staging_folders
from ldm_studio.core.models.manager.inventory import (
    STATES,
    ModelRow,
    VerifyReport,
    hub_cache_models,
    list_models,
    remove,
    verify,
)
from ldm_studio.core.models.manager.network import hub_cache_dir, hub_endpoint, offline_mode
from ldm_studio.core.models.manager.progress import Progress, ProgressFn, format_bytes, format_duration
from ldm_studio.core.models.manager.registry import InstalledModel, read_index
from ldm_studio.core.models.manager.validate import InvalidModel, check_model_folder

__all__ = [
    "STATES",
    "InstalledModel",
    "InvalidModel",
    "ModelRow",
    "Progress",
    "ProgressFn",
    "VerifyReport",
    "check_model_folder",
    "download",
    "downloads_dir",
    "format_bytes",
    "format_duration",
    "hub_cache_dir",
    "hub_cache_models",
    "hub_endpoint",
    "import_model",
    "list_models",
    "offline_mode",
    "read_index",
    "remove",
    "staging_folders",
    "verify",
]
