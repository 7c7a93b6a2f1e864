"""Opening a model costs only the load: no warm-up call, and the projection fit comes in small pieces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ldm_studio.core.generation import engine as engine_module
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import Engine
from ldm_studio.core.generation.previews import FIT_BATCH, FIT_IMAGES, ChannelPreview, ProjectionFit, fit_linear_preview


def test_load_does_not_warm_up_unless_asked(tiny_text_model, monkeypatch):
    monkeypatch.setattr(engine_module, "warm_up_model", lambda model: pytest.fail("warmed up"))
    Engine(choose_device("cpu")).load(tiny_text_model)


def test_fit_in_pieces_equals_the_whole_fit(text_engine):
    model = text_engine.model
    fit = ProjectionFit(model)
    pieces = 1
    while not fit.step():
        pieces += 1
    assert pieces == -(-FIT_IMAGES // FIT_BATCH) and fit.done
    np.testing.assert_allclose(fit.result().weights, fit_linear_preview(model).weights, rtol=1e-5, atol=1e-6)


def test_channel_preview_needs_no_fit_and_shows_structure():
    latents = torch.zeros(2, 4, 8, 8)
    latents[:, :, :, 4:] = 3.0  # right half brighter in every channel
    image = ChannelPreview().project(latents)
    assert image.shape == (2, 8, 8, 3) and image.dtype == torch.uint8
    assert (image[:, :, 4:].float().mean() - image[:, :, :4].float().mean()) > 100
