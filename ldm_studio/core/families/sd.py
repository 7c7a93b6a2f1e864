"""Stable Diffusion 1.x / 2.x: a KL-f8 LDM whose τθ is a CLIP text encoder.

The same loop as every family: the context is CLIP's final hidden state (chunked past 77
tokens, see `clip_encoder`), the unconditional input of guidance is the negative prompt's
(the empty prompt's unless one is typed), and ε- or v-prediction comes from the scheduler
config's `prediction_type`, which every sampler is built from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ldm_studio.core.families.base import (
    Conditioning,
    ConditionTensors,
    LatentDiffusionModel,
    ProgressFn,
    load_autoencoder,
    load_component,
    load_scheduler_config,
)
from ldm_studio.core.families.clip_encoder import ClipTextEncoder, chunk_count
from ldm_studio.core.families.registry import DiffusersLayout, FamilySpec, register
from ldm_studio.core.generation.control_inputs import ControlNetCondition
from ldm_studio.core.generation.requests import Condition, GenerationRequest, TextCondition
from ldm_studio.core.models.model_folder import Defaults, ModelInfo, read_json

if TYPE_CHECKING:
    import torch

    from ldm_studio.core.generation.device import DeviceChoice

DEFAULTS = Defaults(sampler="dpmpp_2m_karras", steps=25, guidance=7.5, eta=0.0)


def few_step_defaults(root: Path, defaults: Defaults) -> Defaults:
    """A repo whose own scheduler config uses "trailing" timestep spacing is a few-step distilled
    model (SD-Turbo, SDXL-Turbo, SDXL-Lightning ship it): its sampler with that spacing, 4 steps
    (the safe end of their 1-4) and guidance off. Any other repo keeps the family's defaults."""
    file = root / "scheduler" / "scheduler_config.json"
    if not file.is_file():
        return defaults
    config = read_json(file)
    if config.get("timestep_spacing") != "trailing":
        return defaults
    ancestral = config.get("_class_name") == "EulerAncestralDiscreteScheduler"
    return Defaults(sampler="euler_a_trailing" if ancestral else "euler_trailing", steps=4, guidance=1.0, eta=0.0)


class StableDiffusionModel(LatentDiffusionModel):
    family = "sd"

    def __init__(self, *args, text: ClipTextEncoder, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.text = text

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> StableDiffusionModel:
        from diffusers import UNet2DConditionModel

        report = progress or (lambda _msg, _frac: None)
        report("text encoder", 0.0)
        text = ClipTextEncoder.load(info.path / "tokenizer", info.path / "text_encoder", choice)
        report("U-Net", 0.3)
        unet = load_component(UNet2DConditionModel, info.path / "unet", choice)
        report("autoencoder", 0.8)
        autoencoder = load_autoencoder(info, choice)
        report("ready", 1.0)
        return cls(info, unet, autoencoder, load_scheduler_config(info), choice, text=text)

    @property
    def prediction_type(self) -> str:
        return str(self.scheduler_config.get("prediction_type", "epsilon"))

    def default_condition(self) -> Condition:
        return TextCondition("")

    def region_context(self, text: str) -> torch.Tensor:
        return self.text.embed(text)

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        from ldm_studio.core.families.controlnet import encode_controlled  # torch: imported where models run
        from ldm_studio.core.generation.regions import plain_or_regions

        if isinstance(condition, ControlNetCondition):  # the prompt's tensors plus the control image
            return encode_controlled(self, condition, batch_size, guided, request)
        if (regional := plain_or_regions(self, condition, batch_size, guided, request)) is not None:
            return regional
        assert isinstance(condition, TextCondition)
        texts = [condition.prompt, condition.negative] if guided else [condition.prompt]
        count, chunks = chunk_count([self.text], texts)
        cond = self.text.encode_chunks(chunks[0, condition.prompt], count).context
        uncond = None
        if guided:
            negative = self.text.encode_chunks(chunks[0, condition.negative], count).context
            uncond = ConditionTensors(context=negative.expand(batch_size, -1, -1))
        return Conditioning(ConditionTensors(context=cond.expand(batch_size, -1, -1)), uncond)


SPEC = register(
    FamilySpec(
        name="sd",
        title="prompt → CLIP → cross-attention (Stable Diffusion 1.x/2.x)",
        model_class=StableDiffusionModel,
        builder=TextCondition,
        conditions=(TextCondition, ControlNetCondition),
        components=("unet", "scheduler", "text_encoder", "tokenizer"),
        defaults=DEFAULTS,
        regions=True,
        diffusers=(DiffusersLayout("StableDiffusionPipeline", DEFAULTS, refine=few_step_defaults),),
    )
)
