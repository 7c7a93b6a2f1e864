"""Batch export: specs, bad rows, resuming after a kill, torn manifests, full disks, sweeps."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.batch import BatchRun, read_spec
from ldm_studio.core.batch import runner as runner_module
from ldm_studio.core.batch.spec import job_file_name
from ldm_studio.core.errors import FileFormatError, LdmStudioError
from ldm_studio.core.models.model_folder import read_model_info

SMALL = {"steps": 2, "width": 64, "height": 64}


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def manifest(folder):
    return [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]


def test_spec_formats_expand_alike(tmp_path, tiny_text_model):
    info = read_model_info(tiny_text_model)
    rows = [{"prompt": "a cat", "seed": 3, "batch": 2}, {"prompt": "sea", "seed": 9, "guidance": 2}]
    specs = [
        write(tmp_path / "a.json", json.dumps(rows)),
        write(tmp_path / "b.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n"),
        write(tmp_path / "c.csv", "prompt,seed,batch,guidance\na cat,3,2,\nsea,9,,2\n"),
        write(tmp_path / "d.json", json.dumps({"defaults": {}, "rows": rows})),
    ]
    from ldm_studio.core.batch import expand

    expanded = [expand(read_spec(s), info, base_seed=0) for s in specs]
    for jobs, bad in expanded:
        assert not bad
        assert [(j.seed, j.request.condition.prompt, j.request.settings.guidance) for j in jobs] == [
            (3, "a cat", info.defaults.guidance),
            (4, "a cat", info.defaults.guidance),
            (9, "sea", 2.0),
        ]


def test_sweep_is_a_product_with_one_seed(tmp_path, tiny_text_model):
    info = read_model_info(tiny_text_model)
    spec = write(tmp_path / "s.json", json.dumps({"sweep": {"prompt": ["a", "b"], "guidance": [1, 3, 5]}}))
    from ldm_studio.core.batch import expand

    jobs, _ = expand(read_spec(spec), info, base_seed=42)
    assert len(jobs) == 6 and {j.seed for j in jobs} == {42}
    assert [dict(j.axes) for j in jobs[:3]] == [{"prompt": "a", "guidance": g} for g in (1, 3, 5)]


@pytest.mark.parametrize(
    ("text", "problem"),
    [("[", "not valid JSON"), ('{"sweep": {"seed": []}}', "non-empty lists"), ('{"x": 1}', 'needs "rows"')],
)
def test_malformed_specs_name_the_file(tmp_path, text, problem):
    with pytest.raises(FileFormatError, match=problem) as err:
        read_spec(write(tmp_path / "spec.json", text))
    assert "spec.json" in str(err.value)


def test_bad_rows_are_reported_by_number_and_the_rest_run(tmp_path, tiny_text_model, capsys):
    spec = write(
        tmp_path / "rows.csv",
        "prompt,class,seed,steps,sampler,width,height\n"
        "a red cat,,1,2,ddim,64,64\n"
        "a dog,,x,2,ddim,64,64\n"
        "sea,,2,2,warp_drive,64,64\n"
        ",5,3,2,ddim,64,64\n"
        "sky,,4,2,ddim,60,64\n"
        "a bird,,5,2,euler,64,64\n",
    )
    out = tmp_path / "out"
    code = main(["batch", str(spec), "--model", str(tiny_text_model), "--out", str(out), "--quiet", "--device", "cpu"])
    assert code == 1
    err = capsys.readouterr().err
    assert "rows.csv: row 3: seed: 'x' is not an integer" in err
    assert "row 4: sampler: unknown sampler 'warp_drive'" in err
    assert "row 5: class: does not apply to a 'text' model" in err
    assert "row 6: width: 60 is not a multiple" in err
    assert sorted(p.name for p in out.glob("*.png")) == ["00000_1_a-red-cat.png", "00001_5_a-bird.png"]


def test_a_batch_killed_mid_run_resumes_to_exactly_the_expected_files(tmp_path, tiny_text_model):
    """A real subprocess, killed with SIGKILL, then the same command again."""
    rows = [{"prompt": f"a cat {i}", "seed": 100 + i, "steps": 12, "width": 64, "height": 64} for i in range(10)]
    rows[3]["batch"] = 3  # a multi-image row, possibly cut in half by the kill
    spec = write(tmp_path / "spec.jsonl", "\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out"
    args = ["batch", str(spec), "--model", str(tiny_text_model), "--out", str(out), "--quiet", "--device", "cpu"]
    proc = subprocess.Popen([sys.executable, "-m", "ldm_studio", *args], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listed = (out / "manifest.jsonl").read_text().count("\n") if (out / "manifest.jsonl").exists() else 0
        if listed >= 3 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert 3 <= len(before) < 12, "the kill should land mid-batch"

    assert main(args) == 0
    info = read_model_info(tiny_text_model)
    from ldm_studio.core.batch import expand

    jobs, _ = expand(read_spec(spec), info, base_seed=json.loads((out / "batch_plan.json").read_text())["base_seed"])
    expected = sorted(job_file_name(job) for job in jobs)
    assert len(expected) == 12
    assert sorted(p.name for p in out.glob("*.png")) == expected
    assert not list(out.glob(".*"))  # no temp files left
    entries = manifest(out)
    assert sorted(e["index"] for e in entries) == list(range(12))  # each once
    for name, mtime in before.items():
        assert (out / name).stat().st_mtime_ns == mtime, f"{name} was redone"


def test_resumed_images_equal_an_uninterrupted_run(tmp_path, text_engine):
    spec = write(tmp_path / "s.json", json.dumps([{"prompt": "a red cat", "seed": 7, "batch": 3, **SMALL}]))
    full = tmp_path / "full"
    BatchRun(text_engine, read_spec(spec), full, base_seed=0).run()
    part = tmp_path / "part"
    BatchRun(text_engine, read_spec(spec), part, base_seed=0).run()
    # lose image 1 and the manifest's last line (a kill between rename and append), add a torn line
    names = sorted(p.name for p in part.glob("*.png"))
    (part / names[1]).unlink()
    lines = (part / "manifest.jsonl").read_text().splitlines()
    (part / "manifest.jsonl").write_text("\n".join(lines[:2]) + '\n{"index": 2, "fi')
    report = BatchRun(text_engine, read_spec(spec), part, base_seed=0).run()
    assert len(report.written) == 1 and report.already_done == 2  # image 2's file was adopted, not redone
    for name in names:
        assert np.array_equal(np.asarray(Image.open(full / name)), np.asarray(Image.open(part / name)))
    assert sorted(e["index"] for e in manifest(part)) == [0, 1, 2]


def test_a_full_disk_stops_the_batch_with_a_consistent_manifest(tmp_path, text_engine, monkeypatch):
    spec = write(tmp_path / "s.json", json.dumps([{"prompt": "x", "seed": i, **SMALL} for i in range(6)]))
    calls = {"n": 0}
    real = runner_module.write_png_atomic

    def failing(path, image, text=None):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, image, text)

    monkeypatch.setattr(runner_module, "write_png_atomic", failing)
    out = tmp_path / "out"
    with pytest.raises(LdmStudioError, match=r"No space left on device.*run the same command again"):
        BatchRun(text_engine, read_spec(spec), out, base_seed=0).run()
    entries = manifest(out)
    assert len(entries) == 2 and all((out / e["file"]).is_file() for e in entries)
    assert len(list(out.glob("*.png"))) == 2


def test_a_different_spec_in_the_same_folder_is_refused(tmp_path, text_engine):
    spec = write(tmp_path / "s.json", json.dumps([{"prompt": "x", **SMALL}]))
    BatchRun(text_engine, read_spec(spec), tmp_path / "out", base_seed=0).run()
    write(spec, json.dumps([{"prompt": "y", **SMALL}]))
    with pytest.raises(LdmStudioError, match="different spec"):
        BatchRun(text_engine, read_spec(spec), tmp_path / "out")


def test_sweep_contact_sheet_and_recipes(tmp_path, text_engine):
    spec = write(
        tmp_path / "s.json",
        json.dumps({"defaults": {**SMALL, "batch": 2}, "sweep": {"prompt": ["a cat", "a dog"], "steps": [1, 2, 3]}}),
    )
    report = BatchRun(text_engine, read_spec(spec), tmp_path / "out", base_seed=5).run()
    assert report.ok and len(report.written) == 12
    with Image.open(report.contact_sheet) as sheet:
        # 3 columns of 2 images of 128 px (64 px enlarged), 2 rows
        assert sheet.width > 3 * 2 * 128 and 2 * 128 < sheet.height < 3 * 128
    entry = next(e for e in manifest(tmp_path / "out") if e["index"] == 7)  # "a dog", steps 1, image 1
    assert entry["recipe"]["condition"] == {"kind": "text", "prompt": "a dog", "negative": ""}
    assert entry["recipe"]["settings"]["steps"] == 1 and entry["recipe"]["settings"]["seed"] == 6
