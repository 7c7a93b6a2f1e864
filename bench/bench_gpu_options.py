"""Speed options on the CPU (issue 15 item 5, issue 22 item 3): channels_last and torch.compile of a U-Net.

A mid-size SD-shaped U-Net (cross-attention down/up blocks, 64-128-256 channels, random weights) at
32² latents, batch 2 (one guided step), one thread. Per-step time of eager / channels_last /
`torch.compile` (inductor), interleaved rounds, medians; compile + warm-up time reported apart;
the largest difference of each output from eager's. On a GPU (cuDNN fp16 kernels prefer NHWC,
inductor fuses more) the ratios differ: these are CPU figures, the GPU's are unmeasured here.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch


def _unet(smoke: bool):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    widths = (32, 64) if smoke else (64, 128, 256)
    return UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=widths,
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D",) * (len(widths) - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (len(widths) - 1),
        cross_attention_dim=128,
        attention_head_dim=8,
        norm_num_groups=32,
    ).eval()


def run(smoke: bool = False) -> dict[str, object]:
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    eager = _unet(smoke)
    side = 8 if smoke else 32
    x = torch.randn(2, 4, side, side)
    t = torch.tensor([500, 500])
    context = torch.randn(2, 77, 128)
    nhwc = copy.deepcopy(eager).to(memory_format=torch.channels_last)
    compiled = copy.deepcopy(eager)
    figures: dict[str, object] = {"unet_parameters_m": sum(p.numel() for p in eager.parameters()) / 1e6}
    with torch.inference_mode():
        reference = eager(x, t, encoder_hidden_states=context).sample
        compiled.compile(backend="eager" if smoke else "inductor")  # smoke: the path, not minutes of codegen
        start = time.perf_counter()
        out = compiled(x, t, encoder_hidden_states=context).sample  # compiles
        figures["compile_and_warm_up_seconds"] = time.perf_counter() - start
        figures["compiled_max_abs_diff"] = (out - reference).abs().max().item()
        nhwc_out = nhwc(x, t, encoder_hidden_states=context).sample
        figures["channels_last_max_abs_diff"] = (nhwc_out - reference).abs().max().item()
        times: dict[str, list[float]] = {"eager": [], "channels_last": [], "compiled": []}
        for _ in range(1 if smoke else 7):
            for name, module in (("eager", eager), ("channels_last", nhwc), ("compiled", compiled)):
                start = time.perf_counter()
                module(x, t, encoder_hidden_states=context)
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["eager"])
    figures["eager_step_ms"] = 1000 * base
    figures["channels_last_per_eager"] = statistics.median(times["channels_last"]) / base
    figures["compiled_per_eager"] = statistics.median(times["compiled"]) / base
    return figures
