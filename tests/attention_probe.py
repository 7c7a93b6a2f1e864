"""Record the attention the regional processors ask for, as whole probability matrices (tests only)."""

from __future__ import annotations

import torch


def recording_attend(seen: list[torch.Tensor]):
    """A stand-in for `regions.attend` that computes the same output and appends each call's
    (B, heads, queries, keys) probabilities to `seen` (zero where a subset does not attend)."""

    def attend(query, key, value, subsets):
        logits = (query @ key.transpose(-1, -2)) * query.shape[-1] ** -0.5
        probs = torch.zeros_like(logits)
        for queries, keys in subsets:
            rows = torch.arange(query.shape[2])[slice(None) if queries is None else queries]
            cols = torch.arange(key.shape[2])[keys]
            probs[:, :, rows[:, None], cols[None, :]] = logits[:, :, rows][:, :, :, cols].softmax(-1)
        seen.append(probs)
        return probs @ value

    return attend
