"""Semantic-map LDM (CompVis semantic_synthesis256/512): a label map concatenated to the latent.

The map (label indices) is resized to the image size by nearest neighbour, one-hot encoded
over the label set, shrunk by the SpatialRescaler (bilinear ×0.5 per stage, then a 1×1 conv)
to latent size, and concatenated after the latent (`cat([x, c])`, done by `predict_noise`).
The model has no unconditional input, so there is no guidance.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ldm_studio.core.cond_stages import SpatialRescaler
from ldm_studio.core.device import DeviceChoice
from ldm_studio.core.errors import RequestError
from ldm_studio.core.families.base import (
    Conditioning,
    ConditionTensors,
    LatentDiffusionModel,
    ProgressFn,
    load_autoencoder,
    load_scheduler_config,
)
from ldm_studio.core.families.loading import check_map_encoder, load_encoder, load_unet
from ldm_studio.core.families.registry import FamilySpec, register
from ldm_studio.core.model_folder import Defaults, ModelInfo
from ldm_studio.core.requests import Condition, GenerationRequest, SemanticMapCondition

DEFAULT_LABEL_SET = "coco-stuff-182"


def resize_labels(label_map: np.ndarray, height: int, width: int) -> torch.Tensor:
    """(H, W) indices → (height, width) int64 by nearest neighbour (pixel centres, no new labels)."""
    x = torch.from_numpy(np.array(label_map, dtype=np.int64)).to(torch.float64)[None, None]
    if x.shape[-2:] != (height, width):
        x = F.interpolate(x, size=(height, width), mode="nearest-exact")
    return x[0, 0].round().to(torch.int64)


def one_hot_map(labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """(H, W) indices → (1, num_labels, H, W) float32 one-hot, as the training data gave it."""
    return F.one_hot(labels, num_labels).permute(2, 0, 1)[None].to(torch.float32)


class SemanticMapModel(LatentDiffusionModel):
    family = "semantic"

    def __init__(self, *args, rescaler: SpatialRescaler, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rescaler = rescaler

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> SemanticMapModel:
        report = progress or (lambda _msg, _frac: None)
        report("map encoder", 0.0)
        rescaler = load_encoder(info, choice, "SpatialRescaler")
        assert isinstance(rescaler, SpatialRescaler)
        report("U-Net", 0.1)
        unet = load_unet(info, choice, ("UNet2DModel",))
        check_map_encoder(info, rescaler, unet, info.path / "cond_stage")
        report("autoencoder", 0.7)
        autoencoder = load_autoencoder(info, choice)
        report("ready", 1.0)
        return cls(info, unet, autoencoder, load_scheduler_config(info), choice, rescaler=rescaler)

    @property
    def has_unconditional(self) -> bool:
        return False

    @property
    def label_set(self) -> str:
        return self.info.label_set or DEFAULT_LABEL_SET

    @property
    def num_labels(self) -> int:
        return self.rescaler.in_channels

    def default_condition(self) -> Condition:
        return SemanticMapCondition(np.zeros((8, 8), dtype=np.int64), self.label_set)

    @torch.no_grad()
    def map_features(self, label_map: np.ndarray, height: int, width: int) -> torch.Tensor:
        """(1, C, height/f, width/f) features the U-Net sees next to the latent."""
        labels = resize_labels(label_map, height, width).to(self.device)
        features = self.rescaler(one_hot_map(labels, self.num_labels))
        return features.to(self.dtype)

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        if not isinstance(condition, SemanticMapCondition):
            raise RequestError(
                "condition", f"a semantic model takes a SemanticMapCondition, not {type(condition).__name__}"
            )
        if condition.label_set != self.label_set:
            raise RequestError("map", f"is in label set {condition.label_set!r}; this model uses {self.label_set!r}")
        label_map = condition.label_map
        top = int(label_map.max())
        if top >= self.num_labels:
            count = int((label_map >= self.num_labels).sum())
            raise RequestError(
                "map",
                f"{count} pixel(s) hold label values up to {top}, outside the {self.num_labels} labels of "
                f"{self.label_set} (0..{self.num_labels - 1})",
            )
        s = request.settings
        features = self.map_features(label_map, s.height, s.width)
        return Conditioning(ConditionTensors(concat=features.expand(batch_size, -1, -1, -1)))


SPEC = register(
    FamilySpec(
        name="semantic",
        title="semantic map → SpatialRescaler → concatenated",
        model_class=SemanticMapModel,
        builder=SemanticMapCondition,
        conditions=(SemanticMapCondition,),
        components=("unet", "scheduler", "cond_stage"),
        defaults=Defaults(sampler="ddim", steps=200, guidance=1.0, eta=1.0),
        uses_map=True,
    )
)
