"""Opening a model never waits for the preview projection fit: `model_loaded` comes first, the
first job previews in false colour, and the fit runs in pieces between jobs, then is cached."""

from __future__ import annotations

from qt_helpers import text_request

from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.previews import PREVIEW_FILE, ChannelPreview, LinearPreview
from ldm_studio.qt.jobs import Job
from ldm_studio.qt.mailbox import PreviewMailbox
from ldm_studio.qt.worker import EngineWorker
from ldm_studio.testing.tiny_models import write_text_model


def test_loaded_first_then_fitted_between_jobs_and_cached(qtbot, tmp_path):
    folder = write_text_model(tmp_path / "fresh-model")  # no cached projection
    worker = EngineWorker(Engine(choose_device("cpu")), PreviewMailbox())  # in this thread: queued calls wait
    events: list[str] = []
    worker.model_loaded.connect(lambda info: events.append("loaded"))
    worker.projection_fitted.connect(lambda: events.append("fitted"))
    worker.job_finished.connect(lambda *a: events.append("job"))
    previews = []
    worker.mailbox.put = lambda item: previews.append(item) or False

    worker.load_model(str(folder))
    assert events == ["loaded"]
    assert isinstance(worker._projection, ChannelPreview)
    assert worker.engine.model.linear_preview is None and not (folder / PREVIEW_FILE).exists()

    worker.run_job(Job(1, text_request(steps=3)))  # sent before the fit's pieces ran: it goes first
    assert events == ["loaded", "job"] and previews  # previewed with what existed

    with qtbot.waitSignal(worker.projection_fitted, timeout=60_000):
        pass
    assert events == ["loaded", "job", "fitted"]
    assert isinstance(worker._projection, LinearPreview)
    assert (folder / PREVIEW_FILE).is_file()

    # opened again: read from the cache, nothing left to fit
    worker.load_model(str(folder))
    assert isinstance(worker._projection, LinearPreview) and worker._fit is None


def test_a_fit_for_a_replaced_model_is_dropped(qtbot, tmp_path):
    first = write_text_model(tmp_path / "first")
    second = write_text_model(tmp_path / "second", seed=1)
    worker = EngineWorker(Engine(choose_device("cpu")), PreviewMailbox())
    worker.load_model(str(first))
    worker.load_model(str(second))
    with qtbot.waitSignal(worker.projection_fitted, timeout=60_000):
        pass
    assert not (first / PREVIEW_FILE).exists() and (second / PREVIEW_FILE).is_file()
