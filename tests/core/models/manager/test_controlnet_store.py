"""ControlNets as store items: catalogue kind, hub download of a single-model repo, import, list, resolve, verify."""

from __future__ import annotations

import json

import pytest

from ldm_studio.core.errors import FileFormatError
from ldm_studio.core.models.catalogue import load_catalogue, parse_catalogue
from ldm_studio.core.models.controlnets import installed_controlnets, read_controlnet, resolve_controlnet
from ldm_studio.core.models.manager import download, import_model, list_models, verify
from ldm_studio.testing.tiny_controlnet import write_controlnet
from ldm_studio.testing.tiny_sd import write_sd_model

REPO = "test-org/tiny-controlnet"


@pytest.fixture(scope="module")
def controlnet_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cn")
    net = write_controlnet(root / "tiny-controlnet", write_sd_model(root / "sd"))
    (net / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"variant: never downloaded")
    return net


def test_the_catalogue_lists_the_two_segmentation_controlnets():
    catalogue = load_catalogue([])
    for name, repo in (("sd-controlnet-seg", "lllyasviel/sd-controlnet-seg"), ("control_v11p_sd15_seg", None)):
        entry = catalogue[name]
        assert entry.kind == "controlnet" and entry.family == "sd" and entry.license == "openrail"
        assert entry.size_bytes is None and entry.repo_id == (repo or f"lllyasviel/{name}")
    with pytest.raises(FileFormatError, match=r"kind must be 'model', 'component' or 'controlnet'"):
        parse_catalogue({"models": [{"name": "x", "family": "sd", "kind": "lora", "source": {"type": "hub"}}]}, "c")


def test_download_import_list_resolve_and_verify(server, online, controlnet_folder, tmp_path, monkeypatch):
    server.add_repo(REPO, controlnet_folder)
    catalogue = tmp_path / "cn-catalogue.json"
    entry = {"name": "tiny-cn", "kind": "controlnet", "family": "sd", "license": "test"}
    catalogue.write_text(json.dumps({"models": [{**entry, "source": {"type": "hub", "repo_id": REPO}}]}))
    monkeypatch.setenv("LDM_STUDIO_CATALOGUE", str(catalogue))

    model = download("tiny-cn")
    assert model.role == "controlnet" and model.family == "sd"
    assert set(model.files) == {"config.json", "diffusion_pytorch_model.safetensors"}  # no fp16 variant
    assert read_controlnet(model.folder).cross_attention_dim == 32

    imported = import_model(controlnet_folder, name="my-cn")
    assert imported.role == "controlnet" and (imported.folder / "config.json").is_file()
    assert set(installed_controlnets()) == {"tiny-cn", "my-cn"}
    rows = {row.name: row for row in list_models()}
    assert rows["tiny-cn"].kind == "controlnet" and rows["tiny-cn"].state == "installed"
    assert rows["my-cn"].kind == "controlnet"
    path, sha = resolve_controlnet("my-cn")
    assert path == imported.folder.resolve() and len(sha) == 10
    assert verify("my-cn").ok
