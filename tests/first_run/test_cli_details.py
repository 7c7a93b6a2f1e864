"""The command line's smaller first-run problems (issue 19, item 8): each as a person meets it."""

from __future__ import annotations

import json
import os
import stat

import pytest
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.models.demo_model import demo_model_path
from ldm_studio.core.models.model_folder import read_model_info

DEMO = demo_model_path()
needs_demo = pytest.mark.skipif(DEMO is None, reason="this tree has no demo model")
TINY = ["--steps", "2", "--width", "64", "--height", "64"]


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def recipe_of(png) -> dict:
    with Image.open(png) as image:
        image.load()  # text chunks after the pixels are read with them
        return json.loads(image.text["ldm_studio"])


def test_generate_writes_world_readable_pngs_naming_the_model_by_absolute_path(
    tmp_path, tiny_text_model, monkeypatch, capsys, umask_022
):
    monkeypatch.chdir(tiny_text_model.parent)
    code = main(["generate", "--model", tiny_text_model.name, "--prompt", "a cat", "--seed", "1", *TINY,
                 "--out", str(tmp_path), "--quiet"])
    assert code == 0, capsys.readouterr().err
    (png,) = tmp_path.glob("*.png")
    assert stat.S_IMODE(png.stat().st_mode) == 0o644
    path = recipe_of(png)["model"]["path"]
    assert os.path.isabs(path) and os.path.samefile(path, tiny_text_model)


@needs_demo
def test_batch_defaults_to_the_demo_model_and_its_manifest_names_it_absolutely(tmp_path, capsys, umask_022):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([{"prompt": "a lake", "class": "forest", "steps": 2, "seed": 5}]), encoding="utf-8")
    code = main(["batch", str(spec), "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0, capsys.readouterr().err
    (line,) = (tmp_path / "out" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    entry = json.loads(line)
    assert os.path.samefile(entry["recipe"]["model"]["path"], DEMO) and os.path.isabs(entry["recipe"]["model"]["path"])
    assert entry["file"] == "00000_5_a-lake-class-1.png"  # what it shows, not "combined"
    assert stat.S_IMODE((tmp_path / "out" / entry["file"]).stat().st_mode) == 0o644


@needs_demo
def test_an_unknown_class_name_lists_the_models_classes(capsys):
    assert main(["generate", "--class", "bech", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "class: 'bech' is not one of this model's classes: beach, forest, mountains, snowfield" in err


def test_guidance_above_the_windows_cap_is_refused_by_generate_and_batch_alike(tmp_path, tiny_text_model, capsys):
    from ldm_studio.core.batch.spec import expand, read_spec
    from ldm_studio.core.generation.requests import MAX_GUIDANCE

    assert MAX_GUIDANCE == 20
    assert main(["generate", "--model", str(tiny_text_model), "--prompt", "a", "--guidance", "50"]) == 2
    assert "--guidance: 50 is above 20" in capsys.readouterr().err
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps([{"prompt": "a", "guidance": 50}, {"prompt": "b", "guidance": 20}]), encoding="utf-8")
    jobs, bad = expand(read_spec(spec), read_model_info(tiny_text_model), 0)
    assert [b.row for b in bad] == [1] and "guidance: 50 is above 20" in bad[0].problem
    assert len(jobs) == 1


@needs_demo
def test_models_list_has_a_header_the_demo_model_and_says_not_installed(capsys):
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "FAMILY", "SIZE", "LICENSE", "WHERE"]
    demo = next(line for line in lines if line.startswith("demo "))
    assert "shipped" in demo and "multi" in demo and "MB" in demo and str(DEMO) in demo
    catalogue = [line for line in lines if "hub:CompVis/" in line]
    assert catalogue and all("not installed" in line for line in catalogue)
    assert not any(" available " in line or " ? " in line for line in lines)
    taesdxl = next(line for line in lines if line.startswith("taesdxl "))  # a component: what it attaches to
    assert "[preview decoder for sdxl models] hub:madebyollin/taesdxl" in taesdxl and "~10 MB" in taesdxl
