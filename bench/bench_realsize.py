"""Opt-in, slow: LDM Studio against diffusers at the real ldm-text2im-large-256 architecture.

Random weights at the real sizes (U-Net 320/640/1280/1280 with cross-attention to a 1280-wide,
32-layer LDMBert; KL-f8 autoencoder 128/256/512/512), written once as a diffusers repo (about
6 GB; kept in LDM_BENCH_REALSIZE_DIR when set). 256 px, 5 DDIM steps, guidance 5, CPU.

- whole process: `ldm-studio generate` (threads as the CLI chooses them) and a plain diffusers
  script, each a fresh process, in turn (paired), wall and CPU time (user + system);
- in process: load (weights read → model reported loaded), the warm-up, the preview projection
  fit (the current calibration set and the old one), the first step (prompt encoding included)
  and the median later step, wall and CPU time, engine and diffusers' pipeline on one model.

`--smoke` runs the same on the tiny text model, once. Rounds: LDM_BENCH_REALSIZE_ROUNDS (3).
With CUDA present the in-process part also reports fp16 steps/s and the share of
LDM_BENCH_PEAK_TFLOPS (the GPU's dense fp16 peak, when given) at 0.364 TFLOP per CFG step.
"""

from __future__ import annotations

import itertools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
STEPS, SIZE, GUIDANCE = 5, 256, 5.0
CFG_STEP_TFLOP = 0.364  # one CFG U-Net step (batch 2) at 32x32 latents


def realsize_components() -> dict:
    """The LDM-256 text model's parts with random weights at their real sizes."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertConfig, LDMBertModel
    from transformers import BertTokenizer

    from ldm_studio.testing.tiny_models import compvis_text_scheduler, write_vocab

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=1280,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(128, 256, 512, 512),
        layers_per_block=2,
        latent_channels=4,
        sample_size=256,
    )
    bert = LDMBertModel(
        LDMBertConfig(
            d_model=1280,
            encoder_layers=32,
            encoder_attention_heads=8,
            head_dim=64,
            encoder_ffn_dim=5120,
            vocab_size=30522,
            max_position_embeddings=77,
        )
    ).eval()
    vocab = Path(tempfile.mkdtemp(prefix="ldm-vocab-")) / "vocab.txt"
    tokenizer = BertTokenizer(str(write_vocab(vocab)))
    return {"unet": unet, "vqvae": vae, "bert": bert, "tokenizer": tokenizer, "scheduler": compvis_text_scheduler()}


def model_folder(smoke: bool) -> Path:
    """The diffusers repo to time (written once; the tiny text model for a smoke run)."""
    from diffusers import LDMTextToImagePipeline

    from ldm_studio.testing.tiny_models import write_text_model

    if smoke:
        return write_text_model(Path(tempfile.mkdtemp(prefix="ldm-bench-real-")) / "tiny", diffusers_only=True)
    folder = Path(os.environ.get("LDM_BENCH_REALSIZE_DIR") or Path(tempfile.gettempdir()) / "ldm-bench-realsize")
    if not (folder / "model_index.json").is_file():
        LDMTextToImagePipeline(**realsize_components()).save_pretrained(folder)
    return folder


class StepTimes:
    """Wall and CPU time at each U-Net call (a forward pre-hook): the same measure for both loops."""

    def __init__(self, unet: torch.nn.Module) -> None:
        self.marks: list[tuple[float, float]] = []
        self._hook = unet.register_forward_pre_hook(lambda *a: self.marks.append(self._now()))

    @staticmethod
    def _now() -> tuple[float, float]:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter(), time.process_time()

    def run(self, fn) -> dict[str, float]:
        self.marks.clear()
        start = self._now()
        fn()
        end = self._now()
        marks = [start, *self.marks, end]  # start → first call: encoding; between calls: one step
        calls = marks[1:-1]
        walls = [b[0] - a[0] for a, b in itertools.pairwise(calls)]
        cpus = [b[1] - a[1] for a, b in itertools.pairwise(calls)]
        return {
            "to_first_step_s": marks[2][0] - marks[0][0],
            "step_s": statistics.median(walls) if walls else float("nan"),
            "step_cpu_s": statistics.median(cpus) if cpus else float("nan"),
        }

    def close(self) -> None:
        self._hook.remove()


def in_process(folder: Path, smoke: bool) -> dict[str, object]:
    from ldm_studio.core.generation.device import choose_device
    from ldm_studio.core.generation.engine import Engine, warm_up_model
    from ldm_studio.core.generation.previews import fit_linear_preview
    from ldm_studio.core.generation.requests import GenerationRequest, SamplerSettings, TextCondition
    from ldm_studio.core.generation.sampling import generators_for, initial_noise
    from ldm_studio.testing.tiny_models import diffusers_text_pipeline

    figures: dict[str, object] = {}
    engine = Engine(choose_device())
    figures["threads"] = engine.threads.count
    start = time.perf_counter()
    model = engine.load(folder, warm_up=False)
    figures["load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    warm_up_model(model)
    figures["warm_up_s"] = time.perf_counter() - start
    f = model.info.latent_factor
    for name, count, side in [("fit_s", None, None)] + ([] if smoke else [("fit_old_24x16_s", 24, 16 * f)]):
        start = time.perf_counter()
        fit_linear_preview(model, size=side, count=count) if count else fit_linear_preview(model)
        figures[name] = time.perf_counter() - start

    size = model.info.resolution if smoke else SIZE
    request = GenerationRequest(
        TextCondition("a red cat"),
        SamplerSettings(sampler="ddim", steps=STEPS, guidance=GUIDANCE, width=size, height=size, seed=1),
    )
    pipe = diffusers_text_pipeline(model)

    def diffusers_run():
        noise = initial_noise(model.latent_shape(request), generators_for(1, 1), model.device, model.dtype)
        pipe("a red cat", height=size, width=size, num_inference_steps=STEPS, guidance_scale=GUIDANCE, latents=noise)

    clock = StepTimes(model.unet)
    rounds: dict[str, list[dict[str, float]]] = {"engine": [], "diffusers": []}
    for _ in range(1 if smoke else 2):
        rounds["engine"].append(clock.run(lambda: engine.generate(request)))
        rounds["diffusers"].append(clock.run(diffusers_run))
    clock.close()
    for name, runs in rounds.items():
        for key in runs[0]:
            figures[f"{name}_{key}"] = statistics.median(r[key] for r in runs)
    figures["step_wall_engine_over_diffusers"] = figures["engine_step_s"] / figures["diffusers_step_s"]
    figures["step_cpu_engine_over_diffusers"] = figures["engine_step_cpu_s"] / figures["diffusers_step_cpu_s"]
    if model.device.type == "cuda":
        figures["cuda_steps_per_s"] = 1.0 / figures["engine_step_s"]
        peak = float(os.environ.get("LDM_BENCH_PEAK_TFLOPS", "0") or 0)
        if peak and not smoke:
            figures["cuda_share_of_peak"] = CFG_STEP_TFLOP / figures["engine_step_s"] / peak
    return figures


def whole_process(folder: Path, size: int, rounds: int) -> dict[str, object]:
    """`ldm-studio generate` and the plain diffusers script as fresh processes, in turn (`rounds` pairs)."""
    out = Path(tempfile.mkdtemp(prefix="ldm-bench-real-out-"))
    env = {**os.environ, "LDM_STUDIO_HOME": str(out / "home")}
    commands = {
        "engine": [
            sys.executable, "-m", "ldm_studio", "generate", "--model", str(folder), "--prompt", "a red cat",
            "--steps", str(STEPS), "--guidance", str(GUIDANCE), "--seed", "1", "--sampler", "ddim",
            "--width", str(size), "--height", str(size), "--quiet", "--out", str(out),
        ],
        "diffusers": [sys.executable, str(HERE / "realsize_diffusers.py"), str(folder), str(out / "d.png"),
                      str(STEPS), str(size)],
    }  # fmt: skip
    wall: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
            wall[name].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    figures: dict[str, object] = {}
    for name in commands:
        figures[f"process_{name}_wall_s"] = statistics.median(wall[name])
        figures[f"process_{name}_cpu_s"] = statistics.median(cpu[name])
    ratios = [e / d for e, d in zip(wall["engine"], wall["diffusers"], strict=True)]
    figures["process_wall_engine_over_diffusers"] = statistics.median(ratios)
    figures["process_cpu_engine_over_diffusers"] = figures["process_engine_cpu_s"] / figures["process_diffusers_cpu_s"]
    figures["rounds"] = rounds
    return figures


def run(smoke: bool = False) -> dict[str, object]:
    folder = model_folder(smoke)
    figures: dict[str, object] = {"load_average_at_start": os.getloadavg()[0], "cores": os.cpu_count() or 1}
    rounds = 1 if smoke else int(os.environ.get("LDM_BENCH_REALSIZE_ROUNDS", "3"))
    figures.update(whole_process(folder, 64 if smoke else SIZE, rounds))
    figures.update(in_process(folder, smoke))
    return figures
