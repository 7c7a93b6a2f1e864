"""The window follows the loaded model's family: class picker batches, semantic maps, no input."""

from __future__ import annotations

import numpy as np
import pytest
from qt_helpers import JOB_TIMEOUT_MS, make_window

from ldm_studio.core.maps.semantic_maps import write_map_file


@pytest.fixture(scope="module")
def family_models(tmp_path_factory):
    from ldm_studio.testing.tiny_models import write_class_model, write_semantic_model, write_uncond_model

    root = tmp_path_factory.mktemp("family-models")
    return {
        "class": write_class_model(root / "tiny-class"),
        "semantic": write_semantic_model(root / "tiny-semantic"),
        "uncond": write_uncond_model(root / "tiny-uncond"),
    }


def visible_tabs(window) -> list[str]:
    panel = window.conditioning
    return [panel.tabText(i) for i in range(panel.count()) if panel.isTabVisible(i)]


def test_several_classes_make_a_batch(qtbot, family_models):
    window = make_window(qtbot, family_models["class"])
    assert visible_tabs(window) == ["Class", "Image"]
    assert window.sampler.steps.value() == 4 and window.sampler.width_box.value() == 32
    window.conditioning.classes.set_class_ids([1, 207, 980])
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.generate() is not None, window.last_error
    assert len(blocker.args[1]) == 3
    assert window.canvas.cells == (2, 2)  # 3 images in a 2×2 grid
    window.close()


def test_semantic_map_from_a_file(qtbot, family_models, tmp_path):
    window = make_window(qtbot, family_models["semantic"])
    assert visible_tabs(window) == ["Semantic map", "Image"]
    assert window.generate() is None and "map" in window.last_error
    labels = np.zeros((32, 32), np.uint8)
    labels[16:] = 156  # sky over sea
    write_map_file(tmp_path / "map.png", labels)
    window.conditioning.map.load(tmp_path / "map.png")
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.generate() is not None, window.last_error
    assert len(blocker.args[1]) == 1
    window.close()


def test_unconditional_model_needs_no_input(qtbot, family_models):
    window = make_window(qtbot, family_models["uncond"])
    assert visible_tabs(window) == ["Unconditional", "Image"]
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS):
        assert window.generate() is not None, window.last_error
    window.close()


def test_a_semantic_recipe_restores_its_map_into_the_painter(qtbot, family_models, tmp_path):
    """The map travels inside the PNG's recipe and comes back into the painter exactly."""
    from ldm_studio.core.files.recipe import read_png_recipe

    window = make_window(qtbot, family_models["semantic"])
    labels = np.full((32, 32), 156, np.uint8)  # sky ...
    labels[20:] = 154  # ... over sea
    labels[28:, 10:20] = 158  # a patch of sand
    write_map_file(tmp_path / "map.png", labels)
    window.conditioning.map.load(tmp_path / "map.png")
    with qtbot.waitSignal(window.controller.finished, timeout=JOB_TIMEOUT_MS) as blocker:
        assert window.generate() is not None, window.last_error
    made = blocker.args[1][0]
    assert np.array_equal(read_png_recipe(made).condition.label_map, labels)

    window.conditioning.map.set_map(np.zeros((32, 32), np.int64), "coco-stuff-182", "scratch")
    window.open_image(made)
    assert np.array_equal(window.conditioning.map.label_map, labels)
    window.close()
