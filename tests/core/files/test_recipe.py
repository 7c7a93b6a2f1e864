"""Recipes: every field round-trips through a PNG, A1111 text parses, bad metadata is explained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from ldm_studio.core.errors import FileFormatError
from ldm_studio.core.files.outputs import save_images, write_png_atomic
from ldm_studio.core.files.recipe import (
    A1111_KEY,
    RECIPE_KEY,
    build_recipe,
    format_a1111,
    parse_a1111,
    read_png_recipe,
    recipe_chunks,
)
from ldm_studio.core.generation.requests import (
    ClassCondition,
    GenerationRequest,
    SamplerSettings,
    SemanticMapCondition,
    TextCondition,
    UnconditionalCondition,
)
from ldm_studio.core.models.model_folder import ModelInfo

INFO = ModelInfo(
    path=Path("/models/demo"),
    family="text",
    name="demo, v1",
    resolution=64,
    latent_factor=8,
    latent_channels=4,
    scale_factor=0.18215,
    autoencoder="vqvae",
    autoencoder_kind="kl",
)
PIXELS = np.zeros((8, 8, 3), dtype=np.uint8)


def write_and_read(tmp_path, request, index=0):
    recipe = build_recipe(request, INFO, index, model_hash="0123456789", device="cpu (fp32)")
    path = write_png_atomic(tmp_path / "img.png", PIXELS, recipe_chunks(recipe))
    return read_png_recipe(path)


SETTINGS = SamplerSettings(
    sampler="dpmpp_2m_karras", steps=17, guidance=3.5, eta=0.25, seed=1234, batch_size=3, width=96, height=64
)


@pytest.mark.parametrize(
    "condition",
    [
        TextCondition('a "quoted", multi\nline prompt: ünïcödé 猫', "blurry, low quality"),
        ClassCondition((448,)),
        SemanticMapCondition(np.arange(48, dtype=np.int64).reshape(6, 8) % 182),
        UnconditionalCondition(),
    ],
    ids=["text", "class", "semantic", "uncond"],
)
def test_every_field_round_trips(tmp_path, condition):
    restored = write_and_read(tmp_path, GenerationRequest(condition, SETTINGS), index=2)
    assert restored.source == "ldm_studio" and not restored.not_restored
    assert restored.settings == SamplerSettings(
        sampler="dpmpp_2m_karras", steps=17, guidance=3.5, eta=0.25, seed=1236, batch_size=1, width=96, height=64
    )
    if isinstance(condition, SemanticMapCondition):
        assert np.array_equal(restored.condition.label_map, condition.label_map)
        assert restored.condition.label_set == condition.label_set
    else:
        assert restored.condition == condition
    assert restored.model_name == "demo, v1" and restored.model_hash == "0123456789"
    recipe = restored.recipe
    assert recipe["batch"] == {"index": 2, "size": 3, "seed": 1234}
    assert recipe["device"] == "cpu (fp32)" and recipe["model"]["family"] == "text"
    assert set(recipe["versions"]) >= {"ldm_studio", "torch", "diffusers"}


def test_per_image_class_lists_keep_the_image_class(tmp_path):
    request = GenerationRequest(ClassCondition((1, 2, 3)), SamplerSettings(batch_size=3))
    restored = write_and_read(tmp_path, request, index=1)
    assert restored.condition == ClassCondition((2,))
    assert restored.recipe["condition"]["class_names"] == ["great white shark"]


def test_a1111_parameters_text_is_written_as_png_info_reads_it(tmp_path):
    request = GenerationRequest(TextCondition("a lighthouse", "fog"), SETTINGS)
    recipe = build_recipe(request, INFO, 0, model_hash="abcdef0123", device="cpu")
    assert format_a1111(recipe) == (
        "a lighthouse\nNegative prompt: fog\n"
        "Steps: 17, Sampler: DPM++ 2M Karras, CFG scale: 3.5, Seed: 1234, Size: 96x64, "
        'Model hash: abcdef0123, Model: "demo, v1", Eta: 0.25'
    )


A1111_SAMPLE = """masterpiece, a castle on a hill,
golden hour
Negative prompt: lowres, bad anatomy
jpeg artifacts
Steps: 30, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 3921, Size: 512x768, \
Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Hires upscale: 2, Lora hashes: "add_detail: 7c6bad76eb54, x: 1", \
Version: v1.9.4"""


def test_parse_a1111_text():
    parsed = parse_a1111(A1111_SAMPLE)
    assert parsed["prompt"] == "masterpiece, a castle on a hill,\ngolden hour"
    assert parsed["negative"] == "lowres, bad anatomy\njpeg artifacts"
    assert parsed["fields"]["Lora hashes"] == "add_detail: 7c6bad76eb54, x: 1"
    assert parsed["fields"]["Size"] == "512x768" and parsed["fields"]["Version"] == "v1.9.4"


def test_a1111_png_restores_what_maps_and_lists_the_rest(tmp_path):
    info = PngImagePlugin.PngInfo()
    info.add_text(A1111_KEY, A1111_SAMPLE)
    path = tmp_path / "a1111.png"
    Image.fromarray(PIXELS).save(path, pnginfo=info)
    restored = read_png_recipe(path)
    assert restored.source == "a1111"
    assert restored.condition == TextCondition(
        "masterpiece, a castle on a hill,\ngolden hour", "lowres, bad anatomy\njpeg artifacts"
    )
    s = restored.settings
    assert (s.steps, s.sampler, s.guidance, s.seed, s.width, s.height) == (30, "euler_a", 7.0, 3921, 512, 768)
    assert restored.model_hash == "6ce0161689"
    assert any(item.startswith("Schedule type") for item in restored.not_restored)
    assert any(item.startswith("Hires upscale") for item in restored.not_restored)


def test_our_text_parses_back_through_the_a1111_reader():
    request = GenerationRequest(TextCondition("sea, sky: dusk", ""), SETTINGS)
    recipe = build_recipe(request, INFO, 0, model_hash="abcdef0123", device="cpu")
    parsed = parse_a1111(format_a1111(recipe))
    assert parsed["prompt"] == "sea, sky: dusk" and parsed["fields"]["Model"] == "demo, v1"


def test_png_without_metadata_or_with_a_bad_recipe_is_explained(tmp_path):
    plain = tmp_path / "plain.png"
    Image.fromarray(PIXELS).save(plain)
    with pytest.raises(FileFormatError, match=r"plain\.png: carries no generation metadata"):
        read_png_recipe(plain)
    bad = write_png_atomic(tmp_path / "bad.png", PIXELS, {RECIPE_KEY: "{not json"})
    with pytest.raises(FileFormatError, match=r"bad\.png: has a malformed LDM Studio recipe"):
        read_png_recipe(bad)
    wrong = write_png_atomic(tmp_path / "wrong.png", PIXELS, {RECIPE_KEY: '{"version": 1, "settings": {"steps": 0}}'})
    with pytest.raises(FileFormatError, match="malformed"):
        read_png_recipe(wrong)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(FileFormatError, match=r"notes\.png: is not a readable image"):
        read_png_recipe(text)


def test_regenerating_from_a_recipe_reproduces_the_image(text_engine, tmp_path):
    engine = text_engine
    request = GenerationRequest(
        TextCondition("a red cat", "blurry"),
        SamplerSettings(sampler="euler_a", steps=4, guidance=4.0, seed=77, batch_size=2, width=64, height=64),
    )
    result = engine.generate(request)
    paths = save_images(result.images, request, engine.model.info, tmp_path, device="cpu (fp32)")
    again = engine.generate(read_png_recipe(paths[1]).request())
    assert np.array_equal(again.images[0], np.asarray(Image.open(paths[1])))
