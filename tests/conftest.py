"""Shared fixtures: an isolated LDM Studio home and tiny random-weight model folders."""

from __future__ import annotations

import os

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one worker per core (`-n auto`): each worker samples on one thread instead of every core each
    # (a test that checks the default plan clears this first)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from ldm_studio.quiet import quiet_libraries

quiet_libraries()


@pytest.fixture(autouse=True)
def studio_home(tmp_path_factory, monkeypatch):
    """Every test gets its own data/cache/config/history folders; nothing touches the real ones."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("LDM_STUDIO_HOME", str(home))
    monkeypatch.delenv("LDM_STUDIO_HISTORY", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture(scope="session")
def tiny_text_model(tmp_path_factory):
    """A text-family model folder (ldm_studio.json + diffusers subfolders), built once per session."""
    from ldm_studio.testing.tiny_models import write_text_model

    return write_text_model(tmp_path_factory.mktemp("models") / "tiny-text")


@pytest.fixture(scope="session")
def text_engine(tiny_text_model):
    """A loaded CPU engine on the tiny text model (shared: loading is the slow part)."""
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine

    engine = Engine(choose_device("cpu"))
    engine.load(tiny_text_model)
    return engine


os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
