"""The tiny approximate preview decoder: distilled, cached with a fingerprint, used by the "approx" preview."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ldm_studio.core.generation import approx_decoder as ad
from ldm_studio.core.generation.previews import PreviewPolicy, linear_preview_for
from ldm_studio.core.models.demo_model import demo_model_path


@pytest.fixture
def model(text_engine, monkeypatch):
    """The shared tiny model with nothing kept on it and no decoder file, so caching is exercised."""
    m = text_engine.model
    if hasattr(m, "approx_decoder"):
        monkeypatch.delattr(m, "approx_decoder")
    for path in ad.decoder_paths(m):
        path.unlink(missing_ok=True)
    yield m
    for path in ad.decoder_paths(m):
        path.unlink(missing_ok=True)
    if hasattr(m, "approx_decoder"):
        del m.approx_decoder


def test_decoder_upsamples_to_full_resolution_and_starts_as_the_linear_projection(model):
    """Before training it is the linear projection upscaled bilinearly (the body's last layer starts at 0)."""
    f, c = model.info.latent_factor, model.info.latent_channels
    net = ad.TinyDecoder(c, f)
    projection = linear_preview_for(model)
    net.init_linear(projection.weights)
    z = 0.05 * torch.randn(2, c, 6, 5)  # small: no colour saturates, where clamping order would differ
    out = ad.ApproxDecoder(net).project(z)
    assert out.shape == (2, 6 * f, 5 * f, 3) and out.dtype == np.uint8
    smooth = ad.upscaled_linear(projection, z, f)
    assert np.abs(out.astype(int) - smooth.astype(int)).max() <= 1


def test_no_decoder_means_smooth_linear_preview(model):
    """Without a fitted decoder the "approx" preview is the linear projection, upscaled bilinearly: not blocky."""
    assert ad.approx_decoder_for(model) is None and ad.preview_source(model) == "linear projection"
    z = torch.randn(1, model.info.latent_channels, 8, 8)
    image = PreviewPolicy("approx").render(model, z, 0, 1)
    f = model.info.latent_factor
    assert image.shape == (1, 8 * f, 8 * f, 3)
    block = image[0, :f, f : 2 * f].astype(int)  # one latent pixel's block: nearest scaling would make it flat
    assert np.ptp(block.reshape(-1, 3), axis=0).max() > 0


def test_distill_beats_linear_saves_and_is_used(model):
    """A few seconds of distillation improve on the projection; the file is reused and previews use it."""
    decoder = ad.distill(model, seconds=4, images=16, runs=0, heldout=0.25)
    latents = ad.calibration_latents(model, 8, 0, seed=7)
    truth = ad.decode_all(model, latents)
    linear = torch.from_numpy(ad.upscaled_linear(linear_preview_for(model), latents, model.info.latent_factor))
    linear_psnr = ad.psnr(linear.permute(0, 3, 1, 2).float() / 255, truth)
    assert ad.psnr(decoder.decode(latents), truth) > linear_psnr
    path = ad.save_for(model, decoder)
    assert path == model.info.path / ad.DECODER_FILE and path.stat().st_size < 200_000
    del model.approx_decoder
    loaded = ad.approx_decoder_for(model)
    assert loaded is not None and ad.preview_source(model) == "approximate decoder"
    np.testing.assert_allclose(loaded.decode(latents), decoder.decode(latents), atol=0.01)  # float16 storage
    image = PreviewPolicy("approx").render(model, latents[:1], 0, 1)
    np.testing.assert_array_equal(image, loaded.project(latents[:1]))


def test_stale_decoder_is_ignored(model, tmp_path):
    net = ad.TinyDecoder(model.info.latent_channels, model.info.latent_factor)
    ad.ApproxDecoder(net).save(model.info.path / ad.DECODER_FILE, "another-autoencoder")
    assert ad.approx_decoder_for(model) is None
    with pytest.raises(ValueError, match="fingerprint"):
        ad.ApproxDecoder.load(model.info.path / ad.DECODER_FILE, "mine")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"junk\.safetensors"):
        ad.ApproxDecoder.load(tmp_path / "junk.safetensors")


def test_policy_for_each_window_setting():
    assert ad.policy_for("linear").kind == "cheap"
    assert ad.policy_for("approx").kind == "approx"
    full = ad.policy_for("full")
    assert full.kind == "full" and full.every == ad.FULL_EVERY
    assert ad.policy_for("nonsense").kind == "approx"


@pytest.mark.skipif(demo_model_path() is None, reason="this install has no demo model")
def test_shipped_demo_decoder_reaches_24_db_on_heldout_latents():
    """The decoder shipped with the demo model, on latents of images it was not fitted on (another seed)."""
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import load_model

    model = load_model(demo_model_path(), choose_device("cpu"))
    decoder = ad.approx_decoder_for(model)
    assert decoder is not None, "the demo model ships preview_decoder.safetensors"
    latents = ad.calibration_latents(model, 32, 0, seed=4321)
    assert ad.psnr(decoder.decode(latents), ad.decode_all(model, latents)) >= 24.0


def test_fitting_a_decoder_leaves_the_model_hash_alone(tmp_path):
    """The cached decoder is derived data: recipes keep naming the same model after `fit-preview`."""
    from ldm_studio.core.models.model_hash import DERIVED_FILES, model_hash

    assert ad.DECODER_FILE in DERIVED_FILES
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "model.safetensors").write_bytes(b"weights")
    before = model_hash(tmp_path)
    (tmp_path / ad.DECODER_FILE).write_bytes(b"decoder")
    assert model_hash(tmp_path) == before


def test_fit_preview_command_writes_the_decoder_into_the_model_folder(tmp_path, capsys):
    from ldm_studio.cli import main
    from ldm_studio.testing.tiny_models import write_text_model

    folder = write_text_model(tmp_path / "tiny")
    args = ["fit-preview", str(folder), "--minutes", "0.03", "--images", "8", "--runs", "1", "--quiet"]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == str(folder.resolve() / ad.DECODER_FILE)
    assert ad.ApproxDecoder.load(folder / ad.DECODER_FILE).net.factor == 8
    assert main(["fit-preview", str(folder), "--minutes", "0"]) == 2
    assert "--minutes" in capsys.readouterr().err
