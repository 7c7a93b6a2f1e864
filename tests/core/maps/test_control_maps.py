"""Painted maps as a segmentation ControlNet's control image: ADE20K palette, COCO translation, ADE20K templates."""

from __future__ import annotations

import numpy as np
import pytest

from ldm_studio.core.generation.control_inputs import ControlNetCondition, ControlSpec, render_control_map
from ldm_studio.core.generation.requests import TextCondition
from ldm_studio.core.maps.labels import load_label_set
from ldm_studio.core.maps.map_document import LabelMap
from ldm_studio.core.maps.map_templates import ADE_TEMPLATES, make_template, template_names

ADE = load_label_set("ade20k-150")
COCO = load_label_set("coco-stuff-182")
SPEC = ControlSpec("seg", "/nowhere", None)


def painted() -> LabelMap:
    doc = LabelMap(48, 64, "ade20k-150", fill=ADE.index_of("sky"))
    doc.begin()
    doc.paint_rect(0, 30, 63, 47, ADE.index_of("grass"))
    doc.paint_line(5, 20, 60, 25, 5, ADE.index_of("tree"))
    doc.end("stroke")
    doc.begin()
    doc.flood_fill(2, 2, ADE.index_of("mountain"))
    doc.end("fill")
    return doc


def colours(image: np.ndarray) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in c) for c in np.unique(image.reshape(-1, 3), axis=0)}


@pytest.mark.parametrize("size", [(64, 48), (128, 96), (40, 24)])
def test_the_control_image_holds_exactly_the_palette_colours_of_the_painted_labels(size):
    doc = painted()
    condition = ControlNetCondition(TextCondition("x"), SPEC, doc.indices)
    width, height = size
    image = condition.control_image(width, height)
    assert image.shape == (height, width, 3) and image.dtype == np.uint8
    used = {int(v) for v in np.unique(doc.indices)}
    assert used == {ADE.index_of(n) for n in ("mountain", "grass", "tree")}
    assert colours(image) == {tuple(int(v) for v in ADE.palette()[i]) for i in used}
    if size == (64, 48):  # at the painted size every pixel is its own label's colour
        assert np.array_equal(image, ADE.palette()[doc.indices])


def test_a_coco_map_is_translated_and_its_report_lists_what_had_no_counterpart():
    coco = np.full((32, 32), COCO.index_of("sky-other"), dtype=np.int64)
    coco[16:] = COCO.index_of("snow")
    coco[28:] = COCO.index_of("grass")
    condition = ControlNetCondition(TextCondition("x"), SPEC, coco, "coco-stuff-182")
    translation = condition.translation()
    assert translation is not None
    assert translation.untranslated == {"snow": 12 * 32}
    assert "no counterpart for snow (384 px)" in translation.report()
    image = condition.control_image(32, 32)
    assert tuple(image[0, 0]) == tuple(ADE.palette()[ADE.index_of("sky")])
    assert tuple(image[31, 0]) == tuple(ADE.palette()[ADE.index_of("grass")])


def test_render_samples_nearest_neighbour():
    indices = np.array([[0, 2], [4, 9]])
    image = render_control_map(indices, 4, 4)
    assert np.array_equal(image[:2, :2].reshape(-1, 3), np.repeat(ADE.palette()[[0]], 4, axis=0))
    assert np.array_equal(image[3, 3], ADE.palette()[9])


@pytest.mark.parametrize("name", list(ADE_TEMPLATES))
def test_ade20k_templates_paint_their_scene_in_ade20k(name):
    assert name in template_names(ADE) and name not in template_names(COCO) and name not in template_names()
    out = make_template(name, ADE, 96, 128)
    assert out.shape == (96, 128) and out.min() >= 0 and out.max() < len(ADE)
    names = {ADE[int(i)].name for i in np.unique(out)}
    expected = {"landscape": {"sky", "mountain", "water"}, "street": {"road", "building", "car"}}
    expected["room"] = {"wall", "floor", "bed", "windowpane"}
    kind = next(k for k in expected if k in name)
    assert expected[kind] <= names
