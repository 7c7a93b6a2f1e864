"""`ldm-studio models ...` end to end through `ldm_studio.cli.main` (no network)."""

from __future__ import annotations

import json
import shutil

import pytest

from ldm_studio.cli import main
from ldm_studio.core.files.store import models_dir
from ldm_studio.core.models.manager import read_index
from ldm_studio.core.models.model_folder import read_model_info


@pytest.fixture
def text_folder(tiny_text_model, tmp_path):
    """A private copy of the tiny text model that a test may break."""
    return shutil.copytree(tiny_text_model, tmp_path / "tiny-text")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["models", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_import_a_model_folder_then_verify_and_remove(capsys, text_folder):
    code, out, _ = run(capsys, "import", str(text_folder), "--name", "my-text")
    assert code == 0
    installed = models_dir() / "my-text"
    assert out.strip() == str(installed)
    assert read_model_info(installed).family == "text"
    assert read_index()["my-text"].files["unet/config.json"]

    code, out, _ = run(capsys, "verify", "my-text")
    assert code == 0 and "OK" in out

    code, out, _ = run(capsys, "list")
    assert "my-text" in out and "installed" in out
    # every released LDM is listed, with the size its source publishes (the README's 5.7 GB) or "size unknown"
    lines = {line.split()[0]: line for line in out.splitlines()}
    for name in ("txt2img-f8-large", "cin256", "celeba256", "ffhq256", "lsun-churches256", "lsun-bedrooms256",
                 "semantic-synthesis-256", "semantic-synthesis-512", "bsr-sr", "inpainting-big", "text2img256"):
        assert name in lines
    assert "~5.7 GB" in lines["txt2img-f8-large"] and "size unknown" in lines["ffhq256"]

    code, out, _ = run(capsys, "remove", "my-text")
    assert code == 0 and not installed.exists() and "my-text" not in read_index()


def test_verify_finds_a_changed_file(capsys, text_folder):
    run(capsys, "import", str(text_folder), "--name", "t", "--quiet")
    weights = models_dir() / "t" / "vqvae" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    code, _, err = run(capsys, "verify", "t")
    assert code == 2
    assert "vqvae/diffusion_pytorch_model.safetensors: checksum mismatch" in err


def test_import_a_plain_diffusers_folder(capsys, hub_model_folder):
    code, out, _ = run(capsys, "import", str(hub_model_folder), "--quiet")
    assert code == 0
    assert read_model_info(out.strip()).origin == "diffusers"


def test_import_checkpoint_with_config(capsys, original_pair):
    config, ckpt = original_pair
    code, out, _ = run(capsys, "import", str(ckpt), "--config", str(config), "--name", "cin-tiny")
    assert code == 0
    info = read_model_info(out.strip())
    assert info.family == "class" and info.null_class == 1000


def test_import_safetensors_with_config(capsys, original_pair, tmp_path):
    import torch
    from safetensors.torch import save_file

    config, ckpt = original_pair
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    target = tmp_path / "cin.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(target))
    code, _, err = run(capsys, "import", str(target))
    assert code == 2 and "needs its config: pass --config" in err
    code, out, _ = run(capsys, "import", str(target), "--config", str(config), "--quiet")
    assert code == 0 and read_model_info(out.strip()).family == "class"


def test_import_lists_every_problem_of_a_broken_folder(capsys, text_folder):
    shutil.rmtree(text_folder / "scheduler")
    shutil.rmtree(text_folder / "tokenizer")
    unet_config = text_folder / "unet" / "config.json"
    config = json.loads(unet_config.read_text())
    config["block_out_channels"] = [c * 2 for c in config["block_out_channels"]]
    unet_config.write_text(json.dumps(config))

    code, _, err = run(capsys, "import", str(text_folder))
    assert code == 2
    assert "scheduler: missing component" in err
    assert "tokenizer: missing component" in err
    assert "unet/diffusion_pytorch_model.safetensors: wrong shapes" in err
    assert not read_index() and not (models_dir() / "tiny-text").exists()


def test_import_rejects_an_unknown_family(capsys, text_folder):
    info = text_folder / "ldm_studio.json"
    info.write_text(json.dumps({**json.loads(info.read_text()), "family": "video"}))
    code, _, err = run(capsys, "import", str(text_folder))
    assert code == 2 and "unknown family 'video'" in err


def test_errors_for_unknown_names_and_files(capsys, tmp_path):
    assert run(capsys, "remove", "nope")[0] == 2
    assert run(capsys, "verify", "nope")[0] == 2
    assert "no model named 'nope'" in run(capsys, "download", "nope")[2]
    (tmp_path / "x.txt").write_text("x")
    assert "cannot import this" in run(capsys, "import", str(tmp_path / "x.txt"))[2]


def test_download_from_the_cli(capsys, server):
    code, out, err = run(capsys, "download", "tiny-hub-text")
    assert code == 0 and "downloading" in err
    code, out, _ = run(capsys, "list", "--installed")
    assert "tiny-hub-text" in out and "installed" in out


def test_download_offline_from_the_cli(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run(capsys, "download", "ldm-celebahq-256")
    assert code == 2
    assert err.strip().count("\n") == 0 and "offline: cannot download" in err
