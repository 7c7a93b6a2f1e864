"""Class-conditional LDM (CompVis cin256-v2): an embedding row per ImageNet class as a length-1 context.

Guidance's unconditional input is the "no class" row (index 1000 in cin256-v2), a trained
embedding, not zeros. Several classes in one batch are allowed: image i gets class i.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ldm_studio.core.errors import ConversionError, ModelFolderError, RequestError
from ldm_studio.core.families.base import (
    Conditioning,
    ConditionTensors,
    LatentDiffusionModel,
    ProgressFn,
    load_autoencoder,
    load_scheduler_config,
)
from ldm_studio.core.families.registry import CondStageResult, ConverterHook, FamilySpec, register
from ldm_studio.core.generation.requests import ClassCondition, Condition, GenerationRequest
from ldm_studio.core.lazy_torch import no_grad
from ldm_studio.core.models.model_folder import Defaults, ModelInfo

if TYPE_CHECKING:  # torch loads with the model, not with the registry
    import torch

    from ldm_studio.core.generation.device import DeviceChoice
    from ldm_studio.core.models.cond_stages import ClassEmbedder


class ClassConditionalModel(LatentDiffusionModel):
    family = "class"

    def __init__(self, *args, embedder: ClassEmbedder, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.embedder = embedder

    @classmethod
    def load(cls, info: ModelInfo, choice: DeviceChoice, progress: ProgressFn | None = None) -> ClassConditionalModel:
        from ldm_studio.core.families.loading import load_encoder, load_unet
        from ldm_studio.core.models.cond_stages import ClassEmbedder

        report = progress or (lambda _msg, _frac: None)
        report("class embedding", 0.0)
        embedder = load_encoder(info, choice, "ClassEmbedder")
        assert isinstance(embedder, ClassEmbedder)
        null = info.null_class
        if null is not None and not 0 <= null < embedder.n_classes:
            raise ModelFolderError(info.path, f"null_class {null} is outside the embedding's {embedder.n_classes} rows")
        if info.num_classes is not None and info.num_classes > embedder.n_classes:
            raise ModelFolderError(info.path, f"num_classes {info.num_classes} exceeds the embedding's rows")
        report("U-Net", 0.1)
        unet = load_unet(info, choice, ("UNet2DConditionModel",))
        report("autoencoder", 0.8)
        autoencoder = load_autoencoder(info, choice)
        report("ready", 1.0)
        return cls(info, unet, autoencoder, load_scheduler_config(info), choice, embedder=embedder)

    @property
    def has_unconditional(self) -> bool:
        return self.info.null_class is not None

    @property
    def num_classes(self) -> int:
        """Classes a person may pick (the null class excluded)."""
        if self.info.num_classes is not None:
            return self.info.num_classes
        return self.embedder.n_classes - (1 if self.info.null_class is not None else 0)

    def default_condition(self) -> Condition:
        return ClassCondition((0,))

    @no_grad
    def embed(self, class_ids: list[int]) -> torch.Tensor:
        """(B, 1, D) context for a list of class indices."""
        import torch

        ids = torch.tensor(class_ids, dtype=torch.long, device=self.device)
        return self.embedder(ids).to(self.dtype)

    def encode(self, condition: Condition, batch_size: int, guided: bool, request: GenerationRequest) -> Conditioning:
        if not isinstance(condition, ClassCondition):
            raise RequestError("condition", f"a class model takes a ClassCondition, not {type(condition).__name__}")
        ids = list(condition.for_batch(batch_size))
        if len(ids) != batch_size:
            raise RequestError("class", f"{len(condition.class_ids)} classes for a batch of {batch_size}")
        bad = [c for c in ids if c >= self.num_classes]
        if bad:
            raise RequestError("class", f"index {bad[0]} is outside 0..{self.num_classes - 1}")
        cond = ConditionTensors(context=self.embed(ids))
        uncond = None
        if guided:
            null = self.info.null_class
            assert null is not None, "guidance needs has_unconditional (a null_class)"
            uncond = ConditionTensors(context=self.embed([null] * batch_size))
        return Conditioning(cond, uncond)


def _check_original(config: Any, unet_layout: Any) -> None:
    embed_dim = int(config.cond_stage.params["embed_dim"])
    if embed_dim != unet_layout.context_dim:
        raise ConversionError(
            config.path, f"class embedding size {embed_dim} != the U-Net's context_dim {unet_layout.context_dim}"
        )


def _convert_class_embedder(config: Any, weights: dict[str, Any], file: Path, tokenizer: Any) -> CondStageResult:
    """The original ClassEmbedder; cin256-v2 has 1001 rows: 1000 ImageNet classes and guidance's "no class"."""
    from ldm_studio.core.models.cond_stages import save_cond_stage
    from ldm_studio.core.models.convert import cond_stage
    from ldm_studio.core.models.convert.keys import KeyMap

    module = cond_stage.build_class_embedder(config.cond_stage, config.path)
    keys = KeyMap(weights, "class embedder", file)
    cond_stage.map_class_embedder(keys)
    keys.finish(module)
    has_null = module.n_classes == 1001
    info = {
        "label_set": "imagenet-1k" if module.n_classes in (1000, 1001) else None,
        "num_classes": module.n_classes - 1 if has_null else module.n_classes,
        "null_class": module.n_classes - 1 if has_null else None,
    }
    # without a "no class" row there is no unconditional input: guidance is off
    defaults = None if has_null else replace(SPEC.defaults, guidance=1.0)
    return CondStageResult({"cond_stage": lambda folder: save_cond_stage(module, folder)}, info, defaults)


SPEC = register(
    FamilySpec(
        name="class",
        title="class label → embedding → cross-attention",
        model_class=ClassConditionalModel,
        builder=ClassCondition,
        conditions=(ClassCondition,),
        components=("unet", "scheduler", "cond_stage"),
        defaults=Defaults(sampler="ddim", steps=20, guidance=3.0, eta=0.0),
        converter=ConverterHook(
            cond_stages=(("ldm.modules.encoders.modules.ClassEmbedder", "crossattn"),),
            cross_attention=True,
            check=_check_original,
            convert_cond_stage=_convert_class_embedder,
        ),
    )
)
