"""The trainer end to end at smoke size, the default-model lookup and `generate` without --model."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.models import demo_model
from ldm_studio.core.models.model_folder import read_model_info
from ldm_studio.demo.plot import plot_losses
from ldm_studio.demo.train import TrainConfig, train


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    config = TrainConfig(
        out=root / "model",
        work=root / "work",
        minutes=10,  # the step cap ends each stage first
        max_steps=2,
        threads=1,
        unet_scenes=64,
        heldout_scenes=8,
        vae_batch=4,
        unet_batch=8,
    )
    threads = torch.get_num_threads()
    try:
        path = train(config)
    finally:
        torch.set_num_threads(threads)
    return config, path


def test_trainer_writes_a_standard_model_folder(smoke_run):
    _, path = smoke_run
    info = read_model_info(path)
    assert info.family == "multi" and info.autoencoder == "vae" and info.autoencoder_kind == "kl"
    assert info.provenance["trained_by"] == "ldm-studio train-demo"
    assert info.provenance["vae_steps"] == 2 and info.provenance["unet_steps"] == 2
    assert "heldout_psnr_db" in info.provenance
    for part in ("unet", "vae", "bert", "tokenizer", "scheduler", "cond_stage/class", "cond_stage/map"):
        assert (path / part).is_dir(), part
    scheduler = json.loads((path / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["beta_schedule"] == "scaled_linear" and scheduler["steps_offset"] == 1
    assert scheduler["set_alpha_to_one"] is False and scheduler["clip_sample"] is False
    assert "demo" in (path / "README.md").read_text().lower()
    assert not list(path.parent.glob(".model.tmp-*"))
    with (path / "training_log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["stage"] for r in rows} == {"autoencoder", "unet"}
    assert Image.open(path / "training_loss.png").size[0] > 100


def test_a_second_run_resumes_and_rewrites_the_folder(smoke_run):
    config, path = smoke_run
    before = (config.work_dir() / "unet.pt").stat().st_mtime_ns
    again = train(config)
    assert again == path and (config.work_dir() / "unet.pt").stat().st_mtime_ns == before
    assert read_model_info(again).provenance["unet_steps"] == 2


def test_plot_draws_one_panel_per_stage(tmp_path):
    log = tmp_path / "losses.csv"
    rows = ["stage,step,seconds,loss"] + [f"a,{i},{i},{1 / i}" for i in range(1, 300)] + ["b,1,1,0.5", "b,2,2,0.4"]
    log.write_text("\n".join(rows) + "\n")
    image = Image.open(plot_losses(log, tmp_path / "plot.png"))
    assert image.size == (560, 600)
    assert np.asarray(image).min() < 100  # something was drawn


def test_demo_model_path_is_none_without_the_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(demo_model, "DEMO_MODEL_FOLDER", "no-such-model")
    assert demo_model.demo_model_path() is None


def test_generate_without_model_uses_the_demo_model(monkeypatch, smoke_run, tmp_path, capsys):
    _, path = smoke_run
    monkeypatch.setattr("ldm_studio.commands.generate.demo_model_path", lambda: path)
    code = main(["generate", "--steps", "2", "--seed", "3", "--class", "beach", "--out", str(tmp_path), "--quiet"])
    assert code == 0
    assert len(list(tmp_path.glob("*.png"))) == 1


def test_generate_without_model_or_demo_says_so(monkeypatch, capsys):
    monkeypatch.setattr("ldm_studio.commands.generate.demo_model_path", lambda: None)
    assert main(["generate", "--prompt", "a lake"]) == 2
    assert "no model given" in capsys.readouterr().err


def test_vq_first_stage_writes_a_vqvae_folder_that_generates(tmp_path):
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine
    from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition

    config = TrainConfig(
        out=tmp_path / "model",
        work=tmp_path / "work",
        autoencoder="vq",
        minutes=10,
        max_steps=1,
        threads=1,
        unet_scenes=32,
        heldout_scenes=8,
        vae_batch=4,
        unet_batch=8,
    )
    threads = torch.get_num_threads()
    try:
        path = train(config)
    finally:
        torch.set_num_threads(threads)
    info = read_model_info(path)
    assert info.autoencoder == "vqvae" and info.autoencoder_kind == "vq"
    engine = Engine(choose_device("cpu"))
    engine.load(path, warm_up=False)
    settings = SamplerSettings(steps=2, guidance=2.0, width=64, height=64)
    assert engine.generate(GenerationRequest(TextCondition("a lake"), settings)).images.shape == (1, 64, 64, 3)
