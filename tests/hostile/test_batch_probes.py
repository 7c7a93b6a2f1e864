"""Issue 21, probes 20-30: a batch never overwrites, never hangs, and reads its files defensively."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path

import pytest

from ldm_studio.cli import main
from ldm_studio.core.batch import BatchRun, read_spec
from ldm_studio.core.batch import runner as runner_module
from ldm_studio.core.errors import FileFormatError, LdmStudioError

SMALL = {"steps": 2, "width": 64, "height": 64}


def spec_file(path: Path, rows, **extra) -> Path:
    data = {"rows": rows, **extra} if extra else rows
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def run_batch(args, capsys):
    code = main(["batch", *map(str, args), "--quiet", "--device", "cpu"])
    return code, capsys.readouterr().err


def test_bad_jsonl_lines_are_bad_rows_and_the_rest_run(tmp_path, tiny_text_model, capsys):
    """20, 21: an invalid line and a line `[1,2]` are reported by number; the good lines run."""
    spec = tmp_path / "rows.jsonl"
    good = json.dumps({"prompt": "a cat", "seed": 1, **SMALL})
    spec.write_text(f"{good}\n{{not json\n[1,2]\n{json.dumps({'prompt': 'sea', 'seed': 2, **SMALL})}\n")
    out = tmp_path / "out"
    code, err = run_batch([spec, "--model", tiny_text_model, "--out", out], capsys)
    assert code == 1, err
    assert "rows.jsonl: row 2: is not valid JSON" in err and "rows.jsonl: row 3: must be a JSON object" in err
    assert "Traceback" not in err and len(list(out.glob("*.png"))) == 2


@pytest.mark.parametrize(
    ("template", "rows", "needle"),
    [
        ("{prompt_slug}.png", [{"prompt": "a cat"}] * 3, "same name"),  # 22
        ("{seed}.png", [{"prompt": "x", "seed": 1, "batch": 2}, {"prompt": "y", "seed": 2}], "same name"),  # 23
        ("a\u0000{index}.png", [{"prompt": "x"}], "not a plain file name"),  # 24
        ("{index:>300000000}.png", [{"prompt": "x"}], "width over"),  # 26
        ("{index}" + "x" * 300 + ".png", [{"prompt": "x"}], "longer than"),
        ("{nope}.png", [{"prompt": "x"}], "unknown"),
    ],
    ids=["slug-collides", "seeds-overlap", "nul", "huge-width", "long-name", "unknown-field"],
)
def test_unusable_templates_are_refused_before_anything_is_written(
    tmp_path, tiny_text_model, capsys, template, rows, needle
):
    spec = spec_file(tmp_path / "s.json", [{**r, **SMALL} for r in rows], template=template)
    out = tmp_path / "out"
    code, err = run_batch([spec, "--model", tiny_text_model, "--out", out], capsys)
    lines = [line for line in err.splitlines() if line.startswith("ldm-studio")]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err and len(lines[0]) < 400
    assert not out.exists()


def test_a_dying_writer_stops_the_batch_instead_of_hanging(tmp_path, text_engine, monkeypatch):
    """25: the writer thread fails on something other than OSError with 20 rows queued: a message, no hang."""
    spec = spec_file(tmp_path / "s.json", [{"prompt": "x", "seed": i, **SMALL} for i in range(20)])

    def broken(*args, **kwargs):
        raise ValueError("embedded null byte")

    monkeypatch.setattr(runner_module, "write_png_atomic", broken)
    monkeypatch.setattr(runner_module._Writer, "__init__", _small_queue(runner_module._Writer.__init__))
    outcome: dict = {}

    def target():
        try:
            BatchRun(text_engine, read_spec(spec), tmp_path / "out", base_seed=0).run()
        except LdmStudioError as exc:
            outcome["error"] = str(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the batch hangs"
    assert "embedded null byte" in outcome["error"] and "stopped after 0 of 20" in outcome["error"]


def _small_queue(init):
    def wrapped(self, manifest):
        init(self, manifest)
        self.items.maxsize = 1  # fills at once: the old writer's death blocked the main thread here

    return wrapped


def test_a_writer_thread_that_dies_never_blocks_put_or_finish(tmp_path):
    """25: the writer thread ended (here: its progress callback raised) with the queue full."""
    import numpy as np

    writer = runner_module._Writer(tmp_path / "manifest.jsonl")
    writer.items.maxsize = 1

    def die(path):
        raise SystemExit  # ends the thread without an exception report

    writer.on_written = die
    writer.start()
    finished = threading.Event()

    def feed():
        for i in range(5):
            writer.put(np.zeros((4, 4, 3), np.uint8), {"file": f"{i}.png", "recipe": _recipe()})
        writer.finish()
        finished.set()

    threading.Thread(target=feed, daemon=True).start()
    assert finished.wait(20), "put/finish block on a dead writer"
    assert writer.error


def _recipe():
    return {"condition": {"kind": "uncond"}, "settings": {"steps": 1, "sampler": "ddim", "guidance": 1, "seed": 0,
            "width": 4, "height": 4}, "model": {"hash": "h", "name": "n"}}  # fmt: skip


def prepare_done_batch(tmp_path, text_engine, rows=2):
    spec = spec_file(tmp_path / "s.json", [{"prompt": "x", "seed": i, **SMALL} for i in range(rows)])
    out = tmp_path / "out"
    BatchRun(text_engine, read_spec(spec), out, base_seed=0).run()
    return spec, out


def test_torn_manifest_on_a_full_disk_is_one_message_and_no_temp_file(tmp_path, text_engine, monkeypatch):
    """27"""
    spec, out = prepare_done_batch(tmp_path, text_engine)
    manifest = out / "manifest.jsonl"
    manifest.write_text(manifest.read_text() + '{"index": 1, "fi')
    real = Path.write_text

    def full(self, *a, **k):
        if self.name.endswith(".tmp"):
            real(self, "partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(LdmStudioError, match="No space left on device"):
        BatchRun(text_engine, read_spec(spec), out).run()
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_a_manifest_that_is_a_folder_or_binary_is_handled(tmp_path, text_engine, kind):
    """28, 29"""
    spec, out = prepare_done_batch(tmp_path, text_engine)
    manifest = out / "manifest.jsonl"
    manifest.unlink()
    if kind == "directory":
        manifest.mkdir()
        with pytest.raises(LdmStudioError, match=r"manifest\.jsonl: is not a file"):
            BatchRun(text_engine, read_spec(spec), out).run()
    else:
        manifest.write_bytes(b"\xff\xfe\x00\x01garbage\n" + b"\xff" * 100)
        report = BatchRun(text_engine, read_spec(spec), out).run()
        assert report.already_done == 2 and not report.written  # adopted from the files in place


def test_a_manifest_line_naming_a_file_outside_the_folder_does_not_count(tmp_path, text_engine):
    """30: only the job's own file inside the output folder counts as done."""
    spec, out = prepare_done_batch(tmp_path, text_engine, rows=1)
    png = next(out.glob("*.png"))
    png.unlink()
    outside = tmp_path / "hostname"
    outside.write_text("host")
    (out / "manifest.jsonl").write_text(json.dumps({"index": 0, "file": str(outside)}) + "\n")
    report = BatchRun(text_engine, read_spec(spec), out).run()
    assert report.already_done == 0 and len(report.written) == 1 and png.is_file()


def test_malformed_spec_files_are_one_file_error(tmp_path):
    cases = {
        "deep.json": "[" * 100_000,
        "bytes.json": b"\xff\xfe{}",
        "nul.csv": "prompt\na\x00b\n",
        "wide.csv": "prompt\n" + "x" * 200_000 + "\n",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        try:
            read_spec(path)
        except FileFormatError as exc:
            assert name in str(exc) and len(str(exc)) < 400
