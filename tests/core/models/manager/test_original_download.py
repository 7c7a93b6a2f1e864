"""Original-checkpoint downloads over plain HTTP: resume, checksum, cancel, disk space, conversion."""

from __future__ import annotations

import threading
from collections import namedtuple

import pytest

from ldm_studio.core.errors import ChecksumError, DiskSpaceError, DownloadCancelled
from ldm_studio.core.models.manager import download, downloads_dir, list_models, read_index, verify
from ldm_studio.core.models.model_folder import read_model_info


def test_interrupted_download_resumes_with_a_range_request(server, store_is_empty):
    server.drop_once.add("/files/cin_tiny.zip")
    events = []
    model = download("tiny-zip", progress=events.append)

    gets = server.gets("/files/cin_tiny.zip")
    assert len(gets) == 2
    assert "Range" not in gets[0].headers
    size = len(server.files["/files/cin_tiny.zip"])
    assert gets[1].headers["Range"] == f"bytes={size // 2}-"  # only the missing half was asked for
    assert gets[1].headers["If-Range"].strip('"')  # and only if the file is still the same
    info = read_model_info(model.folder)
    assert info.family == "class" and info.license == "MIT"
    assert info.provenance["catalogue"] == "tiny-zip"
    assert model.kind == "store" and model.folder.parent.name == "models"
    assert {p.phase for p in events} >= {"downloading", "verifying", "unpacking", "converting", "installing", "done"}
    assert not downloads_dir("tiny-zip").exists()  # the archive is gone once installed
    assert verify("tiny-zip").ok


def test_a_part_left_by_a_cancel_is_resumed_by_the_next_attempt(server, store_is_empty):
    server.delay = 0.01
    cancel = threading.Event()

    def stop_early(p):
        if p.phase == "downloading" and p.bytes_done > 200_000:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        download("tiny-zip", progress=stop_early, cancel=cancel)
    assert store_is_empty()  # cancel never leaves a partial model in the store ...
    part = downloads_dir("tiny-zip") / "cin_tiny.zip.part"
    assert part.stat().st_size > 200_000  # ... only the resumable .part in the downloads cache
    assert {r.name: r.state for r in list_models()}["tiny-zip"] == "partial download"

    server.delay = 0.0
    download("tiny-zip")
    assert server.gets("/files/cin_tiny.zip")[-1].headers["Range"].startswith("bytes=")
    assert "tiny-zip" in read_index()


def test_cancel_during_conversion_leaves_no_model(server, store_is_empty):
    cancel = threading.Event()

    def stop_converting(p):
        if p.phase == "converting":
            cancel.set()

    with pytest.raises(DownloadCancelled):
        download("tiny-zip", progress=stop_converting, cancel=cancel)
    assert store_is_empty()


def test_corrupted_download_is_detected_and_nothing_is_installed(server, store_is_empty):
    with pytest.raises(ChecksumError, match=r"cin_tiny\.zip: checksum mismatch"):
        download("tiny-zip-corrupt")
    assert store_is_empty()
    assert not any(downloads_dir("tiny-zip-corrupt").glob("*"))  # a corrupt file is not kept for resuming


def test_not_enough_disk_space_stops_before_writing(server, store_is_empty, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("shutil.disk_usage", lambda _path: usage(10**9, 10**9, 1000))
    with pytest.raises(DiskSpaceError, match="not enough free space"):
        download("tiny-zip")
    assert not any(downloads_dir("tiny-zip").glob("*.part"))
    assert store_is_empty()


def test_plain_checkpoint_and_config_files(server):
    model = download("tiny-plain")
    info = read_model_info(model.folder)
    assert info.family == "class"
    # the catalogue's sampler settings replace the family's; the rest (guidance) stays the converter's
    assert (info.defaults.steps, info.defaults.eta, info.defaults.guidance) == (7, 0.5, 3.0)
    assert set(model.files) >= {"ldm_studio.json", "unet/config.json"}
