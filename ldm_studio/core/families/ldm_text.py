"""Text-to-image LDM (CompVis/ldm-text2im-large-256): LDMBert context for cross-attention.

The unconditional input of guidance is the embedding of the negative prompt, which is the
empty prompt (CLS, SEP, padding) unless the person typed one, as in the original code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ldm_studio.core.errors import ConversionError
from ldm_studio.core.families.base import (
    Conditioning,
    ConditionTensors,
    LatentDiffusionModel,
    ProgressFn,
    load_autoencoder,
    load_component,
    load_scheduler_config,
)
from ldm_studio.core.families.registry import CondStageResult, ConverterHook, DiffusersLayout, FamilySpec, register
from ldm_studio.core.generation.requests import Condition, GenerationRequest, TextCondition
from ldm_studio.core.models.model_folder import Defaults, ModelInfo

if TYPE_CHECKING:  # torch, diffusers and transformers load with the model, not with the registry
    import torch

    from ldm_studio.core.families.prompt_encoder import PromptEncoder
    from ldm_studio.core.generation.device import DeviceChoice


class TextToImageModel(LatentDiffusionModel):
    family = "text"

    def __init__(self, *args, prompts: PromptEncoder, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prompts = prompts
        self.bert = prompts.bert
        self.tokenizer = prompts.tokenizer

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> TextToImageModel:
        from diffusers import UNet2DConditionModel

        from ldm_studio.core.families.prompt_encoder import PromptEncoder

        report = progress or (lambda _msg, _frac: None)
        report("text encoder", 0.0)
        prompts = PromptEncoder.load(info, choice)
        report("U-Net", 0.4)
        unet = load_component(UNet2DConditionModel, info.path / "unet", choice)
        report("autoencoder", 0.8)
        autoencoder = load_autoencoder(info, choice)
        report("ready", 1.0)
        return cls(info, unet, autoencoder, load_scheduler_config(info), choice, prompts=prompts)

    def embed(self, text: str) -> torch.Tensor:
        """LDMBert's (1, 77, D) context for `text` (recent ones are kept: negative prompts repeat)."""
        return self.prompts.embed(text)

    def default_condition(self) -> Condition:
        return TextCondition("")

    def region_context(self, text: str) -> torch.Tensor:
        return self.embed(text)

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        from ldm_studio.core.generation.regions import plain_or_regions  # torch: imported where models run

        if (regional := plain_or_regions(self, condition, batch_size, guided, request)) is not None:
            return regional
        assert isinstance(condition, TextCondition)
        cond = ConditionTensors(context=self.embed(condition.prompt).expand(batch_size, -1, -1))
        uncond = None
        if guided:
            uncond = ConditionTensors(context=self.embed(condition.negative).expand(batch_size, -1, -1))
        return Conditioning(cond, uncond)


def _convert_text_encoder(config: Any, weights: dict[str, Any], file: Path, tokenizer: Any) -> CondStageResult:
    """The original BERTEmbedder → diffusers' LDMBertModel, saved with its BERT tokenizer."""
    from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertConfig, LDMBertModel

    from ldm_studio.core.models.convert import cond_stage
    from ldm_studio.core.models.convert.keys import KeyMap

    bert_config = cond_stage.bert_config(config.cond_stage, config.path)
    module = LDMBertModel(LDMBertConfig(**bert_config))
    keys = KeyMap(weights, "text encoder", file)
    cond_stage.map_bert(keys, bert_config["encoder_layers"])
    keys.finish(module)
    tokenizer_path, tokenizer_obj = tokenizer
    if len(tokenizer_obj) != module.config.vocab_size:
        raise ConversionError(
            tokenizer_path, f"has {len(tokenizer_obj)} tokens; the model's vocabulary has {module.config.vocab_size}"
        )
    return CondStageResult(writers={"bert": module.eval().save_pretrained, "tokenizer": tokenizer_obj.save_pretrained})


SPEC = register(
    FamilySpec(
        name="text",
        title="prompt → LDMBert → cross-attention",
        model_class=TextToImageModel,
        builder=TextCondition,
        conditions=(TextCondition,),
        components=("unet", "scheduler", "bert", "tokenizer"),
        defaults=Defaults(sampler="ddim", steps=50, guidance=5.0, eta=0.0),
        regions=True,
        diffusers=(DiffusersLayout("LDMTextToImagePipeline", Defaults("ddim", 50, 5.0, 0.0)),),
        converter=ConverterHook(
            cond_stages=(("ldm.modules.encoders.modules.BERTEmbedder", "crossattn"),),
            cross_attention=True,
            convert_cond_stage=_convert_text_encoder,
            needs_tokenizer=True,
        ),
    )
)
