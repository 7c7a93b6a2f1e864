"""Fixtures for the model manager: a loopback fake Hub / file server and a test catalogue."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest

from ldm_studio.testing.fake_hub import FakeServer

HUB_REPO = "test-org/tiny-ldm-text"


@pytest.fixture(scope="session")
def hub_model_folder(tmp_path_factory):
    """A plain diffusers text model (model_index.json + subfolders), as a Hub repo would hold it."""
    from ldm_studio.testing.tiny_models import write_text_model

    return write_text_model(tmp_path_factory.mktemp("repo") / "tiny-ldm-text", diffusers_only=True)


@pytest.fixture(scope="session")
def original_pair(tmp_path_factory):
    """A tiny class-conditional checkpoint in the original CompVis format: (config.yaml, model.ckpt)."""
    from ldm_studio.testing.compvis_checkpoints import class_config, write_original

    return write_original(tmp_path_factory.mktemp("orig") / "cin-tiny", class_config())


@pytest.fixture(scope="session")
def original_zip(original_pair, tmp_path_factory):
    """The pair zipped the way the latent-diffusion download links ship them (model.ckpt + config.yaml)."""
    config, ckpt = original_pair
    archive = tmp_path_factory.mktemp("zip") / "cin_tiny.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.write(ckpt, "model.ckpt")
        zf.write(config, "config.yaml")
    return archive.read_bytes()


@pytest.fixture
def online(monkeypatch, tmp_path):
    """Network allowed (the root conftest sets HF_HUB_OFFLINE=1), hub cache in the test's folder."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr("ldm_studio.core.models.manager.https.TIMEOUT", 5.0)
    return tmp_path / "hub-cache"


@pytest.fixture
def server(hub_model_folder, original_zip, original_pair, online, monkeypatch, tmp_path):
    """The fake server with the tiny hub repo and archives, and a catalogue pointing at it."""
    fake = FakeServer(lifetime=300.0).start()
    fake.add_repo(HUB_REPO, hub_model_folder)
    zip_url = fake.add_file("cin_tiny.zip", original_zip)
    config, ckpt = original_pair
    ckpt_url = fake.add_file("model.ckpt", ckpt.read_bytes())
    config_url = fake.add_file("cin-tiny.yaml", config.read_bytes())
    good = hashlib.sha256(original_zip).hexdigest()
    catalogue = {
        "models": [
            {
                "name": "tiny-hub-text",
                "family": "text",
                "license": "test",
                "source": {"type": "hub", "repo_id": HUB_REPO},
            },
            _original("tiny-zip", zip_url, good),
            _original("tiny-zip-corrupt", zip_url, "0" * 64),
            {
                "name": "tiny-plain",
                "family": "class",
                "defaults": {"steps": 7, "eta": 0.5},
                "source": {
                    "type": "original",
                    "downloads": [{"url": ckpt_url, "save_as": "model.ckpt"}, {"url": config_url, "save_as": "c.yaml"}],
                    "checkpoint": "model.ckpt",
                    "config": "c.yaml",
                },
            },
        ]
    }
    path = tmp_path / "test-catalogue.json"
    path.write_text(json.dumps(catalogue), encoding="utf-8")
    monkeypatch.setenv("LDM_STUDIO_CATALOGUE", str(path))
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    yield fake
    fake.stop()


def _original(name: str, url: str, sha: str) -> dict:
    return {
        "name": name,
        "family": "class",
        "license": "MIT",
        "source": {
            "type": "original",
            "downloads": [{"url": url, "save_as": "cin_tiny.zip", "unpack": "zip", "sha256": sha}],
            "checkpoint": "model.ckpt",
            "config": "config.yaml",
        },
    }


@pytest.fixture
def store_is_empty():
    """A check: no model folder, no staging leftovers, no index entry, i.e. nothing half-installed."""
    from ldm_studio.core.files.store import models_dir
    from ldm_studio.core.models.manager import read_index

    def check() -> bool:
        root = models_dir()
        leftovers = [p for p in root.iterdir() if p.name != "index.json"] if root.is_dir() else []
        return not leftovers and not read_index()

    return check
