"""Label sets and semantic-map files: indices, palettes, colour images, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ldm_studio.core.errors import FileFormatError, LdmStudioError, RequestError
from ldm_studio.core.maps.labels import load_label_set
from ldm_studio.core.maps.semantic_maps import colorize, read_map_file, write_map_file


def test_label_sets_load_with_names_and_palettes():
    coco, ade, imagenet = (load_label_set(n) for n in ("coco-stuff-182", "ade20k-150", "imagenet-1k"))
    assert (len(coco), len(ade), len(imagenet)) == (182, 150, 1000)
    assert coco.palette().shape == (182, 3) and coco.palette().dtype == np.uint8
    assert coco.index_of("sky-other") == 156 and coco[156].name == "sky-other"
    assert imagenet.index_of("birdhouse") == 448
    assert imagenet.index_of("Tinca tinca") == 0  # a lemma
    assert not imagenet.has_palette


def test_unknown_label_name_is_a_request_error():
    with pytest.raises(RequestError, match="not a label of imagenet-1k"):
        load_label_set("imagenet-1k").index_of("no such thing")


@pytest.mark.parametrize("mode", ["L", "P"])
def test_index_pngs_read_back(tmp_path, mode):
    indices = np.arange(20 * 30).reshape(20, 30) % 182
    path = tmp_path / "map.png"
    if mode == "L":
        Image.fromarray(indices.astype(np.uint8)).save(path)
    else:
        write_map_file(path, indices)
        assert Image.open(path).mode == "P"
    assert np.array_equal(read_map_file(path), indices)


def test_rgb_map_in_palette_colours(tmp_path):
    indices = np.random.default_rng(0).integers(0, 182, (16, 12))
    path = tmp_path / "colours.png"
    Image.fromarray(colorize(indices)).save(path)
    assert np.array_equal(read_map_file(path), indices)


def test_rgb_map_with_unknown_colours_names_file_and_count(tmp_path):
    rgb = colorize(np.zeros((8, 8), dtype=np.int64)).copy()
    rgb[0, :3] = (1, 2, 3)  # an anti-aliased edge, say
    path = tmp_path / "blurry.png"
    Image.fromarray(rgb).save(path)
    with pytest.raises(FileFormatError, match=r"blurry\.png.*3 of 64 pixel\(s\)"):
        read_map_file(path)


def test_out_of_range_index_png_is_refused(tmp_path):
    path = tmp_path / "bad.png"
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(path)
    with pytest.raises(FileFormatError, match=r"bad\.png: 16 pixel\(s\).*outside the 182 labels"):
        read_map_file(path)


@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_corrupt_or_non_image_map_is_refused(tmp_path, content):
    path = tmp_path / "map.png"
    path.write_bytes(content)
    with pytest.raises(LdmStudioError, match=r"map\.png"):
        read_map_file(path)


def test_missing_map_file(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        read_map_file(tmp_path / "nope.png")
