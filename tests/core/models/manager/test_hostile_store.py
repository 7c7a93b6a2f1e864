"""Issue 21, probe 36 and 41, and staging leftovers: the store's index survives concurrent writers."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from pathlib import Path

import pytest

from ldm_studio.core.files.store import models_dir
from ldm_studio.core.models.manager import import_model, read_index
from ldm_studio.core.models.manager.install import OWNER_LOCK, remove_stale_staging, staging_folders
from ldm_studio.core.models.manager.registry import InstalledModel, add_entry


def _add_many(args):
    home, prefix, count = args
    os.environ["LDM_STUDIO_HOME"] = home
    for i in range(count):
        add_entry(InstalledModel(f"{prefix}-{i}", "external", f"/m/{prefix}/{i}"))


@pytest.mark.skipif(sys.platform != "linux", reason="fork keeps the test fast; the lock is the same elsewhere")
def test_three_processes_adding_models_at_once_lose_no_entry(studio_home):
    """36: only a thread lock: 379 of 900 entries survived."""
    context = multiprocessing.get_context("fork")
    jobs = [(str(studio_home), name, 100) for name in ("a", "b", "c")]
    processes = [context.Process(target=_add_many, args=(job,)) for job in jobs]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    assert len(read_index()) == 300


def test_the_shipped_demo_model_can_be_imported_into_the_store():
    """41: "cond_stage/config.json: missing" for the multi family's cond_stage/class and cond_stage/map."""
    demo = Path(__file__).resolve().parents[4] / "resources" / "demo_model"
    model = import_model(demo)
    assert model.family == "multi" and (models_dir() / model.name / "cond_stage" / "map").is_dir()


def test_staging_folders_of_killed_imports_are_removed_and_live_ones_kept():
    from ldm_studio.core.files.file_lock import file_lock

    root = models_dir()
    dead = root / ".staging-killed-abc"
    live = root / ".staging-running-def"
    for folder in (dead, live):
        (folder / "part").mkdir(parents=True)
        old = time.time() - 3600
        os.utime(folder, (old, old))
    with file_lock(live / OWNER_LOCK):
        removed = remove_stale_staging()
        assert removed == [dead] and not dead.exists() and live.exists()
    assert staging_folders() == [live]
