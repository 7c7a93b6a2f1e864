"""Hub downloads through `huggingface_hub.snapshot_download`, into the shared hub cache.

Before downloading, the repo's file list is read once: it picks the files a diffusers pipeline
needs (safetensors over .bin; the fp16 variant where the repo has one and the model will run on a
GPU, else no variants; no sample images), gives the byte total for the
disk-space check and the progress bar, and carries the Hub's checksums, which are checked after
the download. Bytes reach our tracker through the `tqdm_class` hook; the same hook raises
`DownloadCancelled` in the download threads when the cancel Event is set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ldm_studio.core.errors import ChecksumError, DownloadCancelled, DownloadError
from ldm_studio.core.families.registry import family_of_pipeline
from ldm_studio.core.models.manager.hashing import file_digests
from ldm_studio.core.models.manager.network import (
    ensure_free_space,
    hub_cache_dir,
    hub_endpoint,
    is_unreachable,
    offline_error,
    require_online,
)
from ldm_studio.core.models.manager.progress import ProgressTracker
from ldm_studio.core.models.manager.validate import check_model_folder

WEIGHT_SUFFIXES = (".safetensors", ".bin")
TEXT_SUFFIXES = (".json", ".txt")
VARIANT_MARKERS = (".fp16.", ".bf16.", ".non_ema.", ".ema.")


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str | None  # LFS files
    git_oid: str | None  # non-LFS files: git blob sha1


@dataclass(frozen=True)
class HubSnapshot:
    """A complete snapshot in the hub cache, with the checksums of its files."""

    repo_id: str
    revision: str
    commit: str
    folder: Path
    files: dict[str, str]  # relative path -> sha256


def select_files(files: list[HubFile], variant: str | None = None) -> list[HubFile]:
    """What a diffusers pipeline loads: model_index.json and its components' configs and weights.

    `variant` ("fp16"): a component's `*.fp16.safetensors` when the repo has them (half the download
    on a GPU, where the model runs in fp16 anyway); components without them keep their plain weights."""
    index = next((f for f in files if f.path == "model_index.json"), None)
    if index is None:
        return []
    by_folder: dict[str, list[HubFile]] = {}
    for f in files:
        folder = f.path.rpartition("/")[0]
        if folder and "/" not in folder:
            by_folder.setdefault(folder, []).append(f)
    chosen = [index]
    for _folder, members in sorted(by_folder.items()):
        chosen += [f for f in members if f.path.endswith(TEXT_SUFFIXES)]
        chosen += pick_weights([f for f in members if f.path.endswith(WEIGHT_SUFFIXES)], variant)
    return chosen


def pick_weights(weights: list[HubFile], variant: str | None = None) -> list[HubFile]:
    """One folder's weights: the `variant`'s safetensors when present, else plain safetensors, else plain .bin."""
    if variant is not None:
        marked = [f for f in weights if f".{variant}." in f.path.rsplit("/", 1)[-1]]
        safe_variant = [f for f in marked if f.path.endswith(".safetensors")]
        if safe_variant:
            return safe_variant
    plain = [f for f in weights if not any(m in f.path.rsplit("/", 1)[-1] for m in VARIANT_MARKERS)] or weights
    safe = [f for f in plain if f.path.endswith(".safetensors")]
    return safe or plain


def select_component_files(files: list[HubFile], variant: str | None = None) -> list[HubFile]:
    """A single-model repo (a TAESD, a VAE): its top-level config.json and diffusers weights only
    (such repos also hold the original-format files, e.g. `taesd_decoder.pth`, which diffusers does not read)."""
    config = next((f for f in files if f.path == "config.json"), None)
    if config is None:
        return []
    weights = [f for f in files if "/" not in f.path and f.path.startswith("diffusion_pytorch_model.")]
    weights = [f for f in weights if f.path.endswith(WEIGHT_SUFFIXES)]
    return [config, *pick_weights(weights, variant)] if weights else []


def variant_for_device(device_type: str) -> str | None:
    """The hub variant worth downloading for a device: fp16 on CUDA and MPS (the weights are used
    in half precision there), none on the CPU (which samples in fp32)."""
    return "fp16" if device_type in ("cuda", "mps") else None


def _list_repo(api: Any, repo_id: str, revision: str, what: str, endpoint: str) -> tuple[str, list[HubFile]]:
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
    from huggingface_hub.hf_api import RepoFile

    try:
        info = api.repo_info(repo_id, revision=revision)
        commit = info.sha
        tree = api.list_repo_tree(repo_id, recursive=True, revision=commit)
        files = [
            HubFile(f.path, int(f.size or 0), f.lfs.sha256 if f.lfs else None, None if f.lfs else f.blob_id)
            for f in tree
            if isinstance(f, RepoFile)
        ]
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise DownloadError(
            f"{endpoint}/{repo_id}: not found at revision {revision!r} ({type(exc).__name__})"
        ) from None
    except HfHubHTTPError as exc:
        raise DownloadError(f"{endpoint}/{repo_id}: the Hub answered {exc}") from None
    except Exception as exc:
        if is_unreachable(exc):
            raise offline_error(what, endpoint, exc) from None
        raise
    if not commit:
        raise DownloadError(f"{endpoint}/{repo_id}: the Hub gave no commit for revision {revision!r}")
    return commit, files


def download_snapshot(
    repo_id: str,
    tracker: ProgressTracker,
    *,
    revision: str = "main",
    endpoint: str | None = None,
    cache_dir: Path | None = None,
    max_workers: int = 4,
    variant: str | None = None,
    component: bool = False,
) -> HubSnapshot:
    """Fetch what is missing of `repo_id` into the hub cache and return the checked snapshot.

    `variant`: see `select_files`; `component`: a single-model repo (`select_component_files`)."""
    from huggingface_hub import HfApi, snapshot_download, try_to_load_from_cache

    what = repo_id
    require_online(what)
    url = hub_endpoint(endpoint)
    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    tracker.start("preparing", f"listing {repo_id}")
    commit, listing = _list_repo(HfApi(endpoint=url), repo_id, revision, what, url)
    files = select_component_files(listing, variant) if component else select_files(listing, variant)
    if not files:
        what_is_missing = "config.json and diffusers weights" if component else "model_index.json"
        kind = "single diffusers model" if component else "diffusers pipeline"
        raise DownloadError(f"{url}/{repo_id}: not a {kind} repo (no {what_is_missing})")
    cached = {
        f.path
        for f in files
        if isinstance(try_to_load_from_cache(repo_id, f.path, cache_dir=cache, revision=commit), str)
    }
    missing = sum(f.size for f in files if f.path not in cached)
    ensure_free_space(cache, missing, repo_id)
    tracker.start("downloading", repo_id, total=missing)
    try:
        folder = snapshot_download(
            repo_id,
            revision=revision,
            endpoint=url,
            cache_dir=cache,
            allow_patterns=[f.path for f in files],
            tqdm_class=tqdm_bridge(tracker),
            max_workers=max_workers,
        )
    except DownloadCancelled:
        raise
    except Exception as exc:
        cancelled = _cause(exc, DownloadCancelled)
        if cancelled is not None:
            raise cancelled from None
        if is_unreachable(exc):
            raise offline_error(what, url, exc) from None
        raise DownloadError(f"{url}/{repo_id}: download failed ({type(exc).__name__}: {exc})") from None
    snapshot = Path(folder)
    tracker.start("verifying", repo_id, total=sum(f.size for f in files))
    hashes: dict[str, str] = {}
    for f in files:
        path = snapshot / f.path
        sha, git = file_digests(path, tracker, git_sha1=f.git_oid is not None)
        expected = f.sha256 or f.git_oid
        if expected and expected != (sha if f.sha256 else git):
            _drop_blob(path)
            raise ChecksumError(f"{repo_id}/{f.path}", expected, sha if f.sha256 else str(git))
        hashes[f.path] = sha
    _remember_commit(snapshot, repo_id, commit)
    return HubSnapshot(repo_id, revision, commit, snapshot, hashes)


def _drop_blob(path: Path) -> None:
    """Delete a corrupt cached file (the blob behind the snapshot link), so a retry fetches it again."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


def _remember_commit(snapshot: Path, repo_id: str, commit: str) -> None:
    if snapshot.name != commit:  # pragma: no cover - the hub names snapshot folders by commit
        raise DownloadError(f"{repo_id}: snapshot folder {snapshot} is not commit {commit}")


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def tqdm_bridge(tracker: ProgressTracker) -> type:
    """A tqdm look-alike class for `snapshot_download(tqdm_class=...)`, bound to `tracker`.

    snapshot_download opens three bars with it: files fetched (no unit), bytes received from the
    network ("transfer") and bytes written to disk. Only the last one counts as progress. Every
    update checks the cancel Event, so all download threads stop at their next chunk.
    """

    class BridgeBar:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            desc = str(kwargs.get("desc") or "")
            name = str(kwargs.get("name") or "")
            self.total = kwargs.get("total")
            self.n = kwargs.get("initial") or 0
            self.desc = desc
            self.disable = True
            self.counts_bytes = (
                kwargs.get("unit") == "B" and not name.endswith(".transfer") and not desc.startswith("Downloading")
            )
            tracker.check()

        def update(self, n: int | float | None = 1) -> None:
            step = int(n or 0)
            self.n += step
            if self.counts_bytes:
                tracker.add(step)
            else:
                tracker.check()

        def __enter__(self) -> BridgeBar:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

        def close(self) -> None:
            pass

        def refresh(self, *args: Any, **kwargs: Any) -> None:
            pass

        def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
            self.desc = desc or ""

        set_description_str = set_description

        def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
            pass

        @property
        def format_dict(self) -> dict[str, Any]:
            return {"n": self.n, "total": self.total, "rate": None}

    return BridgeBar


def hub_cache_models(cache_dir: Path | None = None) -> dict[str, Path]:
    """repo id -> snapshot folder of each complete LDM pipeline in the hub cache (its `main` ref)."""
    root = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for repo in root.glob("models--*"):
        ref = repo / "refs" / "main"
        try:
            snapshot = repo / "snapshots" / ref.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        # a snapshot cut short (cancelled download) has model_index.json but not every component
        known = family_of_pipeline(read_pipeline_class(snapshot)) is not None
        if known and not check_model_folder(snapshot, shapes=False)[1]:
            found[repo.name[len("models--") :].replace("--", "/")] = snapshot
    return found


def read_pipeline_class(folder: Path) -> str | None:
    try:
        return json.loads((folder / "model_index.json").read_text(encoding="utf-8")).get("_class_name")
    except (OSError, ValueError):
        return None
