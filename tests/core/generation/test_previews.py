"""The cheap latent→RGB projection: fitted on the model's own encoder, cached, refitted when stale."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ldm_studio.core.generation import previews
from ldm_studio.core.generation.previews import LinearPreview, fit_linear_preview, linear_preview_for


def test_fit_recovers_a_known_linear_map():
    """With an encoder that is itself linear, the fit must find that map exactly."""
    truth = np.array([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [0.1, 0.1, 0.2], [0.05, -0.1, 0.3]], dtype=np.float32)

    class Info:
        latent_factor, resolution, latent_channels = 4, 32, 3

    class LinearEncoder:
        info = Info()

        def encode_images(self, images):
            pooled = F.avg_pool2d(images, 4).permute(0, 2, 3, 1)  # RGB per latent pixel
            # latent = A^-1 (rgb - b): then rgb = latent @ A + b exactly
            a, b = torch.from_numpy(truth[:3]), torch.from_numpy(truth[3])
            return ((pooled - b) @ torch.linalg.inv(a)).permute(0, 3, 1, 2)

    fitted = fit_linear_preview(LinearEncoder())
    assert np.abs(fitted.weights - truth).max() < 1e-4


@pytest.fixture
def model(text_engine, monkeypatch):
    """The shared tiny model without the projection kept on it, so the file cache is exercised."""
    monkeypatch.setattr(text_engine.model, "linear_preview", None)
    return text_engine.model


def test_projection_is_cached_in_the_model_folder_and_reused(model, monkeypatch):
    cache = model.info.path / previews.PREVIEW_FILE
    cache.unlink(missing_ok=True)
    first = linear_preview_for(model)
    assert cache.is_file()
    assert linear_preview_for(model) is first  # kept on the loaded model: no file read per step
    model.linear_preview = None
    monkeypatch.setattr(previews, "fit_linear_preview", lambda m: pytest.fail("refitted despite a cache"))
    second = linear_preview_for(model)
    np.testing.assert_allclose(first.weights, second.weights)


def test_stale_or_corrupt_cache_is_refitted(model):
    cache = model.info.path / previews.PREVIEW_FILE
    cache.write_text("{broken")
    projection = linear_preview_for(model)
    np.testing.assert_allclose(json.loads(cache.read_text())["weights"], projection.weights, rtol=1e-6)


def test_falls_back_to_user_cache_when_the_folder_cannot_be_written(model, monkeypatch):
    (model.info.path / previews.PREVIEW_FILE).unlink(missing_ok=True)
    folder_file, user_file = previews._cache_paths(model)
    original = type(folder_file).write_text

    def refuse(self, *args, **kwargs):
        if self == folder_file:
            raise PermissionError(13, "read-only")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(folder_file), "write_text", refuse)
    linear_preview_for(model)
    assert user_file.is_file() and not folder_file.exists()


def test_from_json_checks_shape():
    with pytest.raises(ValueError):
        LinearPreview.from_json({"kind": "linear", "weights": [[1, 2, 3]]}, channels=4)


def test_projection_of_a_trained_autoencoder_predicts_unseen_scenes():
    """On the shipped demo model (a trained KL autoencoder), the cheap preview of a scene's latents
    looks like the scene: much closer than a flat mean colour."""
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import load_model
    from ldm_studio.core.models.demo_model import demo_model_path
    from ldm_studio.demo.scenes import generate_scenes

    path = demo_model_path()
    if path is None:
        pytest.skip("the shipped demo model is absent")
    model = load_model(path, choose_device("cpu"))
    projection = linear_preview_for(model)
    scenes = generate_scenes(8, seed=12345)
    images = torch.from_numpy(scenes.images).permute(0, 3, 1, 2).float() / 127.5 - 1
    target = F.avg_pool2d(images, model.info.latent_factor).permute(0, 2, 3, 1)
    predicted = projection.project(model.encode_images(images)).float() / 127.5 - 1
    err = (predicted - target).pow(2).mean()
    baseline = (target - target.mean(dim=(0, 1, 2))).pow(2).mean()
    assert err < 0.5 * baseline, (float(err), float(baseline))  # measured: 0.36 of the baseline
