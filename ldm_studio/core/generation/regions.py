"""A prompt per painted region: region masks and the attention processors that keep each text in its region.

The method is regional prompting as InvokeAI builds it (see docs/regions.md): the global prompt
and every region's text are encoded separately by the family's text encoder and concatenated
along the token axis; in every cross-attention layer (`attn2`) a region's tokens get zero
attention from the queries outside its mask (what a -inf logit gives), the mask max-pooled to
that layer's token grid; the global tokens are attended to everywhere. Self-attention (`attn1`) is
kept within regions as well (`ISOLATE`; our addition, see the docs). Queries are grouped by the
regions they lie in and each group attends to its own keys with a plain softmax: the masked
softmax exactly, without computing masked logits. The unconditional half of guidance keeps its
own tokens and attends as it would without regions (the padding that evens the two halves'
lengths is cut off).

Everything travels through the family seam: `encode_regions` returns `ConditionTensors` whose
`extra` holds the masks and each token's region (batched for guidance like any extra input), and
`region_kwargs` turns them into the U-Net call's `cross_attention_kwargs`. The wrapping
processors are installed only while a regional request runs (`use_regions`); a plain request
runs diffusers' own processors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

from ldm_studio.core.generation.region_types import RegionalCondition

if TYPE_CHECKING:
    from ldm_studio.core.families.base import Conditioning, ConditionTensors, LatentDiffusionModel
    from ldm_studio.core.generation.requests import Condition, GenerationRequest

MASKS = "region_masks"  # extra: (B, R, h, w) float, each region's share of each latent pixel
TOKENS = "region_tokens"  # extra: (B, L) long, the region of each context token (GLOBAL, NOWHERE or 0..R-1)
GLOBAL = -1  # a token every query attends to (the global prompt, the class token)
NOWHERE = -2  # padding that evens the lengths of guidance's halves: attended to by no query
ISOLATE = True  # self-attention within regions too (a region's text then changes its region, not the rest)
INSTALLED = "_ldm_studio_regions"  # attribute set on a U-Net whose processors are wrapped


# --- masks -------------------------------------------------------------------------------------------


def label_masks(label_map: np.ndarray, indices: list[int], height: int, width: int) -> torch.Tensor:
    """(R, height, width) float: the share of each latent pixel painted with label `indices[r]`."""
    labels = torch.from_numpy(np.array(label_map))  # a copy: condition maps are read-only
    one_hot = torch.stack([(labels == index).float() for index in indices])
    return F.adaptive_avg_pool2d(one_hot[None], (height, width))[0]


def grid_of(query_length: int, height: int, width: int) -> tuple[int, int]:
    """The (h, w) token grid of an attention layer with `query_length` queries on a (height, width) latent:
    each U-Net level halves the grid, rounding up (stride-2 convolutions with padding 1)."""
    h, w = height, width
    for _ in range(16):
        if h * w == query_length:
            return h, w
        h, w = (h + 1) // 2, (w + 1) // 2
    raise ValueError(f"no level of a {height}x{width} latent has {query_length} positions")


Subset = tuple[torch.Tensor | slice | None, torch.Tensor | slice]  # (query positions, None: all; key positions)


@dataclass(frozen=True)
class Group:
    """Batch rows that attend alike (a slice: a view, no copy), and how: each subset's queries attend
    to that subset's keys only (a softmax over them; every other key gets zero probability)."""

    rows: slice
    length: int | None  # the keys are the first `length` context tokens (the rest is padding); None: all
    subsets: list[Subset]


class RegionAttention:
    """What every attention layer gets for one U-Net call: which keys each query may attend to,
    worked out once per layer resolution (the layers of one level share it) and kept for the run.

    Queries are grouped by the set of regions they lie in (a few per resolution: one per region,
    plus the cells on borders, which the max-pooling puts in both); a group attends to the global
    tokens and its regions' tokens (cross-attention) or to the cells of its regions (self-attention).
    That is the masked softmax exactly, without computing the masked logits: a regional step costs
    little more than a plain one (bench/bench_regions.py).
    """

    def __init__(self, masks: torch.Tensor, tokens: torch.Tensor, isolate: bool = False) -> None:
        self.masks = masks  # (B, R, h, w)
        self.isolate = isolate  # self-attention stays within each region too
        self.tokens = tokens  # (B, L)
        self._inside: dict[int, torch.Tensor] = {}
        self._groups: dict[tuple[str, int], list[Group]] = {}

    def inside(self, query_length: int) -> torch.Tensor:
        """(B, R, N) bool: the cells of an attention layer's grid in each region. As InvokeAI does, each
        U-Net level max-pools the level above (2x2, rounding up like the U-Net), so no region is lost."""
        kept = self._inside.get(query_length)
        if kept is not None:
            return kept
        # a latent pixel belongs to the label painted on most of it, so every pixel is in one region
        owner = self.masks.argmax(dim=1)
        level = F.one_hot(owner, self.masks.shape[1]).permute(0, 3, 1, 2).float()
        height, width = grid_of(query_length, level.shape[2], level.shape[3])
        while level.shape[2] != height or level.shape[3] != width:
            level = F.max_pool2d(level, kernel_size=2, stride=2, ceil_mode=True)
        result = level.flatten(2) > 0
        self._inside[query_length] = result
        return result

    def groups(self, kind: str, query_length: int) -> list[Group]:
        """The batch rows that attend alike and their subsets. Rows without region tokens (guidance's
        unconditional half) attend as without regions: to all their own tokens (the padding that evens
        the halves' lengths is cut off) or, in self-attention, to every cell."""
        key = (kind, query_length)
        kept = self._groups.get(key)
        if kept is not None:
            return kept
        regional = (self.tokens >= 0).any(dim=1).tolist()
        lengths = (self.tokens != NOWHERE).sum(dim=1).tolist()
        runs: list[list] = []  # [start, stop, length, regional]: consecutive rows alike
        for row, (length, masked) in enumerate(zip(lengths, regional, strict=True)):
            if runs and runs[-1][2:] == [length, masked]:
                runs[-1][1] = row + 1
            else:
                runs.append([row, row + 1, length, masked])
        groups = []
        for start, stop, length, masked in runs:
            keys = length if kind == "cross" else None
            if not masked:
                groups.append(Group(slice(start, stop), keys, [(None, slice(None))]))
            else:  # a regional condition's rows share its map and tokens: the first row's subsets serve all
                groups.append(Group(slice(start, stop), keys, self._subsets(kind, query_length, start)))
        self._groups[key] = groups
        return groups

    def _subsets(self, kind: str, query_length: int, row: int) -> list[Subset]:
        inside = self.inside(query_length)[row]  # (R, N)
        bits = (inside.long() << torch.arange(inside.shape[0], device=inside.device)[:, None]).sum(0)  # (N,)
        tokens = self.tokens[row]
        subsets: list[Subset] = []
        for code in torch.unique(bits).tolist():
            member = torch.tensor([(code >> r) & 1 == 1 for r in range(inside.shape[0])], device=inside.device)
            queries = torch.nonzero(bits == code).flatten()
            if kind == "cross":
                allowed = (tokens == GLOBAL) | ((tokens >= 0) & member[tokens.clamp(min=0)])
            else:
                allowed = inside[member].any(dim=0)
            subsets.append((_as_slice(queries), _as_slice(torch.nonzero(allowed).flatten())))
        if len(subsets) == 1:  # one region over everything: every query, the same keys
            subsets = [(None, subsets[0][1])]
        return subsets


def _as_slice(positions: torch.Tensor) -> torch.Tensor | slice:
    """Consecutive positions as a slice (indexing by it is a view, not a copy: bands of a layout are)."""
    first, count = int(positions[0]), len(positions)
    if int(positions[-1]) - first + 1 == count:
        return slice(first, first + count)
    return positions


def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, subsets: list[Subset]) -> torch.Tensor:
    """Scaled dot-product attention where each subset's queries attend to its keys only."""
    if len(subsets) == 1 and subsets[0][0] is None:
        keys = subsets[0][1]
        return F.scaled_dot_product_attention(query, key[:, :, keys], value[:, :, keys])
    out = query.new_empty((*query.shape[:-1], value.shape[-1]))
    for queries, keys in subsets:
        out[:, :, queries] = F.scaled_dot_product_attention(query[:, :, queries], key[:, :, keys], value[:, :, keys])
    return out


class RegionalAttnProcessor:
    """Wraps a layer's own processor: with `regions` (cross-attention only) the masked attention,
    otherwise the wrapped processor as it is."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        regions: RegionAttention | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        # the families' U-Net calls give no attention mask of their own; one given keeps the plain path
        plain = attention_mask is not None or hidden_states.ndim != 3
        if regions is None or plain:
            return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
        if not attn.is_cross_attention:
            if not regions.isolate:
                return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
            return masked_attention(attn, hidden_states, hidden_states, regions.groups("self", hidden_states.shape[1]))
        assert encoder_hidden_states is not None
        groups = regions.groups("cross", hidden_states.shape[1])
        return masked_attention(attn, hidden_states, encoder_hidden_states, groups)


def masked_attention(
    attn: Any, hidden_states: torch.Tensor, context: torch.Tensor, groups: list[Group]
) -> torch.Tensor:
    """diffusers' `AttnProcessor2_0` on 3-D hidden states, each group of rows with its keys and mask."""
    residual = hidden_states
    batch = hidden_states.shape[0]
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    if attn.is_cross_attention and attn.norm_cross:
        context = attn.norm_encoder_hidden_states(context)
    elif not attn.is_cross_attention:
        context = hidden_states
    query = attn.to_q(hidden_states)
    head_dim = query.shape[-1] // attn.heads
    query = query.view(batch, -1, attn.heads, head_dim).transpose(1, 2)
    if attn.norm_q is not None:
        query = attn.norm_q(query)
    parts = []
    for group in groups:  # keys and values of each group's own tokens (no projections of padding)
        rows = context[group.rows] if group.length is None else context[group.rows, : group.length]
        key = attn.to_k(rows).view(len(rows), -1, attn.heads, head_dim).transpose(1, 2)
        value = attn.to_v(rows).view(len(rows), -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        parts.append(attend(query[group.rows], key, value, group.subsets))
    out = torch.cat(parts) if len(parts) > 1 else parts[0]
    out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
    out = attn.to_out[1](attn.to_out[0](out))
    if attn.residual_connection:
        out = out + residual
    return out / attn.rescale_output_factor


def use_regions(unet: torch.nn.Module, active: bool) -> None:
    """Wrap every attention processor of `unet` (active) or restore diffusers' own (not active).

    Self-attention layers are wrapped too, only so that they take the `regions` keyword quietly."""
    installed = getattr(unet, INSTALLED, False)
    if installed == active or not hasattr(unet, "set_attn_processor"):
        return
    processors: dict[str, Any] = unet.attn_processors  # type: ignore[assignment]
    if active:
        unet.set_attn_processor({name: RegionalAttnProcessor(p) for name, p in processors.items()})  # type: ignore[operator]
    else:
        unet.set_attn_processor(  # type: ignore[operator]
            {name: p.inner if isinstance(p, RegionalAttnProcessor) else p for name, p in processors.items()}
        )
    setattr(unet, INSTALLED, active)


# --- the family seam ---------------------------------------------------------------------------------


def plain_or_regions(
    model: LatentDiffusionModel, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest
) -> Conditioning | None:
    """The regional conditioning when `condition` has regions (None otherwise, the family encodes it);
    the U-Net's processors are set for what follows. Every family's `encode` starts with this."""
    if not isinstance(condition, RegionalCondition):
        for module in model.attention_modules():
            use_regions(module, False)
        return None
    conditioning = encode_regions(model, condition, batch_size, guided, request)
    for module in model.attention_modules():
        use_regions(module, True)
    return conditioning


def encode_regions(
    model: LatentDiffusionModel, condition: RegionalCondition, batch_size: int, guided: bool, request: GenerationRequest
) -> Conditioning:
    """The family's conditioning of the global condition, its context extended by each region's
    tokens (`model.region_context`), with the masks and each token's region in `extra`."""
    from ldm_studio.core.families.base import Conditioning

    plain = model.encode(condition.base, batch_size, guided, request)
    cond = plain.cond
    if cond.context is None:
        raise ValueError(f"a {model.family!r} model has no cross-attention context for region prompts")
    parts = [cond.context]
    token_region = [torch.full((cond.context.shape[1],), GLOBAL, dtype=torch.long)]
    for r, (_name, text) in enumerate(condition.regions):
        tokens = model.region_context(text).to(cond.context.dtype)
        parts.append(tokens.expand(batch_size, -1, -1))
        token_region.append(torch.full((tokens.shape[1],), r, dtype=torch.long))
    _, height, width = model.latent_shape(request)
    masks = label_masks(condition.semantic.label_map, condition.region_indices(), height, width)
    masks = masks[None].expand(batch_size, -1, -1, -1).to(model.device)
    context = torch.cat(parts, dim=1)
    tokens_c = torch.cat(token_region)
    if plain.uncond is None:
        return Conditioning(_with_regions(cond, context, tokens_c, masks, batch_size))
    assert plain.uncond.context is not None
    u_context = plain.uncond.context
    tokens_u = torch.full((u_context.shape[1],), GLOBAL, dtype=torch.long)
    length = max(context.shape[1], u_context.shape[1])
    context, tokens_c = _pad(context, tokens_c, length)
    u_context, tokens_u = _pad(u_context, tokens_u, length)
    return Conditioning(
        _with_regions(cond, context, tokens_c, masks, batch_size),
        _with_regions(plain.uncond, u_context, tokens_u, masks, batch_size),
    )


def _pad(context: torch.Tensor, tokens: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`context` and its tokens' regions padded to `length` tokens that no query attends to."""
    missing = length - context.shape[1]
    if missing == 0:
        return context, tokens
    zeros = context.new_zeros(context.shape[0], missing, context.shape[2])
    return torch.cat([context, zeros], dim=1), torch.cat([tokens, torch.full((missing,), NOWHERE, dtype=torch.long)])


def _with_regions(
    tensors: ConditionTensors, context: torch.Tensor, tokens: torch.Tensor, masks: torch.Tensor, batch_size: int
) -> ConditionTensors:
    from ldm_studio.core.families.base import ConditionTensors

    extra = {**tensors.extra, MASKS: masks, TOKENS: tokens[None].expand(batch_size, -1).to(context.device)}
    return ConditionTensors(context=context, concat=tensors.concat, extra=extra)


def region_kwargs(cond: ConditionTensors) -> dict[str, Any]:
    """The U-Net call's `cross_attention_kwargs` for regional conditioning (empty for a plain one)."""
    if TOKENS not in cond.extra:
        return {}
    return {"cross_attention_kwargs": {"regions": region_attention(cond.extra[MASKS], cond.extra[TOKENS])}}


_KEPT: list[RegionAttention] = []  # the last few, so every step of a run reuses its masks per resolution


def region_attention(masks: torch.Tensor, tokens: torch.Tensor) -> RegionAttention:
    """The `RegionAttention` of these very tensors (kept: a run passes the same ones every step; holding
    them keeps their memory from being reused by other tensors while they are kept)."""
    for kept in _KEPT:
        if kept.masks is masks and kept.tokens is tokens and kept.isolate == ISOLATE:
            return kept
    made = RegionAttention(masks, tokens, ISOLATE)
    _KEPT.insert(0, made)
    del _KEPT[4:]
    return made
