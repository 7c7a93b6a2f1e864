"""A diffusers ControlNet on a cross-attention U-Net (the `sd` and `sdxl` families), in the one loop.

It computes what diffusers' `StableDiffusionControlNetPipeline` computes (guess mode off):

- the control image is the condition's rendering at the request's size, uint8 / 255 as float
  ([0, 1], not normalised), one copy per image and the same for the unconditional half of
  classifier-free guidance (the pipeline duplicates it);
- at step i of n the ControlNet acts with `scale * keep`, where keep is 0 when i/n < start or
  (i+1)/n > end (the pipeline's `controlnet_keep`); its down-block and mid-block residuals go to
  the U-Net as `down_block_additional_residuals` / `mid_block_additional_residual`;
- the ControlNet sees the same scaled latents, timestep, text context and (SDXL) added
  conditioning as the U-Net; with region prompts its attention is masked by region as the U-Net's
  is (`LatentDiffusionModel.attention_modules` names it).

Where keep is 0 the ControlNet is not run at all: its residuals would be exact zeros, and adding
zeros changes no value, so the result is the pipeline's at less cost.

The control image travels in `ConditionTensors.extra` (batched with the rest), the step in
`ConditionTensors.step`, so the sampling loop knows nothing of ControlNets. The loaded ControlNet
is kept per model (one at a time: attaching another one replaces it).
"""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import torch

from ldm_studio.core.errors import RequestError
from ldm_studio.core.families.base import Conditioning, ConditionTensors, LatentDiffusionModel, load_component
from ldm_studio.core.generation.control_inputs import ControlNetCondition, ControlSpec
from ldm_studio.core.generation.requests import GenerationRequest

CONTROL_IMAGE = "controlnet_cond"
CONTROL_SCALE = "controlnet_scale"  # (B, 3) float64 on the CPU: scale, start, end per row

_LOADED: weakref.WeakKeyDictionary[LatentDiffusionModel, tuple[str, Any]] = weakref.WeakKeyDictionary()


def attached_controlnet(model: LatentDiffusionModel, spec: ControlSpec) -> Any:
    """The model's ControlNet for `spec`, loaded on first use (and checked against the U-Net)."""
    from diffusers import ControlNetModel

    key = str(Path(spec.path).resolve())
    held = _LOADED.get(model)
    if held is not None and held[0] == key:
        return held[1]
    _LOADED.pop(model, None)  # one at a time: free the previous one before loading the next
    net = load_component(ControlNetModel, Path(spec.path), model.choice)
    check_fits(net.config, model.unet.config, spec.name)
    _LOADED[model] = (key, net)
    return net


def loaded_controlnet(model: LatentDiffusionModel) -> Any:
    """The ControlNet attached to `model`, or None (region prompts mask its attention as the U-Net's)."""
    held = _LOADED.get(model)
    return None if held is None else held[1]


def check_fits(control: Any, unet: Any, name: str) -> None:
    """RequestError (one line) when a ControlNet was made for another base model than this U-Net."""
    mine, theirs = unet.get("cross_attention_dim"), control.get("cross_attention_dim")
    if mine != theirs:
        raise RequestError(
            "controlnet",
            f"{name}: its cross-attention width is {theirs}, this model's is {mine} "
            "(a ControlNet for another base model)",
        )
    if tuple(unet.get("block_out_channels", ())) != tuple(control.get("block_out_channels", ())):
        raise RequestError(
            "controlnet",
            f"{name}: its blocks {tuple(control.get('block_out_channels', ()))} do not match this U-Net's "
            f"{tuple(unet.get('block_out_channels', ()))} (a ControlNet for another base model)",
        )
    if unet.get("addition_embed_type") != control.get("addition_embed_type"):
        raise RequestError(
            "controlnet", f"{name}: made for another kind of base model (its added conditioning differs)"
        )


def control_pixels(condition: ControlNetCondition, request: GenerationRequest) -> torch.Tensor:
    """(1, 3, H, W) float32 in [0, 1]: the control image as diffusers' control image processor makes it."""
    settings = request.settings
    image = condition.control_image(settings.width, settings.height)
    return torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255.0


def encode_controlled(
    model: LatentDiffusionModel,
    condition: ControlNetCondition,
    batch_size: int,
    guided: bool,
    request: GenerationRequest,
) -> Conditioning:
    """The base condition's tensors plus the control image and the ControlNet's schedule, both halves of guidance."""
    attached_controlnet(model, condition.control)
    conditioning = model.encode(condition.base, batch_size, guided, request)
    image = control_pixels(condition, request).to(model.device, model.dtype).expand(batch_size, -1, -1, -1)
    spec = condition.control
    schedule = torch.tensor([[spec.scale, spec.start, spec.end]], dtype=torch.float64).expand(batch_size, -1)
    for tensors in (conditioning.cond, conditioning.uncond):
        if tensors is not None:
            tensors.extra[CONTROL_IMAGE] = image
            tensors.extra[CONTROL_SCALE] = schedule
    return conditioning


def control_scale(cond: ConditionTensors) -> float:
    """`scale * keep` at the conditioning's step, as the pipeline's `controlnet_keep` has it."""
    scale, start, end = (float(v) for v in cond.extra[CONTROL_SCALE][0])
    if cond.step is None:
        return scale
    i, n = cond.step
    keep = 1.0 - float(i / n < start or (i + 1) / n > end)
    return scale * keep


def control_residuals(
    model: LatentDiffusionModel, latents: torch.Tensor, timestep: torch.Tensor, cond: ConditionTensors, kwargs: dict
) -> dict[str, Any]:
    """The U-Net keywords that add the ControlNet's residuals ({} where the ControlNet does not act)."""
    if CONTROL_IMAGE not in cond.extra:
        return {}
    held = _LOADED.get(model)
    if held is None:
        raise RuntimeError("a control image without its ControlNet: encode_controlled attaches it first")
    scale = control_scale(cond)
    if scale == 0.0:
        return {}
    extra: dict[str, Any] = {}
    for key in ("added_cond_kwargs", "cross_attention_kwargs"):  # SDXL's added inputs; region masks
        if key in kwargs:
            extra[key] = kwargs[key]
    down, mid = held[1](
        latents,
        timestep,
        encoder_hidden_states=kwargs.get("encoder_hidden_states"),
        controlnet_cond=cond.extra[CONTROL_IMAGE],
        conditioning_scale=scale,
        return_dict=False,
        **extra,
    )
    return {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}


def detach_controlnet(model: LatentDiffusionModel) -> None:
    """Free the model's ControlNet (the window's "none")."""
    _LOADED.pop(model, None)
