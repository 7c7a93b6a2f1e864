"""Issue 21, probes 11-19: a recipe PNG never raises anything but FileFormatError, and reads in bounded time."""

from __future__ import annotations

import json
import time

import pytest

from ldm_studio.core.errors import FileFormatError
from ldm_studio.core.files.recipe import A1111_KEY, RECIPE_KEY, parse_a1111, read_png_recipe
from tests.hostile.helpers import bomb_png, png_with_text, recipe_json, semantic_recipe, small_png


@pytest.mark.parametrize(
    "chunks",
    [
        {A1111_KEY: 'a cat\nSteps: 20, Model: "a\\q"'},  # 11: JSONDecodeError in a quoted value
        {RECIPE_KEY: "[" * 100_000},  # 12: RecursionError
        {RECIPE_KEY: semantic_recipe(bomb_png())},  # 13: map_png declares 20000x20000
        {RECIPE_KEY: semantic_recipe(b"this is not a PNG at all")},  # 14: non-PNG bytes
        {RECIPE_KEY: semantic_recipe(small_png(64)[:-30])},  # 15: truncated PNG
        {RECIPE_KEY: json.dumps(recipe_json(model="abc"))},  # 16: AttributeError on model.get
        {RECIPE_KEY: json.dumps(recipe_json(settings=[1, 2]))},
        {RECIPE_KEY: json.dumps(recipe_json(condition={"kind": "combined", "parts": [{"kind": "uncond"}]}))},
        {RECIPE_KEY: json.dumps(recipe_json(condition={"kind": "class", "class_ids": "abc"}))},
    ],
    ids=["a1111-bad-quote", "deep-json", "map-bomb", "map-not-png", "map-truncated", "model-str", "settings-list",
         "combined-uncond", "class-str"],
)
def test_hostile_recipe_chunks_give_one_file_error(tmp_path, chunks):
    path = png_with_text(tmp_path / "hostile.png", chunks)
    try:
        restored = read_png_recipe(path)
    except FileFormatError as exc:
        message = str(exc)
        assert str(path) in message and "\n" not in message and len(message) < 600
    else:  # an A1111 text with a bad quote is still read, the quote kept as text
        assert restored.source == "a1111" and restored.model_name == '"a\\q"'


def test_quadratic_a1111_texts_parse_in_linear_time(tmp_path):
    texts = [
        "a " * 32_000,  # 17
        "x" * 900_000,  # 18
        "a" * 200_000 + "\nSteps: 2, " + "k, " * 100_000,
        "Steps: 1, " + "a" * 200_000 + ":" + "," * 100_000,
        "Steps: 1, " + '"' + "\\" * 300_000,
        "Steps: 1, " + ", " * 300_000,
    ]
    for text in texts:
        start = time.perf_counter()
        parse_a1111(text)
        assert time.perf_counter() - start < 1.0, text[:20]


def test_a1111_fields_still_parse():
    parsed = parse_a1111('a cat\nNegative prompt: dog\nSteps: 20, Sampler: DDIM, Model: "x, y", Size: 64x32')
    assert parsed == {
        "prompt": "a cat",
        "negative": "dog",
        "fields": {"Steps": "20", "Sampler": "DDIM", "Model": "x, y", "Size": "64x32"},
    }


def test_big_recipe_image_is_not_decoded(tmp_path):
    """19: a huge map or picture never gets decoded just to read the text chunks."""
    path = tmp_path / "big.png"
    path.write_bytes(bomb_png(12000, 12000)[:-12])  # no IEND: cut after the IDAT
    with pytest.raises(FileFormatError, match="truncated"):
        read_png_recipe(path)
    import numpy as np

    from tests.hostile.helpers import png_chunk

    body = bomb_png(12000, 12000)
    with_text = body[:-12] + png_chunk(b"tEXt", b"parameters\0a cat\nSteps: 3") + body[-12:]
    path.write_bytes(with_text)
    start = time.perf_counter()
    restored = read_png_recipe(path)
    assert time.perf_counter() - start < 1.0 and restored.settings.steps == 3
    map_12k = tmp_path / "recipe.png"
    png_with_text(map_12k, {RECIPE_KEY: semantic_recipe(bomb_png(12000, 12000))}, np.zeros((4, 4, 3), np.uint8))
    start = time.perf_counter()
    with pytest.raises(FileFormatError, match=r"4096|decompression bomb"):
        read_png_recipe(map_12k)
    assert time.perf_counter() - start < 2.0
