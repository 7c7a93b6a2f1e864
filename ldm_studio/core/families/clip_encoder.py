"""CLIP text encoders (Stable Diffusion's τθ), with prompts longer than 77 tokens split into chunks.

CLIP has 77 positions: BOS, 75 prompt tokens, EOS. As A1111 and InvokeAI do, a longer prompt is
split into chunks of 75 tokens, each wrapped in BOS/EOS and padded the way the tokenizer pads,
encoded separately and concatenated along the sequence; the U-Net's cross-attention takes any
length. Nothing is cut. A prompt of at most 75 tokens is exactly one chunk, identical to what
diffusers' pipelines encode. The prompt and the negative prompt of guidance are padded to the
same chunk count with empty chunks (BOS, EOS, padding), since they share one batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ldm_studio.core.errors import ModelFolderError
from ldm_studio.core.families.base import load_component
from ldm_studio.core.lazy_torch import no_grad

if TYPE_CHECKING:  # torch and transformers load with the model, not with the registry (the sd families import us)
    import torch
    from transformers import CLIPTextModel, CLIPTokenizer

    from ldm_studio.core.generation.device import DeviceChoice

log = logging.getLogger(__name__)

KEEP = 16  # chunk encodings kept: the negative prompt and the last prompts repeat from job to job


@dataclass(frozen=True)
class ChunkOutput:
    """One encoded chunk: the context (1, 77, D) and, for a projection model, the pooled (1, P)."""

    context: torch.Tensor
    pooled: torch.Tensor | None


class ClipTextEncoder:
    """A CLIP tokenizer + text model. `layer` is "last" (SD 1.x/2.x: the final, layer-normed
    hidden state) or "penultimate" (SDXL: the second-to-last hidden state, not normed)."""

    def __init__(self, tokenizer: CLIPTokenizer, model: CLIPTextModel, choice: DeviceChoice, layer: str = "last"):
        if layer not in ("last", "penultimate"):
            raise ValueError(f"layer must be 'last' or 'penultimate', not {layer!r}")
        self.tokenizer = tokenizer
        self.model = model
        self.choice = choice
        self.layer = layer
        self.max_tokens = int(tokenizer.model_max_length)
        self.chunk_tokens = self.max_tokens - 2
        self.use_attention_mask = bool(getattr(model.config, "use_attention_mask", False))
        self._kept: dict[tuple[int, ...], ChunkOutput] = {}

    @classmethod
    def load(
        cls,
        tokenizer_folder,
        model_folder,
        choice: DeviceChoice,
        *,
        layer: str = "last",
        projection: bool = False,
    ) -> ClipTextEncoder:
        from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

        try:
            tokenizer = CLIPTokenizer.from_pretrained(tokenizer_folder, local_files_only=True)
        except (OSError, ValueError, TypeError) as exc:
            raise ModelFolderError(tokenizer_folder, f"cannot load the CLIP tokenizer: {exc}") from exc
        model_cls = CLIPTextModelWithProjection if projection else CLIPTextModel
        return cls(tokenizer, load_component(model_cls, model_folder, choice), choice, layer)

    # --- tokens ----------------------------------------------------------------------------------

    def chunks(self, text: str) -> list[tuple[int, ...]]:
        """The prompt's token ids as chunks of `max_tokens` ids each (at least one)."""
        ids = self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False).input_ids
        pieces = [ids[i : i + self.chunk_tokens] for i in range(0, len(ids), self.chunk_tokens)] or [[]]
        return [self._wrap(piece) for piece in pieces]

    def empty_chunk(self) -> tuple[int, ...]:
        return self._wrap([])

    def _wrap(self, piece: list[int]) -> tuple[int, ...]:
        """BOS + tokens + EOS + padding: what the tokenizer gives for a short prompt."""
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos
        ids = [bos, *piece, eos]
        return tuple(ids + [pad] * (self.max_tokens - len(ids)))

    # --- encoding --------------------------------------------------------------------------------

    @no_grad
    def encode_chunk(self, ids: tuple[int, ...]) -> ChunkOutput:
        kept = self._kept.get(ids)
        if kept is not None:
            return kept
        import torch

        tokens = torch.tensor([ids], device=self.choice.device)
        mask = None
        if self.use_attention_mask:
            pad = self.tokenizer.pad_token_id
            mask = (tokens != pad).long() if pad is not None else torch.ones_like(tokens)
        out = self.model(tokens, attention_mask=mask, output_hidden_states=self.layer == "penultimate")
        if self.layer == "penultimate":
            context = out.hidden_states[-2]
        else:
            context = out[0]
        pooled = getattr(out, "text_embeds", None)
        result = ChunkOutput(context.to(self.choice.dtype), None if pooled is None else pooled.to(self.choice.dtype))
        if len(self._kept) >= KEEP:
            self._kept.pop(next(iter(self._kept)))
        self._kept[ids] = result
        return result

    def encode_chunks(self, chunks: list[tuple[int, ...]], count: int) -> ChunkOutput:
        """The chunks' contexts concatenated along the sequence, padded with empty chunks to `count`;
        the pooled embedding is the first chunk's (as A1111 does for SDXL)."""
        import torch

        padded = list(chunks) + [self.empty_chunk()] * (count - len(chunks))
        outputs = [self.encode_chunk(ids) for ids in padded]
        return ChunkOutput(torch.cat([o.context for o in outputs], dim=1), outputs[0].pooled)

    def embed(self, text: str) -> torch.Tensor:
        """The (1, 77·chunks, D) context of `text` (the `TextEncoder` protocol)."""
        chunks = self.chunks(text)
        return self.encode_chunks(chunks, len(chunks)).context


def chunk_count(encoders: list[ClipTextEncoder], texts: list[str]) -> tuple[int, dict[tuple[int, str], list]]:
    """The common chunk count of several texts over several encoders, and each one's chunks.

    Long prompts are reported in the log (how many tokens, how many chunks), never cut.
    """
    chunks = {(i, text): enc.chunks(text) for i, enc in enumerate(encoders) for text in texts}
    count = max(len(c) for c in chunks.values())
    if count > 1:
        log.info("prompt longer than %d tokens: encoded as %d chunks of 75 tokens", encoders[0].max_tokens, count)
    return count, chunks
