"""Train the demo LDM on procedural scenes: first the autoencoder, then the U-Net in its latent space.

The trainer is budget-driven: `minutes` is split between the stages (autoencoder, encoding
the U-Net's data set, U-Net) and each stage trains until its share of the time is spent, so
one command fits a 2-core CPU in the time given and does more steps on a GPU. Progress is
kept in a work folder (checkpoints every few minutes, the loss log): running the same
command again resumes. The result is written as a standard model folder (temp + rename).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from ldm_studio.core.generation.threads import apply_threads, check_threads, plan_threads
from ldm_studio.demo.stages import encode_dataset, train_autoencoder, train_unet
from ldm_studio.demo.training_state import LossLog, TrainConfig, pick_device

__all__ = ["TrainConfig", "train"]


def train(config: TrainConfig) -> Path:
    """Run (or resume) both stages and write the model folder; returns its path."""
    from ldm_studio.demo.export import export_model_folder
    from ldm_studio.demo.plot import plot_losses

    torch.set_flush_denormal(True)
    plan = plan_threads(check_threads(config.threads))
    apply_threads(plan)
    device = pick_device(config.device)
    work = config.work_dir()
    work.mkdir(parents=True, exist_ok=True)
    log = LossLog(work / "losses.csv")
    budget = config.minutes * 60.0
    print(
        f"train-demo: device {device}, {plan.count} CPU thread(s), budget {config.minutes:g} min, work folder {work}",
        file=sys.stderr,
    )

    vae_result = train_autoencoder(config, device, work, log, budget * config.vae_share)
    data = encode_dataset(config, device, work)
    remaining = budget - vae_result.seconds - data["seconds"]
    unet_result = train_unet(config, device, work, log, data, max(remaining, 60.0))

    log.close()
    plot_losses(log.path, work / "training_loss.png")
    stats = {
        "vae_steps": vae_result.steps,
        "vae_seconds": round(vae_result.seconds, 1),
        "unet_steps": unet_result.steps,
        "unet_seconds": round(unet_result.seconds, 1),
        "encode_seconds": round(data["seconds"], 1),
        "training_seconds": round(vae_result.seconds + data["seconds"] + unet_result.seconds, 1),
        **vae_result.metrics,
    }
    return export_model_folder(config, device, work, data["scale"], stats)

