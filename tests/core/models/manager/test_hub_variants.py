"""Hub downloads for a GPU take the fp16 variant where a repo has one; components are single-model repos."""

from __future__ import annotations

import json
import os

import pytest

from ldm_studio.core.models.manager import download, verify
from ldm_studio.core.models.manager.hub import (
    HubFile,
    select_component_files,
    select_files,
    variant_for_device,
)


def _f(path: str) -> HubFile:
    return HubFile(path, 10, None, None)


LISTING = [
    _f(p)
    for p in (
        "model_index.json",
        "README.md",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.bin",
        "unet/diffusion_pytorch_model.fp16.bin",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",  # no fp16 variant here
        "text_encoder/config.json",
        "text_encoder/model.fp16.safetensors",
        "text_encoder/model.safetensors",
        "scheduler/scheduler_config.json",
        "v1-5-pruned.safetensors",  # the single file next to the diffusers folders
    )
]


def _paths(files: list[HubFile]) -> set[str]:
    return {f.path for f in files}


def test_the_fp16_variant_is_chosen_for_a_gpu_and_plain_weights_otherwise():
    assert variant_for_device("cuda") == variant_for_device("mps") == "fp16"
    assert variant_for_device("cpu") is None
    gpu = _paths(select_files(LISTING, "fp16"))
    assert gpu == {
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",  # the folder without a variant keeps its plain weights
        "text_encoder/config.json",
        "text_encoder/model.fp16.safetensors",
        "scheduler/scheduler_config.json",
    }
    cpu = _paths(select_files(LISTING, None))
    assert "unet/diffusion_pytorch_model.safetensors" in cpu and not any(".fp16." in p for p in cpu)


def test_a_component_repo_gives_its_config_and_diffusers_weights_only():
    listing = [_f(p) for p in ("config.json", "diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")]
    listing += [_f(p) for p in ("taesd_decoder.pth", "taesd_encoder.safetensors", "images/preview.png")]
    assert _paths(select_component_files(listing)) == {"config.json", "diffusion_pytorch_model.safetensors"}
    assert select_component_files([_f("taesd_decoder.pth")]) == []


@pytest.fixture
def extra_repos(server, tmp_path, monkeypatch):
    """A tiny SD repo saved with fp16 variants too, a TAESD repo with its original-format files, in the catalogue."""
    from diffusers import StableDiffusionPipeline

    from ldm_studio.testing.tiny_components import write_tiny_taesd
    from ldm_studio.testing.tiny_sd import tiny_sd_components

    repo = tmp_path / "sd-repo"
    parts = tiny_sd_components(repo)
    pipe = StableDiffusionPipeline(**parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(repo)
    pipe.save_pretrained(repo, variant="fp16")  # the hub repos hold both
    server.add_repo("test-org/tiny-sd", repo)
    taesd = write_tiny_taesd(tmp_path / "taesd-repo")
    (taesd / "taesd_decoder.pth").write_bytes(b"original-format weights diffusers does not read")
    server.add_repo("test-org/tiny-taesd", taesd)
    catalogue = {
        "models": [
            {"name": "tiny-sd", "family": "sd", "source": {"type": "hub", "repo_id": "test-org/tiny-sd"}},
            {
                "name": "tiny-taesd",
                "kind": "component",
                "role": "preview_decoder",
                "family": "sd",
                "license": "mit",
                "source": {"type": "hub", "repo_id": "test-org/tiny-taesd"},
            },
        ]
    }
    path = tmp_path / "extra-catalogue.json"
    path.write_text(json.dumps(catalogue), encoding="utf-8")
    monkeypatch.setenv("LDM_STUDIO_CATALOGUE", os.environ["LDM_STUDIO_CATALOGUE"] + os.pathsep + str(path))
    return server


def test_a_download_for_cuda_fetches_fp16_weights_that_load(extra_repos):
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import load_model

    model = download("tiny-sd", device="cuda")  # fetched for a GPU (this machine need not have one)
    weights = {p for p in model.files if p.endswith(".safetensors")}
    assert weights == {
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/diffusion_pytorch_model.fp16.safetensors",
        "text_encoder/model.fp16.safetensors",
    }
    assert verify("tiny-sd").ok
    loaded = load_model(model.folder, choose_device("cpu"))  # the variant folder loads (in fp32 here)
    assert next(loaded.unet.parameters()).dtype.is_floating_point


def test_a_component_downloads_like_a_model(extra_repos):
    model = download("tiny-taesd")
    assert set(model.files) == {"config.json", "diffusion_pytorch_model.safetensors"}
    assert model.family == "sd" and model.catalogue == "tiny-taesd"
    assert verify("tiny-taesd").ok
    from ldm_studio.core.models.components import installed_components

    assert [c.name for c in installed_components("sd", "preview_decoder")] == ["tiny-taesd"]
