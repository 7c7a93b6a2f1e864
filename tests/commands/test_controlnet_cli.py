"""`generate --controlnet` on an sd model, batch rows with a ControlNet, and the recipe round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.batch import read_spec
from ldm_studio.core.batch.spec import expand
from ldm_studio.core.files.recipe import RECIPE_KEY, read_png_recipe
from ldm_studio.core.generation.control_inputs import ControlNetCondition
from ldm_studio.core.generation.requests import TextCondition
from ldm_studio.core.maps.semantic_maps import colorize, write_map_file
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.testing.tiny_controlnet import painted_ade_map, write_controlnet
from ldm_studio.testing.tiny_sd import write_sd_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-cn")
    model = write_sd_model(root / "sd")
    net = write_controlnet(root / "cn", model, seed=5)
    map_file = write_map_file(root / "layout.png", painted_ade_map(), "ade20k-150")
    return model, net, map_file, root


def generate(model, *extra) -> list[str]:
    args = ["generate", "--model", str(model), "--prompt", "a house by a road", "--seed", "4", "--steps", "3"]
    return [*args, "--width", "64", "--height", "64", "--device", "cpu", "--quiet", *extra]


def test_generate_with_a_controlnet_writes_a_recipe_that_restores_it(tiny, tmp_path, capsys):
    model, net, map_file, _root = tiny
    extra = ["--controlnet", str(net), "--map", str(map_file), "--control-scale", "0.8", "--control-end", "0.6"]
    assert main(generate(model, *extra, "--out", str(tmp_path / "a"))) == 0
    (path,) = capsys.readouterr().out.split()
    with Image.open(path) as written:
        pixels = np.asarray(written.convert("RGB"))
        recipe = json.loads(written.text[RECIPE_KEY])
        parameters = written.text["parameters"]
    control = recipe["condition"]["control"]
    assert recipe["condition"]["kind"] == "controlnet" and control["name"] == str(net)
    assert (control["scale"], control["start"], control["end"]) == (0.8, 0.0, 0.6) and len(control["sha"]) == 10
    assert f"Model: {net} [{control['sha']}], Weight: 0.8, Guidance Start: 0, Guidance End: 0.6" in parameters
    restored = read_png_recipe(path)
    condition = restored.condition
    assert isinstance(condition, ControlNetCondition) and condition.base == TextCondition("a house by a road")
    assert np.array_equal(condition.label_map, painted_ade_map()) and condition.control.scale == 0.8
    # the same options remake the same picture; without the ControlNet the picture differs
    assert main(generate(model, *extra, "--out", str(tmp_path / "b"))) == 0
    (again,) = capsys.readouterr().out.split()
    assert np.array_equal(np.asarray(Image.open(again).convert("RGB")), pixels)
    assert main(generate(model, "--out", str(tmp_path / "c"))) == 0
    (plain,) = capsys.readouterr().out.split()
    assert not np.array_equal(np.asarray(Image.open(plain).convert("RGB")), pixels)


def test_a_coco_coloured_map_is_read_as_coco_and_translated(tiny, tmp_path):
    model, net, _map, _root = tiny
    coco = np.full((32, 32), 156, dtype=np.int64)  # sky-other
    coco[20:] = 158  # snow: ADE20K has no snow
    Image.fromarray(colorize(coco, "coco-stuff-182")).save(tmp_path / "coco.png")
    from ldm_studio.core.generation.conditions import condition_from_values

    info = read_model_info(model)
    condition = condition_from_values(info, {"prompt": "x", "controlnet": str(net), "map": tmp_path / "coco.png"})
    assert isinstance(condition, ControlNetCondition) and condition.label_set == "coco-stuff-182"
    translation = condition.translation()
    assert translation is not None and translation.untranslated == {"snow": 12 * 32}


def test_cli_errors_are_one_line(tiny, capsys):
    model, net, _map, _root = tiny
    assert main(generate(model, "--controlnet", str(net))) != 0
    assert "--map: a ControlNet needs a control map" in capsys.readouterr().err
    assert main(generate(model, "--control-scale", "0.5")) != 0
    assert "--control-scale: needs a ControlNet" in capsys.readouterr().err


def test_batch_rows_take_the_controlnet_fields(tiny, tmp_path):
    model, net, map_file, _root = tiny
    spec_file = tmp_path / "spec.json"
    row = {"prompt": "a road", "controlnet": str(net), "map": str(map_file), "control-scale": 0.5}
    spec_file.write_text(json.dumps({"rows": [row, {**row, "control-start": 0.2, "control-end": 0.8}]}))
    jobs, bad = expand(read_spec(spec_file), read_model_info(model), base_seed=1)
    assert not bad
    first, second = (job.request.condition for job in jobs)
    assert isinstance(first, ControlNetCondition) and isinstance(second, ControlNetCondition)
    assert (first.control.scale, first.control.start, first.control.end) == (0.5, 0.0, 1.0)
    assert (second.control.start, second.control.end) == (0.2, 0.8)


def test_models_import_and_list_a_controlnet_then_generate_by_its_name(tiny, tmp_path, capsys):
    model, net, map_file, _root = tiny
    assert main(["models", "import", str(net), "--name", "seg-cn"]) == 0
    captured = capsys.readouterr()
    assert "imported seg-cn (sd ControlNet, 2 files)" in captured.err
    assert main(["models", "list"]) == 0
    listing = capsys.readouterr().out
    line = next(line for line in listing.splitlines() if line.startswith("seg-cn "))
    assert "installed" in line and "sd controlnet" in line
    assert any(line.startswith("sd-controlnet-seg ") and "sd controlnet" in line for line in listing.splitlines())
    assert main(generate(model, "--controlnet", "seg-cn", "--map", str(map_file), "--out", str(tmp_path))) == 0
    (path,) = capsys.readouterr().out.split()
    assert json.loads(Image.open(path).text[RECIPE_KEY])["condition"]["control"]["name"] == "seg-cn"
