"""The shipped demo model, end to end through the Engine with fixed seeds: each input really steers the picture.

Every check is also run once with its input broken (the family made to drop it, or guidance
switched off), and must then fail: that is what proves the check looks at the input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from ldm_studio.core.families.ldm_multi import as_combined
from ldm_studio.core.generation import sampling
from ldm_studio.core.generation.requests import (
    ClassCondition,
    GenerationRequest,
    SamplerSettings,
    SemanticMapCondition,
    TextCondition,
)
from ldm_studio.demo.scenes import LABELS, SCENE_CLASSES

SEEDS = 4  # images 0..3 of one batch: seeds 0, 1, 2, 3
FOREST_CAPTION = "a dense forest of green trees"


def generate(engine, condition, guidance: float | None = None, seed: int = 0) -> np.ndarray:
    """(B, 64, 64, 3) float images in 0..255 for a fixed seed, at the model's default sampler settings."""
    d = engine.model.info.defaults
    settings = SamplerSettings(
        sampler=d.sampler,
        steps=d.steps,
        guidance=d.guidance if guidance is None else guidance,
        seed=seed,
        batch_size=SEEDS,
        width=64,
        height=64,
    )
    return engine.generate(GenerationRequest(condition, settings)).images.astype(np.float64)


def sea_sand_map() -> np.ndarray:
    m = np.full((64, 64), LABELS["sea"], dtype=np.int64)
    m[:, 32:] = LABELS["sand"]
    return m


# --- the checks: each returns a list of failures (empty = passed) ----------------------------------


def check_sea_left_sand_right(images: np.ndarray) -> list[str]:
    """Sea: blue clearly above red and above green. Sand: warm (red 30 over blue, green 15 over blue)
    and bright, which no other label of the scenes is (snow and rock have red ≈ blue, dirt is dark)."""
    failures = []
    for i, image in enumerate(images):
        lr, lg, lb = image[:, :32].reshape(-1, 3).mean(0)
        rr, rg, rb = image[:, 32:].reshape(-1, 3).mean(0)
        if not (lb > lr + 30 and lb > lg):
            failures.append(f"image {i}: left half {lr:.0f},{lg:.0f},{lb:.0f} is not blue-dominant")
        if not (rr > rb + 30 and rg > rb + 15 and rr > 150):
            failures.append(f"image {i}: right half {rr:.0f},{rg:.0f},{rb:.0f} is not sand-coloured")
    return failures


def check_bright_low_saturation(images: np.ndarray) -> list[str]:
    """Calibrated on the generator: snowfields are 184-225 bright, saturation 0.13-0.27 (5th-95th
    percentile); no other class is both brighter than 184 and less saturated than 0.22."""
    failures = []
    for i, image in enumerate(images):
        brightness = image.mean()
        saturation = ((image.max(-1) - image.min(-1)) / np.maximum(image.max(-1), 1)).mean()
        if not (brightness > 180 and saturation < 0.3):
            failures.append(f"image {i}: brightness {brightness:.0f}, saturation {saturation:.2f}")
    return failures


def check_green_dominant(images: np.ndarray) -> list[str]:
    failures = []
    for i, image in enumerate(images):
        r, g, b = image.reshape(-1, 3).mean(0)
        if not (g > r + 10 and g > b + 10):
            failures.append(f"image {i}: mean colour {r:.0f},{g:.0f},{b:.0f} is not green-dominant")
    return failures


def check_guidance_changes_the_picture(weak: np.ndarray, strong: np.ndarray) -> list[str]:
    diff = np.abs(weak - strong).mean()
    return [] if diff > 8 else [f"guidance 1 and 5 differ by only {diff:.2f} / 255 on average"]


# --- breaking an input -------------------------------------------------------------------------------


def drop_input(monkeypatch, engine, part: str) -> None:
    """Make the family ignore one input (`text`, `label` or `semantic`) as a buggy encoder would."""
    model = engine.model
    original: Callable = model.encode

    def encode(condition, *args, **kwargs):
        return original(dataclasses.replace(as_combined(condition), **{part: None}), *args, **kwargs)

    monkeypatch.setattr(model, "encode", encode)


# --- semantic map ------------------------------------------------------------------------------------


def test_sea_left_sand_right_map(demo_engine):
    images = generate(demo_engine, SemanticMapCondition(sea_sand_map()))
    assert check_sea_left_sand_right(images) == []


def test_sea_sand_check_fails_when_the_map_is_ignored(demo_engine, monkeypatch):
    drop_input(monkeypatch, demo_engine, "semantic")
    images = generate(demo_engine, SemanticMapCondition(sea_sand_map()))
    assert check_sea_left_sand_right(images) != []


# --- class -------------------------------------------------------------------------------------------

SNOWFIELD = SCENE_CLASSES.index("snowfield")


def test_snowfield_class_is_bright_and_unsaturated(demo_engine):
    images = generate(demo_engine, ClassCondition((SNOWFIELD,)))
    assert check_bright_low_saturation(images) == []


def test_snowfield_check_fails_when_the_class_is_ignored(demo_engine, monkeypatch):
    drop_input(monkeypatch, demo_engine, "label")
    images = generate(demo_engine, ClassCondition((SNOWFIELD,)))
    assert check_bright_low_saturation(images) != []


def test_another_class_is_not_a_snowfield(demo_engine):
    images = generate(demo_engine, ClassCondition((SCENE_CLASSES.index("forest"),)))
    assert check_bright_low_saturation(images) != []


# --- caption -----------------------------------------------------------------------------------------


def test_forest_caption_is_green(demo_engine):
    images = generate(demo_engine, TextCondition(FOREST_CAPTION))
    assert check_green_dominant(images) == []


def test_forest_check_fails_when_the_caption_is_ignored(demo_engine, monkeypatch):
    drop_input(monkeypatch, demo_engine, "text")
    images = generate(demo_engine, TextCondition(FOREST_CAPTION))
    assert check_green_dominant(images) != []


def test_a_desert_caption_is_not_green(demo_engine):
    images = generate(demo_engine, TextCondition("sand dunes in a hot desert"))
    assert check_green_dominant(images) != []


# --- guidance ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def forest_weak(demo_engine):
    return generate(demo_engine, TextCondition(FOREST_CAPTION), guidance=1.0)


def test_guidance_1_and_5_differ(demo_engine, forest_weak):
    strong = generate(demo_engine, TextCondition(FOREST_CAPTION), guidance=5.0)
    assert check_guidance_changes_the_picture(forest_weak, strong) == []


def test_guidance_check_fails_when_guidance_is_ignored(demo_engine, forest_weak, monkeypatch):
    monkeypatch.setattr(sampling, "uses_guidance", lambda model, request: False)
    strong = generate(demo_engine, TextCondition(FOREST_CAPTION), guidance=5.0)
    assert check_guidance_changes_the_picture(forest_weak, strong) != []


# --- together ----------------------------------------------------------------------------------------


def test_all_inputs_together_follow_the_map(demo_engine):
    from ldm_studio.core.generation.requests import CombinedCondition

    condition = CombinedCondition(
        TextCondition("a sandy shore by the sea seen from above"),
        ClassCondition((SCENE_CLASSES.index("beach"),)),
        SemanticMapCondition(sea_sand_map()),
    )
    assert check_sea_left_sand_right(generate(demo_engine, condition)) == []
