"""TAESD preview cost (issue 15 item 4): the tiny autoencoder's decode against the full decode and a U-Net step.

Real architectures, random weights (no download): TAESD is diffusers' `AutoencoderTiny()` default
(madebyollin/taesd's layout), the VAE and U-Net are SD 1.5's from the shipped single-file config.
Two kinds of figure:

- FLOP ratios at 512² (64² latents), counted by `torch.utils.flop_counter` on the meta device (no
  compute): TAESD decode / one CFG U-Net step (batch 2), full VAE decode / one CFG U-Net step, and
  TAESD / full decode. They hold on any device, as far as FLOPs predict time.
- measured CPU time ratio TAESD decode / full decode at 128² (16² latents, one thread, median of
  3, interleaved), which says how far FLOPs predict time here.
"""

from __future__ import annotations

import json
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def run(smoke: bool = False) -> dict[str, object]:
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel

    from ldm_studio.core.models.single_file import config_folder

    torch.set_num_threads(1)
    folder = config_folder("sd1")
    vae_config = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
    unet_config = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    figures: dict[str, object] = {}
    with torch.device("meta"):
        tiny, vae = AutoencoderTiny(), AutoencoderKL.from_config(vae_config)
        unet = UNet2DConditionModel.from_config(unet_config)
        z = torch.zeros(1, 4, 64, 64)
        taesd_flops = _flops(lambda: tiny.decode(z))
        vae_flops = _flops(lambda: vae.decode(z))
        step_flops = _flops(
            lambda: unet(torch.zeros(2, 4, 64, 64), torch.tensor([1, 1]), encoder_hidden_states=torch.zeros(2, 77, 768))
        )
    figures["tflop_taesd_decode_512"] = taesd_flops / 1e12
    figures["tflop_vae_decode_512"] = vae_flops / 1e12
    figures["tflop_cfg_unet_step_512"] = step_flops / 1e12
    figures["flop_ratio_taesd_per_cfg_step"] = taesd_flops / step_flops
    figures["flop_ratio_vae_per_cfg_step"] = vae_flops / step_flops
    figures["flop_ratio_taesd_per_vae"] = taesd_flops / vae_flops

    torch.manual_seed(0)
    tiny, vae = AutoencoderTiny().eval(), AutoencoderKL.from_config(vae_config).eval()
    side = 4 if smoke else 16
    z = torch.randn(1, 4, side, side)
    times: dict[str, list[float]] = {"taesd": [], "vae": []}
    with torch.inference_mode():
        tiny.decode(z)  # first calls allocate
        vae.decode(z)
        for _ in range(1 if smoke else 3):
            for name, module in (("taesd", tiny), ("vae", vae)):
                start = time.perf_counter()
                module.decode(z)
                times[name].append(time.perf_counter() - start)
    figures[f"cpu_ratio_taesd_per_vae_{side * 8}"] = statistics.median(times["taesd"]) / statistics.median(times["vae"])
    figures[f"cpu_ms_taesd_decode_{side * 8}"] = 1000 * statistics.median(times["taesd"])
    return figures
