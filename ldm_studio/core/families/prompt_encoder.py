"""Text encoders: the `TextEncoder` protocol, and LDMBert with its BERT tokenizer (text and multi families)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import LDMBertModel
from transformers import AutoTokenizer

from ldm_studio.core.errors import ModelFolderError
from ldm_studio.core.families.base import load_component
from ldm_studio.core.generation.device import DeviceChoice
from ldm_studio.core.models.model_folder import ModelInfo

KEEP = 8  # embeddings kept: the negative prompt and the last prompts repeat from job to job


@runtime_checkable
class TextEncoder(Protocol):
    """What a family needs of a text encoder: a prompt → a (1, L, D) context (LDMBert now, CLIP next)."""

    max_tokens: int

    def embed(self, text: str) -> torch.Tensor: ...


class PromptEncoder:
    """Text → (1, L, D) LDMBert context, L = the model's positions (77 for CompVis' text model).

    As in the original code there is no attention mask: padding tokens are attended to, and
    the null input of guidance is the embedding of "" (CLS, SEP, padding).
    """

    def __init__(self, tokenizer, bert: LDMBertModel, choice: DeviceChoice) -> None:
        self.tokenizer = tokenizer
        self.bert = bert
        self.choice = choice
        self.max_tokens = int(bert.config.max_position_embeddings)
        self._kept: dict[str, torch.Tensor] = {}

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice) -> PromptEncoder:
        try:
            tokenizer = AutoTokenizer.from_pretrained(info.path / "tokenizer", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelFolderError(info.path / "tokenizer", f"cannot load the tokenizer: {exc}") from exc
        return cls(tokenizer, load_component(LDMBertModel, info.path / "bert", choice), choice)

    @torch.no_grad()
    def embed(self, text: str) -> torch.Tensor:
        kept = self._kept.get(text)
        if kept is not None:
            return kept
        ids = self.tokenizer(
            [text], padding="max_length", max_length=self.max_tokens, truncation=True, return_tensors="pt"
        ).input_ids.to(self.choice.device)
        context = self.bert(ids)[0].to(self.choice.dtype)
        if len(self._kept) >= KEEP:
            self._kept.pop(next(iter(self._kept)))
        self._kept[text] = context
        return context
