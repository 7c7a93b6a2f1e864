"""Text-to-image LDM (CompVis/ldm-text2im-large-256): LDMBert context for cross-attention.

The unconditional input of guidance is the embedding of the negative prompt, which is the
empty prompt (CLS, SEP, padding) unless the person typed one, as in the original code.
"""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel
from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertModel
from transformers import AutoTokenizer

from ldm_studio.core.device import DeviceChoice
from ldm_studio.core.errors import ModelFolderError
from ldm_studio.core.families.base import (
    Conditioning,
    ConditionTensors,
    LatentDiffusionModel,
    ProgressFn,
    load_autoencoder,
    load_component,
    load_scheduler_config,
)
from ldm_studio.core.model_folder import ModelInfo
from ldm_studio.core.requests import Condition, GenerationRequest, TextCondition

MAX_TOKENS = 77


class TextToImageModel(LatentDiffusionModel):
    family = "text"

    def __init__(self, *args, bert: LDMBertModel, tokenizer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bert = bert
        self.tokenizer = tokenizer
        self._embedding_cache: dict[str, torch.Tensor] = {}

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> TextToImageModel:
        report = progress or (lambda _msg, _frac: None)
        report("tokenizer", 0.0)
        try:
            tokenizer = AutoTokenizer.from_pretrained(info.path / "tokenizer", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelFolderError(info.path / "tokenizer", f"cannot load the tokenizer: {exc}") from exc
        report("text encoder", 0.1)
        bert = load_component(LDMBertModel, info.path / "bert", choice)
        report("U-Net", 0.4)
        unet = load_component(UNet2DConditionModel, info.path / "unet", choice)
        report("autoencoder", 0.8)
        autoencoder = load_autoencoder(info, choice)
        report("ready", 1.0)
        return cls(info, unet, autoencoder, load_scheduler_config(info), choice, bert=bert, tokenizer=tokenizer)

    @torch.no_grad()
    def embed(self, text: str) -> torch.Tensor:
        """LDMBert's (1, 77, D) context for `text`; the last few are cached (negative prompts repeat)."""
        cached = self._embedding_cache.get(text)
        if cached is not None:
            return cached
        ids = self.tokenizer(
            [text], padding="max_length", max_length=MAX_TOKENS, truncation=True, return_tensors="pt"
        ).input_ids.to(self.device)
        context = self.bert(ids)[0].to(self.dtype)
        if len(self._embedding_cache) >= 8:
            self._embedding_cache.pop(next(iter(self._embedding_cache)))
        self._embedding_cache[text] = context
        return context

    def default_condition(self) -> Condition:
        return TextCondition("")

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        assert isinstance(condition, TextCondition)
        cond = ConditionTensors(context=self.embed(condition.prompt).expand(batch_size, -1, -1))
        uncond = None
        if guided:
            uncond = ConditionTensors(context=self.embed(condition.negative).expand(batch_size, -1, -1))
        return Conditioning(cond, uncond)
