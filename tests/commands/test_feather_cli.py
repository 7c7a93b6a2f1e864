"""`--feather` and a batch row's `feather`: the soft mask edge on the command line and in batches."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.batch import read_spec
from ldm_studio.core.batch.spec import expand
from ldm_studio.core.files.recipe import RECIPE_KEY, read_png_recipe
from ldm_studio.core.generation.image_inputs import feathered
from ldm_studio.core.models.model_folder import read_model_info


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64] / 64
    image = (np.stack([x, y, 1 - x], axis=-1) * 220 + rng.integers(0, 30, (64, 64, 3))).clip(0, 255).astype(np.uint8)
    mask = np.zeros((64, 64), dtype=bool)
    mask[20:44, 20:44] = True
    Image.fromarray(image).save(tmp_path / "in.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "m.png")
    return image, mask


def test_generate_feather_blends_the_soft_edge_and_is_recorded(tiny_text_model, tmp_path, inputs, capsys):
    image, mask = inputs
    args = ["generate", "--model", str(tiny_text_model), "--prompt", "a red cat", "--seed", "3", "--steps", "4"]
    args += ["--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "m.png"), "--feather", "5"]
    assert main([*args, "--out", str(tmp_path / "out"), "--device", "cpu", "--quiet"]) == 0
    (path,) = capsys.readouterr().out.split()
    with Image.open(path) as written:
        pixels = np.asarray(written.convert("RGB"))
        assert json.loads(written.text[RECIPE_KEY])["init"]["feather"] == 5
        assert "Mask blur: 5" in written.text["parameters"]
    outside = feathered(mask, 5) == 0
    assert np.array_equal(pixels[outside], image[outside]) and not np.array_equal(pixels, image)
    assert read_png_recipe(path).init.feather == 5


def test_feather_needs_a_mask_and_a_whole_number(tiny_text_model, tmp_path, inputs, capsys):
    base = ["generate", "--model", str(tiny_text_model), "--prompt", "a cat", "--image", str(tmp_path / "in.png")]
    assert main([*base, "--feather", "4", "--device", "cpu", "--quiet"]) != 0
    err = capsys.readouterr().err
    assert "--feather" in err and "mask" in err and len(err.strip().splitlines()) == 1


def test_batch_rows_take_feather(tiny_text_model, tmp_path, inputs):
    rows = [
        {"prompt": "a cat", "image": "in.png", "mask": "m.png", "feather": 3, "steps": 4},
        {"prompt": "a cat", "image": "in.png", "mask": "m.png", "feather": "7", "steps": 4},
        {"prompt": "a cat", "image": "in.png", "feather": 2},
        {"prompt": "a cat", "image": "in.png", "mask": "m.png", "feather": "soft"},
    ]
    spec = tmp_path / "rows.json"
    spec.write_text(json.dumps({"rows": rows}))
    jobs, bad = expand(read_spec(spec), read_model_info(tiny_text_model), base_seed=1)
    assert [j.request.init.feather for j in jobs] == [3, 7]
    assert [b.row for b in bad] == [3, 4] and "mask" in bad[0].problem and "soft" in bad[1].problem
