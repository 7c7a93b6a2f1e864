"""Pictures as inputs on the command line, in batches and in recipes (embedding, restoring, A1111)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.batch import BatchRun, read_spec
from ldm_studio.core.batch.spec import expand
from ldm_studio.core.files.recipe import (
    RECIPE_KEY,
    build_recipe,
    format_a1111,
    read_png_recipe,
    recipe_from_a1111,
    recipe_from_json,
)
from ldm_studio.core.generation.image_inputs import EMBED_SIDE, InitImage, pixels_sha256
from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
from ldm_studio.core.models.model_folder import read_model_info


def picture(width, height, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([x, y, 1 - x], axis=-1) * 220 + rng.integers(0, 30, (height, width, 3))
    return base.clip(0, 255).astype(np.uint8)


@pytest.fixture
def inputs(tmp_path):
    image, mask = picture(64, 64), np.zeros((64, 64), dtype=bool)
    mask[16:48, 16:48] = True
    Image.fromarray(image).save(tmp_path / "in.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "m.png")
    return image, mask


def test_generate_image_mask_strength_on_a_text_model(tiny_text_model, tmp_path, inputs, capsys):
    image, mask = inputs
    out = tmp_path / "out"
    args = ["generate", "--model", str(tiny_text_model), "--prompt", "a red cat", "--seed", "3", "--steps", "4"]
    args += ["--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "m.png"), "--strength", "0.5"]
    assert main([*args, "--out", str(out), "--device", "cpu", "--quiet"]) == 0
    (path,) = capsys.readouterr().out.split()
    with Image.open(path) as written:
        assert written.size == (64, 64)  # the picture's size, not asked for
        pixels = np.asarray(written.convert("RGB"))
        recipe = json.loads(written.text[RECIPE_KEY])
        assert "Denoising strength: 0.5" in written.text["parameters"]
    assert np.array_equal(pixels[~mask], image[~mask])
    assert recipe["init"]["strength"] == 0.5
    assert recipe["init"]["image"]["sha256"] == pixels_sha256(image)
    restored = read_png_recipe(path)
    assert restored.init == InitImage(image, 0.5, mask) and restored.strength == 0.5
    # the restored request remakes the same picture
    out2 = tmp_path / "again"
    again = ["generate", "--model", str(tiny_text_model), "--prompt", "a red cat", "--seed", "3", "--steps", "4"]
    again += ["--image", str(tmp_path / "in.png"), "--mask", str(tmp_path / "m.png"), "--strength", "0.5"]
    assert main([*again, "--out", str(out2), "--device", "cpu", "--quiet"]) == 0
    (path2,) = capsys.readouterr().out.split()
    assert np.array_equal(np.asarray(Image.open(path2)), pixels)


def test_generate_upscales_with_a_superres_model(tmp_path, capsys):
    from ldm_studio.testing.tiny_models import write_superres_model

    model = write_superres_model(tmp_path / "sr")
    Image.fromarray(picture(24, 16)).save(tmp_path / "small.png")
    args = ["generate", "--model", str(model), "--image", str(tmp_path / "small.png"), "--steps", "2"]
    assert main([*args, "--out", str(tmp_path / "out"), "--device", "cpu", "--quiet"]) == 0
    (path,) = capsys.readouterr().out.split()
    assert Image.open(path).size == (96, 64)


def test_generate_input_errors_are_one_line(tiny_text_model, tmp_path, inputs, capsys):
    base = ["generate", "--model", str(tiny_text_model), "--prompt", "a cat", "--device", "cpu", "--quiet"]
    assert main([*base, "--image", str(tmp_path / "missing.png")]) != 0
    err = capsys.readouterr().err.strip()
    assert "missing.png" in err and "no such file" in err and "\n" not in err
    assert main([*base, "--mask", str(tmp_path / "m.png")]) != 0
    assert "--mask" in capsys.readouterr().err
    assert main([*base, "--image", str(tmp_path / "in.png"), "--strength", "2"]) != 0
    assert "strength" in capsys.readouterr().err


def test_generate_warns_when_a_picture_is_resized(tiny_text_model, tmp_path, inputs, capsys):
    args = ["generate", "--model", str(tiny_text_model), "--prompt", "a cat", "--steps", "1", "--width", "32"]
    args += ["--height", "32", "--image", str(tmp_path / "in.png"), "--out", str(tmp_path / "o"), "--device", "cpu"]
    assert main(args) == 0
    assert "the image (64x64) is resized to 32x32" in capsys.readouterr().err


def test_batch_rows_take_image_mask_strength_relative_to_the_spec(tiny_text_model, tmp_path, inputs):
    folder = tmp_path / "spec"
    folder.mkdir()
    for name in ("in.png", "m.png"):
        (folder / name).write_bytes((tmp_path / name).read_bytes())
    rows = [
        {"prompt": "a cat", "image": "in.png", "strength": 0.25, "steps": 4},
        {"prompt": "a cat", "image": "in.png", "mask": "m.png", "strength": "0.5", "steps": 4},
        {"prompt": "a cat", "image": "nope.png"},
    ]
    spec = folder / "rows.json"
    spec.write_text(json.dumps({"rows": rows}))
    info = read_model_info(tiny_text_model)
    jobs, bad = expand(read_spec(spec), info, base_seed=1)
    assert [j.request.init.strength for j in jobs] == [0.25, 0.5]
    assert jobs[1].request.init.mask is not None and jobs[0].request.settings.width == 64
    assert len(bad) == 1 and bad[0].row == 3 and "nope.png" in bad[0].problem


def test_a_strength_sweep(text_engine, tmp_path, inputs):
    sweep = {"defaults": {"prompt": "a cat", "image": "in.png", "steps": 4}, "sweep": {"strength": [0.0, 0.5, 1.0]}}
    spec = tmp_path / "sweep.json"
    spec.write_text(json.dumps(sweep))
    report = BatchRun(text_engine, read_spec(spec), tmp_path / "out", base_seed=2).run()
    assert report.ok and len(report.written) == 3 and report.contact_sheet is not None
    strengths = [read_png_recipe(p).strength for p in report.written]
    assert sorted(strengths) == [0.0, 0.5, 1.0]


def test_recipes_embed_a_downscaled_copy_with_the_originals_facts(tiny_text_model):
    info = read_model_info(tiny_text_model)
    big = picture(1000, 600)
    mask = np.zeros((600, 1000), dtype=bool)
    mask[100:200] = True
    req = GenerationRequest(TextCondition("a cat"), SamplerSettings(width=64, height=64), InitImage(big, 0.3, mask))
    recipe = json.loads(json.dumps(build_recipe(req, info, 0, model_hash="h", device="cpu")))
    assert recipe["init"]["image"]["width"] == 1000 and recipe["init"]["image"]["height"] == 600
    assert recipe["init"]["image"]["sha256"] == pixels_sha256(big)
    restored = recipe_from_json(recipe)
    assert max(restored.init.image.shape[:2]) == EMBED_SIDE
    assert restored.init.original_size == (1000, 600) and restored.init.mask.shape == (600, 1000)
    assert any("original 1000x600" in note for note in restored.not_restored)
    again = restored.request()
    assert again.init.to_json()["image"]["sha256"] == pixels_sha256(big)  # the copy keeps the original's facts


def test_a1111_denoising_strength_is_written_and_read(tiny_text_model):
    info = read_model_info(tiny_text_model)
    req = GenerationRequest(TextCondition("a cat"), SamplerSettings(), InitImage(picture(8, 8), 0.35))
    text = format_a1111(build_recipe(req, info, 0, model_hash="h", device="cpu"))
    assert "Denoising strength: 0.35" in text
    restored = recipe_from_a1111(text)
    assert restored.strength == 0.35 and restored.init is None
    assert not any(note.startswith("Denoising strength") for note in restored.not_restored)
    plain_request = GenerationRequest(TextCondition("a"), SamplerSettings())
    plain = format_a1111(build_recipe(plain_request, info, 0, model_hash="h", device="cpu"))
    assert "Denoising strength" not in plain
