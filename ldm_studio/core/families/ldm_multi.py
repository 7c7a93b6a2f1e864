"""Multi-input LDM (the demo model): caption, class and semantic map, each optional.

The model was trained with each input dropped at random, so a missing one is replaced by
the null input it was trained with: the empty prompt, the "no class" embedding row, an
all-zero one-hot map (which the bias-free SpatialRescaler turns into zeros). The context is
[class token, text tokens]; the map features are concatenated after the latent. Guidance's
unconditional input drops all three (a negative prompt replaces the empty prompt).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ldm_studio.core.errors import ModelFolderError, RequestError
from ldm_studio.core.families.base import (
    Conditioning,
    ConditionTensors,
    LatentDiffusionModel,
    ProgressFn,
    load_autoencoder,
    load_component,
    load_scheduler_config,
)
from ldm_studio.core.families.registry import FamilySpec, register
from ldm_studio.core.generation.requests import (
    ClassCondition,
    CombinedCondition,
    Condition,
    GenerationRequest,
    SemanticMapCondition,
    TextCondition,
    UnconditionalCondition,
)
from ldm_studio.core.lazy_torch import no_grad
from ldm_studio.core.models.model_folder import Defaults, ModelInfo

if TYPE_CHECKING:  # torch, diffusers and the encoders load with the model, not with the registry
    import numpy as np
    import torch

    from ldm_studio.core.families.prompt_encoder import PromptEncoder
    from ldm_studio.core.generation.device import DeviceChoice
    from ldm_studio.core.models.cond_stages import ClassEmbedder, SpatialRescaler

DEFAULT_LABEL_SET = "coco-stuff-182"


class MultiConditionModel(LatentDiffusionModel):
    family = "multi"

    def __init__(
        self, *args, prompts: PromptEncoder, embedder: ClassEmbedder, rescaler: SpatialRescaler, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.prompts = prompts
        self.bert = prompts.bert
        self.tokenizer = prompts.tokenizer
        self.embedder = embedder
        self.rescaler = rescaler
        self.max_tokens = prompts.max_tokens

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> MultiConditionModel:
        from diffusers import UNet2DConditionModel

        from ldm_studio.core.families.loading import check_map_encoder
        from ldm_studio.core.families.prompt_encoder import PromptEncoder
        from ldm_studio.core.models.cond_stages import load_cond_stage

        report = progress or (lambda _msg, _frac: None)
        report("conditioning encoders", 0.0)
        embedder = load_cond_stage(info.path / "cond_stage" / "class", "ClassEmbedder").to(choice.device)
        rescaler = load_cond_stage(info.path / "cond_stage" / "map", "SpatialRescaler").to(choice.device)
        if info.null_class is None or not 0 <= info.null_class < embedder.n_classes:
            raise ModelFolderError(info.path, f"null_class must be a row of the {embedder.n_classes}-row embedding")
        report("text encoder", 0.1)
        prompts = PromptEncoder.load(info, choice)
        report("U-Net", 0.4)
        unet = load_component(UNet2DConditionModel, info.path / "unet", choice)
        check_map_encoder(info, rescaler, unet, info.path / "cond_stage" / "map")
        report("autoencoder", 0.8)
        autoencoder = load_autoencoder(info, choice)
        report("ready", 1.0)
        return cls(
            info,
            unet,
            autoencoder,
            load_scheduler_config(info),
            choice,
            prompts=prompts,
            embedder=embedder,
            rescaler=rescaler,
        )

    # --- facts -----------------------------------------------------------------------------------

    @property
    def label_set(self) -> str:
        return self.info.label_set or DEFAULT_LABEL_SET

    @property
    def num_labels(self) -> int:
        return self.rescaler.in_channels

    @property
    def num_classes(self) -> int:
        if self.info.num_classes is not None:
            return self.info.num_classes
        return self.embedder.n_classes - 1

    def default_condition(self) -> Condition:
        return UnconditionalCondition()

    # --- the three encoders ----------------------------------------------------------------------

    def embed_text(self, text: str) -> torch.Tensor:
        """(1, L, D) LDMBert tokens of `text` ("" is the null input); recent ones are kept."""
        return self.prompts.embed(text)

    def region_context(self, text: str) -> torch.Tensor:
        return self.embed_text(text)

    @no_grad
    def embed_classes(self, class_ids: list[int]) -> torch.Tensor:
        """(B, 1, D) class tokens; the null class is the "no class" input."""
        import torch

        ids = torch.tensor(class_ids, dtype=torch.long, device=self.device)
        return self.embedder(ids).to(self.dtype)

    @no_grad
    def map_features(self, label_map: np.ndarray | None, height: int, width: int) -> torch.Tensor:
        """(1, C, h, w) map features; None (no map) is the all-zero one-hot map."""
        import torch

        from ldm_studio.core.families.ldm_semantic import one_hot_map, resize_labels

        if label_map is None:
            one_hot = torch.zeros(1, self.num_labels, height, width, device=self.device)
        else:
            one_hot = one_hot_map(resize_labels(label_map, height, width).to(self.device), self.num_labels)
        return self.rescaler(one_hot).to(self.dtype)

    # --- condition → tensors ---------------------------------------------------------------------

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        from ldm_studio.core.generation.regions import plain_or_regions  # torch: imported where models run

        if (regional := plain_or_regions(self, condition, batch_size, guided, request)) is not None:
            return regional
        combined = as_combined(condition)
        s = request.settings
        text = combined.text.prompt if combined.text is not None else ""
        negative = combined.text.negative if combined.text is not None else ""
        classes = self._class_ids(combined.label, batch_size)
        label_map = self._checked_map(combined.semantic)
        cond = self._tensors(text, classes, self.map_features(label_map, s.height, s.width), batch_size)
        uncond = None
        if guided:
            nulls = [self._null_class] * batch_size
            uncond = self._tensors(negative, nulls, self.map_features(None, s.height, s.width), batch_size)
        return Conditioning(cond, uncond)

    @property
    def _null_class(self) -> int:
        null = self.info.null_class
        assert null is not None, "load() refuses a model without null_class"
        return null

    def _tensors(self, text: str, classes: list[int], features: torch.Tensor, batch_size: int) -> ConditionTensors:
        import torch

        tokens = self.embed_text(text).expand(batch_size, -1, -1)
        context = torch.cat([self.embed_classes(classes), tokens], dim=1)
        return ConditionTensors(context=context, concat=features.expand(batch_size, -1, -1, -1))

    def _class_ids(self, label: ClassCondition | None, batch_size: int) -> list[int]:
        if label is None:
            return [self._null_class] * batch_size
        ids = list(label.for_batch(batch_size))
        if len(ids) != batch_size:
            raise RequestError("class", f"{len(label.class_ids)} classes for a batch of {batch_size}")
        bad = [c for c in ids if c >= self.num_classes]
        if bad:
            raise RequestError("class", f"index {bad[0]} is outside 0..{self.num_classes - 1}")
        return ids

    def _checked_map(self, semantic: SemanticMapCondition | None) -> np.ndarray | None:
        if semantic is None:
            return None
        if semantic.label_set != self.label_set:
            raise RequestError("map", f"is in label set {semantic.label_set!r}; this model uses {self.label_set!r}")
        top = int(semantic.label_map.max())
        if top >= self.num_labels:
            raise RequestError("map", f"holds label {top}, outside the {self.num_labels} labels of {self.label_set}")
        return semantic.label_map


def as_combined(condition: Condition) -> CombinedCondition:
    """Any condition the family accepts, as a CombinedCondition (absent parts None)."""
    if isinstance(condition, CombinedCondition):
        return condition
    if isinstance(condition, TextCondition):
        return CombinedCondition(text=condition)
    if isinstance(condition, ClassCondition):
        return CombinedCondition(label=condition)
    if isinstance(condition, SemanticMapCondition):
        return CombinedCondition(semantic=condition)
    if isinstance(condition, UnconditionalCondition):
        return CombinedCondition()
    raise RequestError("condition", f"a multi model does not take a {type(condition).__name__}")


SPEC = register(
    FamilySpec(
        name="multi",
        title="any of caption, class and map (dropped inputs get their null input)",
        model_class=MultiConditionModel,
        builder=CombinedCondition,
        # trained with each input dropped at random: any one, any combination, or none
        conditions=(CombinedCondition, TextCondition, ClassCondition, SemanticMapCondition, UnconditionalCondition),
        components=("unet", "scheduler", "bert", "tokenizer", "cond_stage"),
        defaults=Defaults(sampler="ddim", steps=30, guidance=2.0, eta=0.0),
        uses_map=True,
        regions=True,
    )
)
