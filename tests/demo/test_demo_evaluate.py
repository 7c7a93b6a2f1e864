"""The demo-quality judges: accurate on held-out procedural scenes, and the evaluation runs end to end."""

from __future__ import annotations

import numpy as np
import pytest

from ldm_studio.demo import evaluate as ev
from ldm_studio.demo.scenes import SCENE_CLASSES, generate_scenes


@pytest.fixture(scope="module")
def judges():
    return ev.Judges.load()


def test_shipped_classifier_reaches_95_percent_on_heldout_scenes(judges):
    real = generate_scenes(400, seed=ev.HELDOUT_SEED + 1)  # never seen in training (seeds from 0)
    assert np.mean(judges.classify(real.images) == real.classes) >= 0.95


def test_shipped_segmenter_finds_the_scene_labels(judges):
    real = generate_scenes(100, seed=ev.HELDOUT_SEED + 2)
    predicted = judges.segment(real.images)
    assert set(np.unique(predicted)) <= set(ev.LABEL_IDS.tolist())
    assert ev.mean_iou(predicted, real.maps) >= 0.5


def test_metrics():
    truth = np.array([[1, 1], [2, 2]])
    assert ev.mean_iou(truth, truth) == 1.0
    assert ev.mean_iou(np.array([[1, 1], [1, 1]]), truth) == pytest.approx(0.25)  # label 1: 2/4, label 2: 0/2
    assert ev.class_spread(np.arange(len(SCENE_CLASSES))) == pytest.approx(1.0)
    assert ev.class_spread(np.zeros(5, dtype=int)) == 0.0


def test_missing_judges_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="scene_classifier"):
        ev.Judges.load(tmp_path)


def test_evaluation_runs_end_to_end_on_8_images(demo_engine, judges):
    """Two images per input kind (class, caption, map, unconditional): every figure is there and in range."""
    result = ev.evaluate(demo_engine.model, judges, count=2)
    f = result.figures
    for key in ("class_accuracy", "caption_accuracy", "real_class_accuracy", "unconditional_class_spread"):
        assert 0.0 <= f[key] <= 1.0
    assert 0.0 < f["map_miou"] <= 1.0 and 0.0 < f["real_map_miou"] <= 1.0
    assert sum(result.unconditional_histogram) == 2
    assert any(line.startswith("images per kind: 2") for line in result.lines())
