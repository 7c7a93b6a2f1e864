"""Train the demo LDM on procedural scenes: first the autoencoder, then the U-Net in its latent space.

The trainer is budget-driven: `minutes` is split between the stages (autoencoder, encoding
the U-Net's data set, U-Net) and each stage trains until its share of the time is spent, so
one command fits a 2-core CPU in the time given and does more steps on a GPU. Progress is
kept in a work folder (checkpoints every few minutes, the loss log): running the same
command again resumes. The result is written as a standard model folder (temp + rename).
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ldm_studio.core.threads import apply_threads, check_threads, plan_threads
from ldm_studio.demo import architecture as arch
from ldm_studio.demo.scenes import SIZE, generate_scenes

HELDOUT_SEED = 1_000_000_007  # scenes never drawn for training (training seeds are small)
HELDOUT_SCENES = 256
CHECKPOINT_EVERY_S = 180.0


@dataclass
class TrainConfig:
    """What `ldm-studio train-demo` was asked for; the defaults are the shipped model's."""

    out: Path
    minutes: float = 100.0
    device: str | None = None
    seed: int = 0
    threads: int | None = None
    work: Path | None = None
    autoencoder: str = "kl"  # or "vq"
    vae_share: float = 0.3  # of the time; encoding the data set takes a few percent, the U-Net the rest
    unet_scenes: int = 30_000
    vae_batch: int = 32
    unet_batch: int = 64
    vae_lr: float = 1e-3
    unet_lr: float = 6e-4
    kl_weight: float = 1e-6
    p_drop: float = 0.3  # each of text, class and map is dropped independently ...
    p_drop_all: float = 0.05  # ... and all three together this often (more unconditional examples)
    max_steps: int | None = None  # a cap per stage, for smoke tests
    heldout_scenes: int = HELDOUT_SCENES
    command: str = ""

    def work_dir(self) -> Path:
        if self.work is not None:
            return self.work
        key = hashlib.sha1(str(self.out.resolve()).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"ldm-studio-train-demo-{key}"


@dataclass
class StageResult:
    steps: int
    seconds: float
    metrics: dict[str, float] = field(default_factory=dict)


def pick_device(requested: str | None) -> torch.device:
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def images_to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, H, W, 3) uint8 → (N, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1


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


# --- stage 1: the autoencoder -----------------------------------------------------------------


def train_autoencoder(
    config: TrainConfig, device: torch.device, work: Path, log: LossLog, seconds: float
) -> StageResult:
    """L1 + MSE reconstruction plus the regulariser: KL: a small KL term (CompVis kl-f4 weight); VQ: the
    codebook and commitment losses of diffusers' quantiser (straight-through gradients)."""
    torch.manual_seed(config.seed)
    vae = arch.build_autoencoder(config.autoencoder).to(device)
    opt = torch.optim.Adam(vae.parameters(), lr=config.vae_lr)
    ckpt = Checkpoint(work / "vae.pt")
    state = ckpt.load(device)
    if state:
        if state.get("kind", "kl") != config.autoencoder:
            raise RuntimeError(f"{ckpt.path} holds a {state.get('kind', 'kl')} autoencoder, not {config.autoencoder}")
        vae.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
    step, elapsed = (state["step"], state["elapsed"]) if state else (0, 0.0)
    if not (state and state.get("done")):
        vae.train()
        with StageClock("autoencoder", seconds, elapsed) as clock:
            while not clock.over() and not _capped(config, step):
                batch = generate_scenes(config.vae_batch, seed=config.seed * 1_000_003 + step + 1)
                x = images_to_tensor(batch.images, device)
                _set_lr(opt, config.vae_lr, clock.fraction(), warmup=step < 50)
                recon, regulariser = _autoencode(vae, x, config)
                rec = F.l1_loss(recon, x) + F.mse_loss(recon, x)
                loss = rec + regulariser
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
                opt.step()
                step += 1
                clock.tick(step, rec.item())
                log.add("autoencoder", step, clock.elapsed, rec.item())
                if clock.due_checkpoint():
                    state = {"model": vae.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": clock.elapsed}
                    ckpt.save({**state, "kind": config.autoencoder})
            elapsed = clock.elapsed
        metrics = evaluate_autoencoder(vae, device, config.seed, config.heldout_scenes)
        ckpt.save(
            {
                "model": vae.state_dict(),
                "opt": opt.state_dict(),
                "step": step,
                "elapsed": elapsed,
                "done": True,
                "metrics": metrics,
                "kind": config.autoencoder,
            }
        )
        state = ckpt.load(device)
    print(f"train-demo: autoencoder {step} steps, held-out {state['metrics']}", file=sys.stderr)
    return StageResult(step, elapsed, dict(state["metrics"]))


def _autoencode(vae: torch.nn.Module, x: torch.Tensor, config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Reconstruction and weighted regulariser for one training batch."""
    if config.autoencoder == "vq":
        out = vae.decode(vae.encode(x).latents)
        return out.sample, out.commit_loss.mean()
    posterior = vae.encode(x).latent_dist
    return vae.decode(posterior.sample()).sample, config.kl_weight * posterior.kl().mean()


def encode_latents(vae: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the U-Net learns to produce: the KL posterior mean, or the VQ encoder output (quantised on decoding)."""
    encoded = vae.encode(x)
    return encoded.latents if hasattr(encoded, "latents") else encoded.latent_dist.mean


@torch.no_grad()
def evaluate_autoencoder(
    vae: torch.nn.Module, device: torch.device, seed: int = 0, count: int = HELDOUT_SCENES
) -> dict[str, float]:
    """Reconstruction error on held-out scenes (pixels in [0, 1]): MSE and PSNR."""
    vae.eval()
    scenes = generate_scenes(count, seed=HELDOUT_SEED + seed)
    errors = []
    for start in range(0, count, 64):
        x = images_to_tensor(scenes.images[start : start + 64], device)
        recon = vae.decode(encode_latents(vae, x)).sample.clamp(-1, 1)
        errors.append(((recon - x) / 2).pow(2).flatten(1).mean(1).cpu())
    mse = float(torch.cat(errors).mean())
    return {"heldout_mse": round(mse, 6), "heldout_psnr_db": round(10 * math.log10(1 / mse), 2)}


# --- stage 2: the data set of the U-Net -------------------------------------------------------


@torch.no_grad()
def encode_dataset(config: TrainConfig, device: torch.device, work: Path) -> dict[str, Any]:
    """Scenes → (latent mean, map, class, token ids), encoded once; the latent scale is 1 / std."""
    path = work / "dataset.pt"
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    started = time.monotonic()
    vae = arch.build_autoencoder(config.autoencoder).to(device)
    vae.load_state_dict(Checkpoint(work / "vae.pt").load(device)["model"])
    vae.eval()
    tokenizer = arch.build_tokenizer(work / "tokenizer")
    n = config.unet_scenes
    latents, maps, classes, ids = [], [], [], []
    chunk = 500
    for start in tqdm(range(0, n, chunk), desc="encoding scenes", unit="chunk", file=sys.stderr, mininterval=10):
        scenes = generate_scenes(min(chunk, n - start), seed=config.seed * 7_919 + 50_000_000 + start)
        for i in range(0, len(scenes), 100):
            x = images_to_tensor(scenes.images[i : i + 100], device)
            latents.append(encode_latents(vae, x).cpu())
        maps.append(torch.from_numpy(scenes.maps.astype(np.uint8)))
        classes.append(torch.from_numpy(scenes.classes))
        ids.append(tokenize(tokenizer, scenes.captions))
    lat = torch.cat(latents)
    scale = float(1.0 / lat.std())
    data = {
        "latents": lat * scale,
        "maps": torch.cat(maps),
        "classes": torch.cat(classes),
        "ids": torch.cat(ids),
        "empty_ids": tokenize(tokenizer, [""])[0],
        "scale": scale,
        "seconds": time.monotonic() - started,
    }
    torch.save(data, path)
    print(f"train-demo: encoded {n} scenes, latent scale {scale:.4f}", file=sys.stderr)
    return data


def tokenize(tokenizer: Any, texts: Iterable[str]) -> torch.Tensor:
    return tokenizer(
        list(texts), padding="max_length", max_length=arch.MAX_TOKENS, truncation=True, return_tensors="pt"
    ).input_ids


# --- stage 3: the U-Net and its conditioning encoders ------------------------------------------


class Conditioner(torch.nn.Module):
    """The trainable conditioning: LDMBert, class embedding and map rescaler, trained with the U-Net."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.bert = arch.build_text_encoder(vocab_size)
        self.classes = arch.build_class_embedder()
        self.rescaler = arch.build_rescaler()

    def forward(
        self, ids: torch.Tensor, class_ids: torch.Tensor, maps: torch.Tensor, keep_map: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        context = torch.cat([self.classes(class_ids), self.bert(ids)[0]], dim=1)
        concat = arch.map_features_fast(self.rescaler, maps) * keep_map[:, None, None, None]
        return context, concat


def train_unet(
    config: TrainConfig, device: torch.device, work: Path, log: LossLog, data: dict[str, Any], seconds: float
) -> StageResult:
    """ε-prediction in latent space with conditioning dropout (text, class, map) and an EMA of the weights."""
    torch.manual_seed(config.seed + 1)
    tokenizer = arch.build_tokenizer(work / "tokenizer")
    unet = arch.build_unet().to(device)
    cond = Conditioner(len(tokenizer.vocab)).to(device)
    params = [*unet.parameters(), *cond.parameters()]
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=config.unet_lr, weight_decay=0.0)
    scheduler = arch.build_scheduler()
    alphas = scheduler.alphas_cumprod.to(device)
    ckpt = Checkpoint(work / "unet.pt")
    state = ckpt.load(device)
    if state:
        unet.load_state_dict(state["unet"])
        cond.load_state_dict(state["cond"])
        opt.load_state_dict(state["opt"])
        for e, saved in zip(ema, state["ema"], strict=True):
            e.copy_(saved)
    step, elapsed = (state["step"], state["elapsed"]) if state else (0, 0.0)
    if state and state.get("done"):
        return StageResult(step, elapsed)

    latents = data["latents"].to(device)
    maps = data["maps"].to(device)
    classes = data["classes"].to(device)
    ids = data["ids"].to(device)
    empty_ids = data["empty_ids"].to(device)
    n = latents.shape[0]
    gen = torch.Generator("cpu").manual_seed(config.seed * 31 + step)

    def save(done: bool = False) -> None:
        ckpt.save(
            {
                "unet": unet.state_dict(),
                "cond": cond.state_dict(),
                "opt": opt.state_dict(),
                "ema": ema,
                "step": step,
                "elapsed": clock.elapsed,
                "done": done,
            }
        )

    unet.train()
    cond.train()
    b = config.unet_batch
    with StageClock("U-Net", seconds, elapsed) as clock:
        while not clock.over() and not _capped(config, step):
            idx = torch.randint(0, n, (b,), generator=gen).to(device)
            drop_all = torch.rand(b, generator=gen) < config.p_drop_all
            drop = (torch.rand(3, b, generator=gen) < config.p_drop) | drop_all
            drop = drop.to(device)
            batch_ids = torch.where(drop[0][:, None], empty_ids[None], ids[idx])
            batch_classes = torch.where(drop[1], torch.full_like(classes[idx], arch.NULL_CLASS), classes[idx])
            keep_map = (~drop[2]).float()
            x0 = latents[idx]
            noise = torch.randn(x0.shape, generator=gen).to(device)
            t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), generator=gen).to(device)
            a = alphas[t][:, None, None, None]
            noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
            _set_lr(opt, config.unet_lr, clock.fraction(), warmup=step < 200, floor=0.05)
            context, concat = cond(batch_ids, batch_classes, maps[idx].long(), keep_map)
            pred = unet(torch.cat([noisy, concat], dim=1), t, encoder_hidden_states=context).sample
            loss = F.mse_loss(pred, noise)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            decay = min(0.999, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - decay)
            clock.tick(step, loss.item())
            log.add("unet", step, clock.elapsed, loss.item())
            if clock.due_checkpoint():
                save()
        save(done=True)
        elapsed = clock.elapsed
    return StageResult(step, elapsed)


def load_trained_unet(work: Path, device: torch.device) -> tuple[torch.nn.Module, Conditioner]:
    """The U-Net and conditioner with their EMA weights, from the work folder's checkpoint."""
    tokenizer = arch.build_tokenizer(work / "tokenizer")
    unet = arch.build_unet()
    cond = Conditioner(len(tokenizer.vocab))
    state = Checkpoint(work / "unet.pt").load(torch.device("cpu"))
    unet.load_state_dict(state["unet"])
    cond.load_state_dict(state["cond"])
    params = [*unet.parameters(), *cond.parameters()]
    with torch.no_grad():
        for p, e in zip(params, state["ema"], strict=True):
            p.copy_(e)
    return unet.eval(), cond.eval()


# --- helpers -------------------------------------------------------------------------------------


def _capped(config: TrainConfig, step: int) -> bool:
    return config.max_steps is not None and step >= config.max_steps


def _set_lr(opt: torch.optim.Optimizer, base: float, fraction: float, warmup: bool, floor: float = 0.1) -> None:
    """Cosine decay over the stage's time budget (to `floor` × base); a short linear warm-up."""
    lr = base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0))))
    if warmup:
        lr *= 0.1
    for group in opt.param_groups:
        group["lr"] = lr


class Checkpoint:
    """A torch checkpoint written atomically (temp file + rename), so an interrupted run resumes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self, device: torch.device) -> dict[str, Any] | None:
        if not self.path.is_file():
            return None
        return torch.load(self.path, map_location=device, weights_only=True)

    def save(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, self.path)


class LossLog:
    """Losses appended to a CSV (stage, step, seconds, loss), one row per step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        new = not path.is_file()
        self._file = path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        if new:
            self._writer.writerow(["stage", "step", "seconds", "loss"])

    def add(self, stage: str, step: int, seconds: float, loss: float) -> None:
        self._writer.writerow([stage, step, f"{seconds:.2f}", f"{loss:.6f}"])
        if step % 50 == 0:
            self._file.flush()

    def close(self) -> None:
        self._file.close()


class StageClock:
    """The time budget of a stage (carried over on resume), its progress bar and checkpoint timer."""

    def __init__(self, name: str, seconds: float, already: float) -> None:
        self.name = name
        self.budget = seconds
        self.already = already
        self._start = time.monotonic()
        self._last_ckpt = self._start
        self._bar = tqdm(
            total=round(seconds),
            initial=min(round(already), round(seconds)),
            desc=name,
            unit="s",
            file=sys.stderr,
            mininterval=15,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s {postfix}",
        )
        self._shown = min(round(already), round(seconds))
        self._loss: float | None = None

    def __enter__(self) -> StageClock:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()

    @property
    def elapsed(self) -> float:
        return self.already + time.monotonic() - self._start

    def fraction(self) -> float:
        return self.elapsed / self.budget if self.budget > 0 else 1.0

    def over(self) -> bool:
        return self.elapsed >= self.budget

    def tick(self, step: int, loss: float) -> None:
        self._loss = loss if self._loss is None else 0.98 * self._loss + 0.02 * loss
        now = min(round(self.elapsed), self._bar.total)
        if now > self._shown:
            self._bar.set_postfix_str(f"step {step} loss {self._loss:.4f}", refresh=False)
            self._bar.update(now - self._shown)
            self._shown = now

    def due_checkpoint(self) -> bool:
        now = time.monotonic()
        if now - self._last_ckpt >= CHECKPOINT_EVERY_S:
            self._last_ckpt = now
            return True
        return False


def environment() -> dict[str, str]:
    import diffusers
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "image_size": str(SIZE),
    }
