"""The Batch dialog runs specs on the engine thread: progress, bad rows, cancel, resume, sweeps."""

from __future__ import annotations

import json
from pathlib import Path

from qt_helpers import JOB_TIMEOUT_MS

from ldm_studio.widgets.batch_dialog import SWEEP_FILE

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "batch_dialog.png"


def write_spec(path: Path, steps: int, bad_row: bool = False) -> Path:
    rows = [{"prompt": p} for p in ("a red cat", "a blue lake", "a green hill")]
    if bad_row:
        rows.append({"steps": "many"})
    spec = {"defaults": {"steps": steps, "width": 64, "height": 64, "seed": 7}, "rows": rows}
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def run_to_end(qtbot, dialog) -> object:
    with qtbot.waitSignal(dialog.controller.batch_finished, timeout=JOB_TIMEOUT_MS):
        assert dialog.start() is not None, dialog.status.text()
    return dialog.report


def test_batch_runs_a_spec_and_reports_bad_rows(qtbot, window, tmp_path):
    dialog = window.show_batch()
    dialog.spec_edit.setText(str(write_spec(tmp_path / "spec.json", steps=2, bad_row=True)))
    dialog.out_edit.setText(str(tmp_path / "out"))
    progress = []
    window.controller.batch_progress.connect(lambda job, p: progress.append(p.done))
    queued = []
    window.controller.queued.connect(lambda job: queued.append(window.controller.queued_jobs or [job]))
    report = run_to_end(qtbot, dialog)
    assert queued  # the controller's queue carried the batch job
    assert len(report.written) == 3 and len(list((tmp_path / "out").glob("*.png"))) == 3
    assert progress == [1, 2, 3] and dialog.bar.value() == 3
    assert "row 4" in dialog.problems.toPlainText() and "steps" in dialog.problems.toPlainText()
    assert "Finished: 3/3" in dialog.status.text()
    assert not window.controller.busy


def test_cancel_stops_the_batch_and_running_again_resumes(qtbot, window, tmp_path):
    dialog = window.show_batch()
    dialog.spec_edit.setText(str(write_spec(tmp_path / "spec.json", steps=40)))
    out = tmp_path / "out"
    dialog.out_edit.setText(str(out))
    done = []
    window.controller.batch_progress.connect(lambda job, p: done.append(p.done))
    with qtbot.waitSignal(window.controller.batch_finished, timeout=JOB_TIMEOUT_MS):
        dialog.start()
        qtbot.waitUntil(lambda: bool(done), timeout=JOB_TIMEOUT_MS)
        dialog.cancel_button.click()
    first = dialog.report
    assert first.cancelled and 1 <= len(first.written) < 3
    assert "Cancelled" in dialog.status.text() and dialog.start_button.isEnabled()

    second = run_to_end(qtbot, dialog)
    assert second.already_done == len(first.written) and len(second.written) == 3 - second.already_done
    assert sorted(p.name for p in out.glob("*.png")) == sorted(p.name for p in first.written + second.written)


def test_a_sweep_built_in_the_dialog_runs_and_gets_a_contact_sheet(qtbot, window, tmp_path):
    dialog = window.show_batch()
    dialog.source_tabs.setCurrentIndex(1)
    dialog.prompts_edit.setPlainText("a red cat\na blue lake")
    dialog.seeds_edit.setText("3")
    dialog.guidance_edit.setText("2, 6")
    dialog.steps_box.setValue(2)
    dialog.out_edit.setText(str(tmp_path / "sweep"))
    dialog.resize(560, 460)
    report = run_to_end(qtbot, dialog)
    assert report.ok and len(report.written) == 4 and report.contact_sheet is not None
    assert (tmp_path / "sweep" / SWEEP_FILE).is_file()
    qtbot.wait(20)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(SCREENSHOT))


def test_a_batch_without_a_model_or_folder_is_refused_with_a_reason(qtbot, tmp_path):
    from qt_helpers import make_window

    window = make_window(qtbot)
    dialog = window.show_batch()
    dialog.out_edit.clear()  # it starts with a fresh folder under the history
    assert dialog.start() is None and "output folder" in dialog.status.text()
    dialog.out_edit.setText(str(tmp_path / "out"))
    assert dialog.start() is None and "model" in dialog.status.text()
    window.close()


def test_the_dialog_runs_a_batch_on_two_worker_processes_with_the_same_images(qtbot, window, tmp_path):
    import numpy as np
    from PIL import Image

    dialog = window.show_batch()
    spec = write_spec(tmp_path / "spec.json", steps=2)
    dialog.spec_edit.setText(str(spec))
    dialog.out_edit.setText(str(tmp_path / "one"))
    run_to_end(qtbot, dialog)
    states = []
    window.controller.batch_progress.connect(lambda job, p: states.append(p.workers))
    dialog.out_edit.setText(str(tmp_path / "two"))
    dialog.workers_box.setValue(2)
    with qtbot.waitSignal(window.controller.batch_finished, timeout=240_000):  # spawning 2 engines is slow here
        assert dialog.start() is not None, dialog.status.text()
    report = dialog.report
    assert report.ok and len(report.written) == 3
    assert states and all(len(workers) == 2 for workers in states)
    for path in sorted((tmp_path / "one").glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(tmp_path / "two" / path.name)))
