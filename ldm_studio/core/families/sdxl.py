"""Stable Diffusion XL: two CLIP text encoders, a pooled text embedding and size/crop micro-conditioning.

The context is both encoders' penultimate hidden states side by side (768 + 1280 features on
the real model); the second encoder's projected, pooled embedding and the six "time ids"
(original size, crop top-left, target size) go into the U-Net's added embedding. Those travel
through the loop as `ConditionTensors.extra` and reach the U-Net as `added_cond_kwargs`
through `unet_kwargs`, the family seam. With `force_zeros_for_empty_prompt` (SDXL base's
setting) an empty negative prompt is zeros, as diffusers does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ldm_studio.core.families.base import (
    Conditioning,
    ConditionTensors,
    LatentDiffusionModel,
    ProgressFn,
    load_autoencoder,
    load_component,
    load_scheduler_config,
    region_kwargs,
)
from ldm_studio.core.families.clip_encoder import ClipTextEncoder, chunk_count
from ldm_studio.core.families.registry import DiffusersLayout, FamilySpec, register
from ldm_studio.core.families.sd import few_step_defaults
from ldm_studio.core.generation.control_inputs import ControlNetCondition
from ldm_studio.core.generation.requests import Condition, GenerationRequest, TextCondition
from ldm_studio.core.models.model_folder import Defaults, ModelInfo

if TYPE_CHECKING:  # torch and diffusers load with the model, not with the registry
    import torch

    from ldm_studio.core.generation.device import DeviceChoice

DEFAULTS = Defaults(sampler="dpmpp_2m_karras", steps=30, guidance=5.0, eta=0.0)


def zero_empty_negative(info: ModelInfo) -> bool:
    """The pipeline's `force_zeros_for_empty_prompt` (model_index.json; diffusers' default True)."""
    index = info.path / "model_index.json"
    if not index.is_file():
        return True
    from ldm_studio.core.models.model_folder import read_json

    return bool(read_json(index).get("force_zeros_for_empty_prompt", True))


class StableDiffusionXLModel(LatentDiffusionModel):
    family = "sdxl"
    upcast_vae_in_fp16 = True  # its VAE overflows in fp16 (config: force_upcast); diffusers upcasts it too

    def __init__(self, *args, text: ClipTextEncoder, text_2: ClipTextEncoder, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.text = text
        self.text_2 = text_2
        self.zero_empty_negative = zero_empty_negative(self.info)

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> StableDiffusionXLModel:
        from diffusers import UNet2DConditionModel

        report = progress or (lambda _msg, _frac: None)
        report("text encoders", 0.0)
        text = ClipTextEncoder.load(info.path / "tokenizer", info.path / "text_encoder", choice, layer="penultimate")
        text_2 = ClipTextEncoder.load(
            info.path / "tokenizer_2", info.path / "text_encoder_2", choice, layer="penultimate", projection=True
        )
        report("U-Net", 0.3)
        unet = load_component(UNet2DConditionModel, info.path / "unet", choice)
        report("autoencoder", 0.8)
        autoencoder = load_autoencoder(info, choice)
        report("ready", 1.0)
        return cls(info, unet, autoencoder, load_scheduler_config(info), choice, text=text, text_2=text_2)

    def default_condition(self) -> Condition:
        return TextCondition("")

    def region_context(self, text: str) -> torch.Tensor:
        """Both encoders' tokens side by side, as the prompt's context."""
        import torch

        count, chunks = chunk_count([self.text, self.text_2], [text])
        first = self.text.encode_chunks(chunks[0, text], count).context
        return torch.cat([first, self.text_2.encode_chunks(chunks[1, text], count).context], dim=-1)

    def time_ids(self, request: GenerationRequest) -> torch.Tensor:
        """(1, 6): original size, crop top-left (0, 0) and target size, all the requested size."""
        import torch

        h, w = request.settings.height, request.settings.width
        return torch.tensor([[h, w, 0, 0, h, w]], device=self.device, dtype=self.dtype)

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        import torch

        from ldm_studio.core.families.controlnet import encode_controlled
        from ldm_studio.core.generation.regions import plain_or_regions

        if isinstance(condition, ControlNetCondition):  # the prompt's tensors plus the control image
            return encode_controlled(self, condition, batch_size, guided, request)
        if (regional := plain_or_regions(self, condition, batch_size, guided, request)) is not None:
            return regional
        assert isinstance(condition, TextCondition)
        encoders = [self.text, self.text_2]
        zero_negative = guided and self.zero_empty_negative and condition.negative == ""
        texts = [condition.prompt] if not guided or zero_negative else [condition.prompt, condition.negative]
        count, chunks = chunk_count(encoders, texts)
        time_ids = self.time_ids(request)

        def tensors(text: str) -> ConditionTensors:
            first = self.text.encode_chunks(chunks[0, text], count)
            second = self.text_2.encode_chunks(chunks[1, text], count)
            context = torch.cat([first.context, second.context], dim=-1)
            assert second.pooled is not None
            return self.batched(context, second.pooled, time_ids, batch_size)

        cond = tensors(condition.prompt)
        uncond = None
        if zero_negative:
            assert cond.context is not None  # tensors() always sets it
            uncond = ConditionTensors(
                torch.zeros_like(cond.context),
                extra={"text_embeds": torch.zeros_like(cond.extra["text_embeds"]), "time_ids": cond.extra["time_ids"]},
            )
        elif guided:
            uncond = tensors(condition.negative)
        return Conditioning(cond, uncond)

    @staticmethod
    def batched(context: torch.Tensor, pooled: torch.Tensor, time_ids: torch.Tensor, n: int) -> ConditionTensors:
        return ConditionTensors(
            context=context.expand(n, -1, -1),
            extra={"text_embeds": pooled.expand(n, -1), "time_ids": time_ids.expand(n, -1)},
        )

    def unet_kwargs(self, latents: torch.Tensor, timestep: torch.Tensor, cond: ConditionTensors) -> dict[str, Any]:
        return {
            "encoder_hidden_states": cond.context,
            "added_cond_kwargs": {"text_embeds": cond.extra["text_embeds"], "time_ids": cond.extra["time_ids"]},
            **region_kwargs(cond),
        }


SPEC = register(
    FamilySpec(
        name="sdxl",
        title="prompt → two CLIPs + pooled + size → cross-attention (Stable Diffusion XL)",
        model_class=StableDiffusionXLModel,
        builder=TextCondition,
        conditions=(TextCondition, ControlNetCondition),
        components=("unet", "scheduler", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2"),
        defaults=DEFAULTS,
        regions=True,
        diffusers=(DiffusersLayout("StableDiffusionXLPipeline", DEFAULTS, refine=few_step_defaults),),
    )
)
