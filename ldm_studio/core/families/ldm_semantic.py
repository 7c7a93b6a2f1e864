"""Semantic-map LDM (CompVis semantic_synthesis256/512): a label map concatenated to the latent.

The map (label indices) is resized to the image size by nearest neighbour, one-hot encoded
over the label set, shrunk by the SpatialRescaler (bilinear ×0.5 per stage, then a 1×1 conv)
to latent size, and concatenated after the latent (`cat([x, c])`, done by `predict_noise`).
The model has no unconditional input, so there is no guidance.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ldm_studio.core.errors import ConversionError, RequestError
from ldm_studio.core.families.base import (
    Conditioning,
    ConditionTensors,
    LatentDiffusionModel,
    ProgressFn,
    load_autoencoder,
    load_scheduler_config,
)
from ldm_studio.core.families.registry import CondStageResult, ConverterHook, FamilySpec, register
from ldm_studio.core.generation.requests import Condition, GenerationRequest, SemanticMapCondition
from ldm_studio.core.lazy_torch import no_grad
from ldm_studio.core.models.model_folder import Defaults, ModelInfo

if TYPE_CHECKING:  # torch loads with the model, not with the registry
    import torch

    from ldm_studio.core.generation.device import DeviceChoice
    from ldm_studio.core.models.cond_stages import SpatialRescaler

DEFAULT_LABEL_SET = "coco-stuff-182"


def resize_labels(label_map: np.ndarray, height: int, width: int) -> torch.Tensor:
    """(H, W) indices → (height, width) int64 by nearest neighbour (pixel centres, no new labels)."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.array(label_map, dtype=np.int64)).to(torch.float64)[None, None]
    if x.shape[-2:] != (height, width):
        x = F.interpolate(x, size=(height, width), mode="nearest-exact")
    return x[0, 0].round().to(torch.int64)


def one_hot_map(labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """(H, W) indices → (1, num_labels, H, W) float32 one-hot, as the training data gave it."""
    import torch
    import torch.nn.functional as F

    return F.one_hot(labels, num_labels).permute(2, 0, 1)[None].to(torch.float32)


class SemanticMapModel(LatentDiffusionModel):
    family = "semantic"

    def __init__(self, *args, rescaler: SpatialRescaler, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rescaler = rescaler

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> SemanticMapModel:
        from ldm_studio.core.families.loading import check_map_encoder, load_encoder, load_unet
        from ldm_studio.core.models.cond_stages import SpatialRescaler

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

    @no_grad
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


LABEL_SETS = {182: "coco-stuff-182", 150: "ade20k-150"}  # by the number of labels a map encoder takes


def _map_channels(config: Any, first_stage: Any) -> int:
    from ldm_studio.core.models.convert import cond_stage

    return cond_stage.build_spatial_rescaler(config.cond_stage, config.path).output_channels


def _check_original(config: Any, unet_layout: Any) -> None:
    from ldm_studio.core.models.convert import cond_stage

    labels = cond_stage.build_spatial_rescaler(config.cond_stage, config.path).in_channels
    if labels not in LABEL_SETS:
        raise ConversionError(
            config.path, f"unsupported setting cond_stage_config.params.in_channels = {labels} (no label set)"
        )


def _convert_rescaler(config: Any, weights: dict[str, Any], file: Path, tokenizer: Any) -> CondStageResult:
    from ldm_studio.core.models.cond_stages import save_cond_stage
    from ldm_studio.core.models.convert import cond_stage
    from ldm_studio.core.models.convert.keys import KeyMap

    module = cond_stage.build_spatial_rescaler(config.cond_stage, config.path)
    keys = KeyMap(weights, "map encoder", file)
    cond_stage.map_spatial_rescaler(keys, module)
    keys.finish(module)
    writers = {"cond_stage": lambda folder: save_cond_stage(module, folder)}
    return CondStageResult(writers, {"label_set": LABEL_SETS[module.in_channels]})


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
        converter=ConverterHook(
            cond_stages=(("ldm.modules.encoders.modules.SpatialRescaler", "concat"),),
            concat_channels=_map_channels,
            concat_name="map",
            check=_check_original,
            convert_cond_stage=_convert_rescaler,
        ),
    )
)
