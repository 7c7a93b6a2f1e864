"""The procedural scene generator: deterministic, fast, and its ground truth agrees with its pixels."""

from __future__ import annotations

import numpy as np
import pytest

from ldm_studio.core.maps.labels import load_label_set
from ldm_studio.demo.scenes import LABELS, SCENE_CLASSES, generate_scenes, vocabulary


@pytest.fixture(scope="module")
def scenes():
    return generate_scenes(400, seed=11)


def test_same_seed_same_scenes_and_other_seed_other_scenes():
    a, b, c = generate_scenes(40, seed=5), generate_scenes(40, seed=5), generate_scenes(40, seed=6)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.maps, b.maps)
    assert np.array_equal(a.classes, b.classes) and a.captions == b.captions
    assert not np.array_equal(a.images, c.images)


def test_shapes_and_types(scenes):
    n = len(scenes)
    assert scenes.images.shape == (n, 64, 64, 3) and scenes.images.dtype == np.uint8
    assert scenes.maps.shape == (n, 64, 64) and scenes.maps.dtype == np.int64
    assert scenes.classes.shape == (n,) and len(scenes.captions) == n
    assert set(np.unique(scenes.classes)) == set(range(len(SCENE_CLASSES)))


def test_labels_are_the_real_coco_stuff_indices(scenes):
    coco = load_label_set("coco-stuff-182")
    for name, index in LABELS.items():
        assert coco.index_of(name) == index
    assert set(np.unique(scenes.maps)) <= set(LABELS.values())


def test_images_are_textured_not_flat_fills(scenes):
    sky = scenes.maps[0] == LABELS["sky-other"]
    assert scenes.images[0][sky].std(axis=0).max() > 3
    grass = [scenes.images[i][scenes.maps[i] == LABELS["grass"]] for i in range(50)]
    assert max(g.std() for g in grass if len(g) > 50) > 5


def _mean_colour(scenes, label: str) -> np.ndarray:
    mask = scenes.maps == LABELS[label]
    assert mask.sum() > 100, f"too few {label} pixels to judge"
    return scenes.images[mask].astype(float).mean(axis=0)


@pytest.mark.parametrize(
    ("label", "check"),
    [
        ("sea", lambda r, g, b: b > r + 60 and b > g),
        ("river", lambda r, g, b: b > r + 60 and b > g),
        ("water-other", lambda r, g, b: b > r + 40),
        ("sand", lambda r, g, b: r > b + 40 and r > 150),
        ("grass", lambda r, g, b: g > r + 40 and g > b + 40),
        ("tree", lambda r, g, b: g > r + 30 and g > b + 30 and g < 140),
        ("snow", lambda r, g, b: min(r, g, b) > 190 and max(r, g, b) - min(r, g, b) < 40),
        ("sky-other", lambda r, g, b: b > r + 40),
    ],
)
def test_map_labels_agree_with_pixel_colours(scenes, label, check):
    r, g, b = _mean_colour(scenes, label)
    assert check(r, g, b), f"{label} pixels average {r:.0f}, {g:.0f}, {b:.0f}"


SIGNATURE = {  # a label each class's map must hold, and how much of the picture at least
    "beach": ("sand", 0.1),
    "forest": ("tree", 0.3),
    "mountains": ("mountain", 0.1),
    "snowfield": ("snow", 0.4),
    "lake": ("water-other", 0.1),
    "desert": ("sand", 0.3),
    "meadow": ("grass", 0.25),
    "river": ("river", 0.02),
}


def test_classes_agree_with_maps(scenes):
    for i, c in enumerate(scenes.classes):
        name = SCENE_CLASSES[c]
        label, share = SIGNATURE[name]
        assert (scenes.maps[i] == LABELS[label]).mean() >= share, f"scene {i} ({name}) lacks {label}"
    beach = scenes.maps[scenes.classes == SCENE_CLASSES.index("beach")]
    assert all((m == LABELS["sea"]).any() for m in beach)


def test_captions_agree_with_classes_and_maps(scenes):
    words = set(vocabulary())
    for i, caption in enumerate(scenes.captions):
        assert set(caption.split()) <= words
        name = SCENE_CLASSES[scenes.classes[i]]
        stems = {"mountains": "mountain", "snowfield": "snow", "beach": "sand", "forest": "tree", "meadow": "grass"}
        key = stems.get(name, name)
        assert key in caption or name in caption, (name, caption)
        m = scenes.maps[i]
        if "cloudy sky" in caption:
            assert (m == LABELS["clouds"]).any()
        if "clear blue sky" in caption:
            assert not (m == LABELS["clouds"]).any()
        if "snowy mountain" in caption:
            assert (m == LABELS["snow"]).any() and (m == LABELS["mountain"]).any()
        if "seen from above" in caption:
            assert not (m == LABELS["sky-other"]).any()


def test_sunset_and_grey_days_tint_the_picture():
    s = generate_scenes(600, seed=3)
    sunset = np.array(["sunset" in c for c in s.captions])
    grey = np.array(["grey day" in c for c in s.captions])
    plain = ~sunset & ~grey & ~np.array(["morning" in c for c in s.captions])
    img = s.images.astype(float)
    warmth = img[..., 0].mean(axis=(1, 2)) - img[..., 2].mean(axis=(1, 2))
    assert warmth[sunset].mean() > warmth[plain].mean() + 20
    sat = (img.max(-1) - img.min(-1)).mean(axis=(1, 2))
    assert sat[grey].mean() < sat[plain].mean()
