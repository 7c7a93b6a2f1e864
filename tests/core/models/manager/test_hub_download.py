"""Hub downloads against the loopback fake Hub: progress, cache layout, cancel, offline."""

from __future__ import annotations

import itertools
import threading

import pytest

from ldm_studio.core.errors import DownloadCancelled, OfflineError
from ldm_studio.core.models.manager import download, list_models, read_index, verify
from ldm_studio.core.models.model_folder import read_model_info


def test_hub_download_reports_bytes_and_installs_a_loadable_model(server, online, hub_model_folder):
    events = []
    model = download("tiny-hub-text", progress=events.append)

    info = read_model_info(model.folder)
    assert info.family == "text" and info.origin == "diffusers"
    assert model.kind == "hub" and model.repo_id == "test-org/tiny-ldm-text"
    # The snapshot lives in the shared hub cache (not copied into the store) ...
    assert model.folder.is_relative_to(online)
    assert model.folder.name == server.repos["test-org/tiny-ldm-text"].commit
    assert (online / "models--test-org--tiny-ldm-text" / "refs" / "main").is_file()
    # ... and every file's checksum is recorded for `verify`.
    assert set(model.files) >= {"model_index.json", "unet/diffusion_pytorch_model.safetensors"}

    downloading = [e for e in events if e.phase == "downloading"]
    expected = sum(p.stat().st_size for p in hub_model_folder.rglob("*") if p.is_file())
    assert downloading[0].bytes_total == expected
    assert downloading[-1].bytes_done == expected
    assert all(a.bytes_done <= b.bytes_done for a, b in itertools.pairwise(downloading))
    assert events[-1].phase == "done"
    assert any(r.method == "HEAD" and "/resolve/" in r.path for r in server.requests)

    assert read_index()["tiny-hub-text"].commit == model.commit
    assert verify("tiny-hub-text").ok
    rows = {r.name: r for r in list_models()}
    assert rows["tiny-hub-text"].state == "installed"


def test_a_model_already_in_the_hub_cache_is_not_downloaded_again(server, online):
    download("tiny-hub-text")
    from ldm_studio.core.models.manager.registry import remove_entry

    remove_entry("tiny-hub-text")
    assert {r.name: r.state for r in list_models()}["tiny-hub-text"] == "in hub cache"
    gets_before = len(server.gets("/resolve/"))
    events = []
    download("tiny-hub-text", progress=events.append)
    assert len(server.gets("/resolve/")) == gets_before
    assert next(e for e in events if e.phase == "downloading").bytes_total == 0


def test_cancel_mid_download_leaves_no_model(server, online, store_is_empty):
    server.delay = 0.02  # ~16 KB per 20 ms: the 3 MB U-Net takes seconds
    cancel = threading.Event()

    def progress(p):
        if p.phase == "downloading" and p.bytes_done > 100_000:
            cancel.set()

    with pytest.raises(DownloadCancelled):
        download("tiny-hub-text", progress=progress, cancel=cancel)
    assert store_is_empty()
    assert {r.name: r.state for r in list_models()}["tiny-hub-text"] == "not installed"


def test_offline_mode_gives_one_clear_message(server, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OfflineError, match=r"^offline: cannot download .*HF_HUB_OFFLINE"):
        download("tiny-hub-text")
    assert not server.requests


def test_unreachable_endpoint_gives_the_offline_message(server, store_is_empty):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(OfflineError, match=r"offline: cannot download .*cannot be reached \(connection refused\)"):
        download("tiny-hub-text", endpoint=dead)
    assert store_is_empty()


def test_offline_registers_a_model_another_tool_already_downloaded(server, monkeypatch):
    download("tiny-hub-text")
    from ldm_studio.core.models.manager.registry import remove_entry

    remove_entry("tiny-hub-text")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    requests_before = len(server.requests)
    model = download("tiny-hub-text")
    assert len(server.requests) == requests_before
    assert model.kind == "hub" and read_model_info(model.folder).family == "text"
