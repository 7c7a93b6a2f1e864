"""Write the trained demo model as a standard LDM Studio model folder, atomically (temp folder + rename).

Weights are stored as safetensors; the U-Net, autoencoder and text encoder in float16 (the
app loads them in its own dtype), which halves the download-free install size. The
conditioning encoders live in `cond_stage/class/` and `cond_stage/map/` in the
`cond_stages` format.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from diffusers import VQModel

from ldm_studio.core.models.cond_stages import save_cond_stage
from ldm_studio.core.models.model_folder import Defaults, ModelInfo, write_model_info
from ldm_studio.demo import architecture as arch
from ldm_studio.demo.architecture import Conditioner
from ldm_studio.demo.scenes import LABELS, SCENE_CLASSES, SIZE
from ldm_studio.demo.stages import load_trained_unet
from ldm_studio.demo.training_state import Checkpoint, TrainConfig, environment

DEFAULTS = Defaults(sampler="ddim", steps=30, guidance=2.0, eta=0.0)
STORE_DTYPE = torch.float16
LICENSE = "MIT (weights trained by the LDM Studio project on procedurally generated data)"


def export_model_folder(
    config: TrainConfig, device: torch.device, work: Path, scale: float, stats: dict[str, Any]
) -> Path:
    """Build the folder next to `config.out`, then swap it into place."""
    out = config.out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    write_components(tmp, work, scale)
    info = model_info(tmp, config, device, scale, stats)
    write_model_info(info)
    shutil.copy(work / "losses.csv", tmp / "training_log.csv")
    if (work / "training_loss.png").is_file():
        shutil.copy(work / "training_loss.png", tmp / "training_loss.png")
    (tmp / "README.md").write_text(model_card(info, stats), encoding="utf-8")
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
    return out


def write_components(folder: Path, work: Path, scale: float) -> None:
    """The trained weights (EMA for the U-Net and its encoders) from the work folder's checkpoints."""
    state = Checkpoint(work / "vae.pt").load(torch.device("cpu"))
    vae = arch.build_autoencoder(state.get("kind", "kl"))
    vae.load_state_dict(state["model"])
    unet, cond = load_trained_unet(work, torch.device("cpu"))
    save_components(folder, vae, unet, cond, arch.build_tokenizer(work / "tokenizer"), scale)


def save_components(folder: Path, vae: Any, unet: Any, cond: Conditioner, tokenizer: Any, scale: float) -> None:
    """Every subfolder of a demo model folder (also used by the tests with untrained weights)."""
    vae.register_to_config(scaling_factor=scale)
    vae.to(STORE_DTYPE).save_pretrained(folder / autoencoder_folder(vae))
    unet.to(STORE_DTYPE).save_pretrained(folder / "unet")
    cond.bert.to(STORE_DTYPE).save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "tokenizer")
    arch.build_scheduler().save_pretrained(folder / "scheduler")
    save_cond_stage(cond.classes, folder / "cond_stage" / "class")
    save_cond_stage(cond.rescaler, folder / "cond_stage" / "map")


def autoencoder_folder(vae: Any) -> str:
    return "vqvae" if isinstance(vae, VQModel) else "vae"


def model_info(folder: Path, config: TrainConfig, device: torch.device, scale: float, stats: dict) -> ModelInfo:
    provenance = {
        "trained_by": "ldm-studio train-demo",
        "command": config.command or f"ldm-studio train-demo --out {config.out} --minutes {config.minutes:g}",
        "data": "procedural scenes from ldm_studio.demo.scenes (no external images)",
        "seed": config.seed,
        "minutes_budget": config.minutes,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "scene_labels": LABELS,
        **stats,
        **environment(),
    }
    return demo_model_info(folder, scale, provenance, kind=config.autoencoder)


def demo_model_info(
    folder: Path, scale: float, provenance: dict[str, Any], license: str = LICENSE, kind: str = "kl"
) -> ModelInfo:
    """The `ldm_studio.json` facts of a demo model folder."""
    return ModelInfo(
        path=folder,
        family="multi",
        name="LDM Studio demo (procedural landscapes, 64 px)",
        resolution=SIZE,
        latent_factor=arch.LATENT_FACTOR,
        latent_channels=arch.LATENT_CHANNELS,
        scale_factor=round(scale, 6),
        autoencoder="vqvae" if kind == "vq" else "vae",
        autoencoder_kind=kind,
        defaults=DEFAULTS,
        label_set="coco-stuff-182",
        num_classes=len(SCENE_CLASSES),
        null_class=arch.NULL_CLASS,
        class_names=SCENE_CLASSES,
        license=license,
        provenance=provenance,
    )


def model_card(info: ModelInfo, stats: dict) -> str:
    p = info.provenance
    labels = ", ".join(f"{name} ({index})" for name, index in LABELS.items())
    if info.autoencoder_kind == "vq":
        first_stage, regulariser = "`VQModel`", "the quantiser's codebook + 0.25 × commitment loss"
    else:
        first_stage, regulariser = "`AutoencoderKL`", "KL weight 1e-6"
    minutes = (stats.get("vae_seconds", 0) + stats.get("encode_seconds", 0) + stats.get("unet_seconds", 0)) / 60
    return f"""# LDM Studio demo model — procedural landscapes, 64×64

**A demo.** This is a tiny latent diffusion model trained by LDM Studio's own trainer on
procedurally drawn cartoon landscapes. It exists so the app works offline on a fresh machine
and so the tests can prove that every conditioning input steers the picture. It knows
nothing about real photographs.

## What it takes

- a **caption** (a small vocabulary: the words of the generator's captions, e.g.
  "a snowy mountain above a lake", "a dense forest of green trees");
- a **scene class**: {", ".join(SCENE_CLASSES)};
- a **semantic map** in COCO-Stuff-182 labels; it was trained on {labels};
- any subset of the three, or none. Guidance (classifier-free, default {info.defaults.guidance:g})
  compares against all three dropped. Defaults: {info.defaults.sampler} with {info.defaults.steps} steps.
  Stronger guidance washes colours out (at 3 and above, map-painted sand turns nearly white,
  most with all three inputs), so the default is 2; 1 (no guidance) is softer still.

## How it was made

- Data: `ldm_studio.demo.scenes.generate_scenes` — seeded, deterministic 64×64 scenes in
  8 classes with ground-truth maps, classes and captions; textures, gradients and a
  time-of-day tint. No external images.
- First stage: {first_stage}, f = 4, 3 latent channels (16×16 latents), channels 32/64/64,
  L1 + MSE reconstruction loss and {regulariser}; latents scaled by {info.scale_factor:g} (1/std).
- Second stage: `UNet2DConditionModel` (32/64/128 channels, cross-attention at 8×8 and in
  the middle) on [latent, SpatialRescaler(map)] (3 + 3 channels), cross-attending to
  [class embedding token, 16 LDMBert tokens] (width 64). ε-prediction, CompVis DDIM
  schedule (scaled_linear {arch.BETA_START}→{arch.BETA_END}, 1000 steps). Text, class and map
  were each dropped with p = 0.3 (and all together with p = 0.05) so each works alone.
  The shipped weights are the exponential moving average (0.999).
- Command: `{p.get("command")}`
- Device: {p.get("device")}; autoencoder {stats.get("vae_steps")} steps in {stats.get("vae_seconds")} s,
  data set encoding {stats.get("encode_seconds")} s, U-Net {stats.get("unet_steps")} steps in
  {stats.get("unet_seconds")} s: {minutes:.0f} minutes of wall-clock time in all (the stage budgets are
  wall-clock), with {p.get("threads")} torch thread(s).
- Reconstruction error of the autoencoder on {256} held-out scenes (pixels in [0, 1]):
  MSE {stats.get("heldout_mse")}, PSNR {stats.get("heldout_psnr_db")} dB.
- Loss curves: `training_loss.png` and `training_log.csv` in this folder
  (also `docs/demo_training_loss.png` in the repository).

## Limits

64×64 pixels only; blurry textures; the vocabulary is the generator's (unknown words become
[UNK]); labels outside the list above mean nothing to it; left/right words are not
understood. It is a demo of the method and of the app, not an image generator to use for
anything else.

## Licence

{info.license}.
"""
