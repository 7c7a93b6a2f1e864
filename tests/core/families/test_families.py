"""The class, semantic and unconditional families: conditioning maths and `generate` from the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.errors import RequestError
from ldm_studio.core.generation.device import choose_device
from ldm_studio.core.generation.engine import load_model
from ldm_studio.core.generation.requests import (
    ClassCondition,
    GenerationRequest,
    SamplerSettings,
    SemanticMapCondition,
    UnconditionalCondition,
)
from ldm_studio.core.generation.sampling import uses_guidance
from ldm_studio.core.maps.semantic_maps import write_map_file
from ldm_studio.core.models.model_folder import read_model_info

CPU = choose_device("cpu")


def _pngs(folder):
    return sorted(folder.glob("*.png"))


def test_generate_class_from_cli(tiny_models, tmp_path):
    out = tmp_path / "out"
    args = ["generate", "--model", str(tiny_models["class"]), "--class", "448", "--seed", "3", "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    (png,) = _pngs(out)
    assert Image.open(png).size == (32, 32)


def test_generate_several_classes_by_name_and_number(tiny_models, tmp_path):
    out = tmp_path / "out"
    args = ["generate", "--model", str(tiny_models["class"]), "--class", "birdhouse,1", "--batch", "2"]
    assert main([*args, "--seed", "5", "--out", str(out), "--quiet"]) == 0
    assert len(_pngs(out)) == 2


def test_class_embedding_and_null_class_guidance(tiny_models):
    model = load_model(tiny_models["class"], CPU)
    request = GenerationRequest(ClassCondition((448, 7)), SamplerSettings(steps=2, guidance=3.0, batch_size=2))
    assert uses_guidance(model, request)
    cond = model.encode(request.condition, 2, True, request)
    table = model.embedder.embedding.weight
    assert cond.cond.context.shape == (2, 1, table.shape[1])
    assert torch.equal(cond.cond.context[:, 0], table[[448, 7]])
    assert torch.equal(cond.uncond.context[:, 0], table[[1000, 1000]])  # "no class" is a trained row


def test_null_class_cannot_be_requested(tiny_models, capsys):
    assert main(["generate", "--model", str(tiny_models["class"]), "--class", "1000", "--quiet"]) == 2
    assert "1000 is outside 0..999" in capsys.readouterr().err


def test_generate_semantic_from_a_map_file(tiny_models, tmp_path):
    map_file = write_map_file(tmp_path / "map.png", np.random.default_rng(0).integers(0, 182, (24, 40)))
    out = tmp_path / "out"
    args = ["generate", "--model", str(tiny_models["semantic"]), "--map", str(map_file), "--seed", "1"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    (png,) = _pngs(out)
    assert Image.open(png).size == (32, 32)


def test_semantic_map_out_of_range_is_refused(tiny_models, tmp_path, capsys):
    path = tmp_path / "labels.png"
    Image.fromarray(np.full((8, 8), 190, np.uint8)).save(path)
    assert main(["generate", "--model", str(tiny_models["semantic"]), "--map", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "labels.png" in err and "outside the 182 labels" in err
    model = load_model(tiny_models["semantic"], CPU)
    request = GenerationRequest(SemanticMapCondition(np.full((4, 4), 182)), SamplerSettings(width=32, height=32))
    with pytest.raises(RequestError, match="map: 16 pixel"):
        model.encode(request.condition, 1, False, request)


def test_semantic_conditioning_matches_the_original_maths(tiny_models):
    """resize (nearest) → one-hot → bilinear ×0.5 twice (no antialias) → 1×1 conv, concatenated after x."""
    model = load_model(tiny_models["semantic"], CPU)
    assert not model.has_unconditional
    label_map = np.random.default_rng(1).integers(0, 182, (32, 32))
    request = GenerationRequest(SemanticMapCondition(label_map), SamplerSettings(width=32, height=32, guidance=7.0))
    assert not uses_guidance(model, request)  # no unconditional input: no guidance whatever the scale
    concat = model.encode(request.condition, 2, False, request).cond.concat
    one_hot = F.one_hot(torch.from_numpy(label_map), 182).permute(2, 0, 1)[None].float()
    x = F.interpolate(F.interpolate(one_hot, scale_factor=0.5, mode="bilinear"), scale_factor=0.5, mode="bilinear")
    expected = F.conv2d(x, model.rescaler.channel_mapper.weight)
    assert concat.shape == (2, 3, 8, 8)
    torch.testing.assert_close(concat[0:1], expected, atol=1e-6, rtol=0)
    wrong = F.interpolate(one_hot, scale_factor=0.25, mode="bilinear")  # one ×0.25 step is not the same
    assert (F.conv2d(wrong, model.rescaler.channel_mapper.weight) - expected).abs().max() > 1e-3
    # predict_noise puts the map after the latent
    latents = torch.randn(2, 3, 8, 8)
    t = torch.tensor(500)
    cond = model.encode(request.condition, 2, False, request).cond
    got = model.predict_noise(latents, t, cond)
    torch.testing.assert_close(got, model.unet(torch.cat([latents, concat], 1), t).sample)


def test_generate_unconditional_from_cli(tiny_models, tmp_path):
    out = tmp_path / "out"
    assert main(["generate", "--model", str(tiny_models["uncond"]), "--seed", "2", "--out", str(out), "--quiet"]) == 0
    assert len(_pngs(out)) == 1
    assert main(["generate", "--model", str(tiny_models["uncond"]), "--class", "3", "--quiet"]) == 2


def test_celebahq_like_diffusers_repo_uses_unit_scale(tiny_models, tmp_path):
    info = read_model_info(tiny_models["celebahq"])
    assert info.family == "uncond" and info.scale_factor == 1.0  # its vqvae config says 0.18215
    out = tmp_path / "out"
    args = ["generate", "--model", str(tiny_models["celebahq"]), "--steps", "2", "--seed", "0", "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    model = load_model(tiny_models["celebahq"], CPU)
    request = GenerationRequest(UnconditionalCondition(), SamplerSettings(steps=2, width=32, height=32))
    assert model.encode(request.condition, 1, False, request).cond.context is None
