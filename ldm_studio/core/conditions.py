"""A condition from named inputs (prompt, negative, class, map), checked against the model's family.

The `generate` options, batch-spec rows and recipes all name their inputs the same way;
this is the one place that turns them into a `Condition` and says which input is missing
or does not apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ldm_studio.core.errors import RequestError
from ldm_studio.core.model_folder import ModelInfo
from ldm_studio.core.requests import (
    ClassCondition,
    CombinedCondition,
    Condition,
    SemanticMapCondition,
    TextCondition,
    UnconditionalCondition,
)

FAMILY_INPUT = {"text": "prompt", "class": "class", "semantic": "map", "uncond": None}


def parse_classes(values: Sequence[str | int], names: Sequence[str] | str = "imagenet-1k") -> tuple[int, ...]:
    """Class indices from numbers or names (comma-separated lists allowed).

    Names are looked up in `names`: a model's own class list, or a shipped label set's name.
    """
    from ldm_studio.core.labels import Label, LabelSet, load_label_set

    ids: list[int] = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            ids.append(value)
            continue
        for token in str(value).split(","):
            token = token.strip()
            if not token:
                continue
            if token.lstrip("-").isdigit():
                ids.append(int(token))
                continue
            if isinstance(names, str):
                labels = load_label_set(names)
            else:
                labels = LabelSet("model classes", tuple(Label(i, n) for i, n in enumerate(names)))
            ids.append(_class_index(labels, token, own=not isinstance(names, str)))
    if not ids:
        raise RequestError("class", "no class given")
    return tuple(ids)


def _class_index(labels, token: str, own: bool) -> int:
    """A class index by name; an unknown name is a "class" error listing a model's own (short) class list."""
    try:
        return labels.index_of(token)
    except RequestError as exc:
        if own and len(labels) <= 50:
            valid = ", ".join(labels.names)
            raise RequestError("class", f"{token!r} is not one of this model's classes: {valid}") from None
        raise RequestError("class", exc.problem) from None


def class_names_of(info: ModelInfo) -> Sequence[str] | str:
    """Where a model's class names come from: its own list, else ImageNet-1k."""
    return info.class_names if info.class_names is not None else "imagenet-1k"


def condition_from_inputs(
    info: ModelInfo,
    *,
    prompt: str | None = None,
    negative: str = "",
    classes: Sequence[str | int] | None = None,
    map_path: str | Path | None = None,
    option_prefix: str = "",
) -> Condition:
    """The condition for `info`'s family; RequestError naming the input (`option_prefix` + name)."""
    if info.family == "multi":
        return _combined(info, prompt, negative, classes, map_path)
    given = {"prompt": prompt is not None, "class": bool(classes), "map": map_path is not None}
    wanted = FAMILY_INPUT.get(info.family)
    for name, present in given.items():
        if present and name != wanted:
            raise RequestError(option_prefix + name, f"does not apply to a {info.family!r} model")
    if info.family == "text":
        if prompt is None:
            raise RequestError(option_prefix + "prompt", "a text model needs a prompt")
        return TextCondition(prompt, negative)
    if info.family == "class":
        if not classes:
            raise RequestError(option_prefix + "class", "a class model needs a class (an index or an ImageNet name)")
        return ClassCondition(parse_classes(classes, class_names_of(info)))
    if info.family == "semantic":
        if map_path is None:
            raise RequestError(option_prefix + "map", "a semantic model needs a map file")
        return _map_condition(info, map_path)
    if info.family == "uncond":
        return UnconditionalCondition()
    raise RequestError("model", f"the {info.family!r} family takes no inputs this version knows")


def _map_condition(info: ModelInfo, map_path: str | Path) -> SemanticMapCondition:
    from ldm_studio.core.semantic_maps import read_map_file

    label_set = info.label_set or "coco-stuff-182"
    return SemanticMapCondition(read_map_file(map_path, label_set), label_set)


def _combined(
    info: ModelInfo,
    prompt: str | None,
    negative: str,
    classes: Sequence[str | int] | None,
    map_path: str | Path | None,
) -> Condition:
    """A multi-input model takes any subset of its inputs; none at all is unconditional."""
    combined = CombinedCondition(
        text=TextCondition(prompt, negative) if prompt is not None else None,
        label=ClassCondition(parse_classes(classes, class_names_of(info))) if classes else None,
        semantic=_map_condition(info, map_path) if map_path is not None else None,
    )
    return combined if combined.parts() else UnconditionalCondition()
