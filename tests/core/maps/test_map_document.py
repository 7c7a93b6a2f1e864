"""The painter's document, templates, label translation and forgiving map reading, without Qt."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ldm_studio.core.errors import FileFormatError, RequestError
from ldm_studio.core.maps.label_translation import translate_map, translate_name, translation_table
from ldm_studio.core.maps.labels import load_label_set
from ldm_studio.core.maps.map_document import LabelMap, capsule_mask, connected_region
from ldm_studio.core.maps.map_files import open_map_image
from ldm_studio.core.maps.map_templates import make_template, template_names
from ldm_studio.core.maps.semantic_maps import colorize, read_map_file, snap_to_palette, write_map_file

COCO = load_label_set("coco-stuff-182")
ADE = load_label_set("ade20k-150")
SKY, SEA, SAND, GRASS, SNOW = (COCO.index_of(n) for n in ("sky-other", "sea", "sand", "grass", "snow"))


def test_a_stroke_is_one_undo_step_holding_only_its_rectangle():
    doc = LabelMap(32, 48, "coco-stuff-182", fill=SKY)
    assert doc.blank and not doc.can_undo
    doc.begin()
    doc.paint_line(2, 5, 10, 5, 1, SEA)
    doc.paint_line(10, 5, 10, 9, 1, SEA)
    assert doc.end("Brush")
    expected = np.full((32, 48), SKY)
    expected[5, 2:11] = SEA
    expected[5:10, 10] = SEA
    assert (doc.indices == expected).all() and not doc.blank
    assert doc._undo[-1].region == (5, 10, 2, 11)  # only the changed rectangle is kept
    assert doc.undo() and (doc.indices == SKY).all() and doc.blank
    assert doc.redo() and (doc.indices == expected).all() and not doc.blank
    doc.begin()
    assert not doc.end("nothing")  # a press without change adds no history
    assert doc.undo_name == "Brush"


def test_brush_sizes_rectangles_and_preview_restore():
    mask = capsule_mask((16, 16), (8, 8), (8, 8), 5)
    assert mask.sum() == 13 and mask[8, 6] and mask[6, 8] and not mask[6, 6]  # radius-2 disc
    assert capsule_mask((16, 16), (0, 0), (15, 15), 1).sum() == 16  # a connected diagonal
    doc = LabelMap(10, 10, "coco-stuff-182")
    doc.begin()
    doc.paint_rect(8, 7, 2, 3, GRASS)
    doc.restore_snapshot()  # the rectangle tool redraws its preview on every move
    doc.paint_rect(2, 3, 4, 4, GRASS)
    doc.end("Rectangle")
    assert (np.argwhere(doc.indices == GRASS) == [[y, x] for y in (3, 4) for x in (2, 3, 4)]).all()


def test_flood_fill_stays_inside_its_region():
    doc = LabelMap(20, 20, "coco-stuff-182", fill=SKY)
    doc.begin()
    doc.paint_line(0, 10, 19, 10, 1, SAND)  # a wall across the map
    doc.end("Line")
    doc.begin()
    filled = doc.flood_fill(3, 15, SEA)
    doc.end("Fill")
    assert filled == 9 * 20
    assert (doc.indices[11:] == SEA).all() and (doc.indices[:10] == SKY).all() and (doc.indices[10] == SAND).all()
    spiral = np.zeros((7, 7), np.int64)
    spiral[1, 1:6] = spiral[1:6, 5] = spiral[5, 1:6] = spiral[3:6, 1] = spiral[3, 1:4] = 1
    region = connected_region(spiral, 1, 1)
    assert region.sum() == (spiral == 1).sum()


def test_replace_clear_and_size_change_undo():
    doc = LabelMap(8, 8, "coco-stuff-182", fill=SKY)
    doc.replace(np.full((4, 6), SEA), "Open")
    assert doc.shape == (4, 6) and not doc.blank
    doc.clear(SAND)
    assert doc.blank and (doc.indices == SAND).all()
    doc.undo()
    doc.undo()
    assert doc.shape == (8, 8) and (doc.indices == SKY).all() and doc.blank


def test_templates_in_both_label_sets():
    assert "Sky over sea over sand" in template_names()
    for name in template_names():
        for labels in (COCO, ADE):
            indices = make_template(name, labels, 64, 96)
            assert indices.shape == (64, 96) and indices.min() >= 0 and indices.max() < len(labels)
    beach = make_template("Sky over sea over sand", COCO, 64, 64)
    assert beach[0, 32] == SKY and beach[40, 32] == SEA and beach[63, 32] == SAND
    assert make_template("Sky over sea over sand", ADE, 8, 8)[0, 0] == ADE.index_of("sky")


def test_translation_between_coco_stuff_and_ade20k():
    assert translate_name("sky-other", COCO, ADE) == "sky"
    assert translate_name("water", ADE, COCO) == "water-other"
    table = translation_table(COCO, ADE)
    for coco, ade in [("tree", "tree"), ("grass", "grass"), ("sea", "sea"), ("sand", "sand"), ("mountain", "mountain")]:
        assert table[COCO.index_of(coco)] == ADE.index_of(ade)
    assert table[COCO.index_of("rock")] == ADE.index_of("rock") and table[COCO.index_of("road")] == ADE.index_of("road")
    assert table[COCO.index_of("building-other")] == ADE.index_of("building")
    assert table[SNOW] is None
    with pytest.raises(RequestError, match="snow"):
        translate_name("snow", COCO, ADE)
    coco_map = np.array([[SKY, SKY], [SNOW, SEA]])
    result = translate_map(coco_map, COCO, ADE, fallback=ADE.index_of("earth"))
    assert result.indices.tolist() == [[2, 2], [ADE.index_of("earth"), ADE.index_of("sea")]]
    assert result.untranslated == {"snow": 1} and "snow (1 px)" in result.report()
    back = translate_map(result.indices, ADE, COCO)
    assert back.indices[0, 0] == SKY and back.indices[1, 1] == SEA


def test_snapping_counts_off_palette_pixels(tmp_path):
    indices = np.array([[SKY, SEA], [SAND, GRASS]])
    rgb = colorize(indices, COCO).astype(np.int64)
    rgb[0, 0] += [3, -2, 1]  # a JPEG-ish wobble
    rgb[1, 1] += [0, 5, 0]
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    snapped, off = snap_to_palette(rgb, COCO)
    assert snapped.tolist() == indices.tolist() and off == 2
    Image.fromarray(rgb).save(tmp_path / "seg.png")
    with pytest.raises(FileFormatError, match="not in the"):
        read_map_file(tmp_path / "seg.png")  # the CLI's reader stays strict
    opened = open_map_image(tmp_path / "seg.png", "coco-stuff-182")
    assert opened.indices.tolist() == indices.tolist() and opened.off_palette == 2
    assert "2 off-palette" in opened.summary()


def test_opening_a_map_of_the_other_label_set_translates_it(tmp_path):
    ade_map = np.array([[2, 2, 2], [26, 26, 46]])  # sky, sea, sand in ADE20K
    write_map_file(tmp_path / "ade.png", ade_map, ADE)  # palette PNG: the palette tells the set
    opened = open_map_image(tmp_path / "ade.png", "coco-stuff-182")
    assert opened.source_set == "ade20k-150" and opened.indices.tolist() == [[SKY] * 3, [SEA, SEA, SAND]]
    Image.fromarray(colorize(np.array([[SNOW, SKY]]), COCO)).save(tmp_path / "coco.png")
    to_ade = open_map_image(tmp_path / "coco.png", "ade20k-150")
    assert to_ade.source_set == "coco-stuff-182" and to_ade.untranslated == {"snow": 1}


def test_corrupt_and_non_image_files_are_refused(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(FileFormatError, match=r"notes\.png.*not an image"):
        open_map_image(tmp_path / "notes.png", "coco-stuff-182")
    write_map_file(tmp_path / "ok.png", np.zeros((32, 32), np.uint8))
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match=r"cut\.png"):
        open_map_image(tmp_path / "cut.png", "coco-stuff-182")
    Image.fromarray(np.full((4, 4), 200, np.uint8), mode="L").save(tmp_path / "big.png")
    with pytest.raises(FileFormatError, match="outside"):
        open_map_image(tmp_path / "big.png", "coco-stuff-182")
