"""The denoising timeline: every step of a generation kept, scrubbed, exported and branched from.

A `Trajectory` keeps, per step, the latents and the x0 prediction (CPU, the model's dtype,
the whole batch), the sampler's state there (so a branch continues bit for bit, see
`core.generation.resume`) and the cheap preview as a thumbnail. A `TrajectoryStore` holds the
trajectories of a session within a memory budget: past it, the oldest jobs' tensors are
dropped first (their thumbnails stay, so they can still be scrubbed); the finished images are
files and never part of it. A branch whose parent's tensors are gone re-runs the parent to the
step (`resume_for`), so a recipe can always re-make its branch.

Qt-free: the window, the worker and the CLI all use this.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from ldm_studio.core.errors import RequestError
from ldm_studio.core.files.recipe import build_recipe, condition_to_json, recipe_from_json
from ldm_studio.core.generation.requests import GenerationRequest
from ldm_studio.core.generation.resume import ResumePoint, scheduler_state, slice_state, state_nbytes
from ldm_studio.core.generation.sampler_switch import check_switch
from ldm_studio.core.generation.sampling import StepEvent, denoise
from ldm_studio.core.models.model_folder import ModelInfo

if TYPE_CHECKING:
    from ldm_studio.core.families.base import LatentDiffusionModel

DEFAULT_BUDGET_MB = 512
MB = 1 << 20
EXPORT_SUFFIXES = (".gif", ".webp", ".png")


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    return state_nbytes(value)


@dataclass(frozen=True, eq=False)
class KeptStep:
    """One kept step of a run (all images of the batch). Tensors are None once the budget dropped them."""

    index: int
    timestep: float
    thumbnail: np.ndarray | None  # (B, h, w, 3) uint8: the cheap preview of x0
    latents: torch.Tensor | None = None
    x0: torch.Tensor | None = None
    scheduler: dict[str, Any] | None = None
    generators: tuple[torch.Tensor, ...] | None = None

    @property
    def has_tensors(self) -> bool:
        return self.latents is not None

    @property
    def nbytes(self) -> int:
        return sum(_nbytes(v) for v in (self.thumbnail, self.latents, self.x0, self.scheduler, self.generators))

    def without_tensors(self) -> KeptStep:
        return KeptStep(self.index, self.timestep, self.thumbnail)


@dataclass(frozen=True)
class BranchOrigin:
    """Where a branch starts: the parent's one-image request, the step it branched after, and
    the parent's own origin when the parent is a branch itself (a chain re-made from its root)."""

    parent: GenerationRequest  # batch size 1: the image that was branched
    step: int  # 0-based index of the kept step; the branch runs the steps after it
    image: int = 0  # the image of the parent's batch that was branched
    image_sha256: str | None = None  # of the parent image's pixels, when it was finished
    parent_origin: BranchOrigin | None = None


class Trajectory:
    """The kept steps of one job. Written by the sampling thread, read by others (a lock guards the list)."""

    def __init__(self, key: int, request: GenerationRequest, origin: BranchOrigin | None = None) -> None:
        self.key = key
        self.request = request
        self.origin = origin  # set for a branch job: its steps before `origin.step + 1` are the parent's
        self.total = 0
        self.steps: list[KeptStep] = []
        self.image_sha256: list[str] = []  # of the finished images, once done
        self.timesteps: torch.Tensor | None = None  # the run's loop timesteps (a branch may switch sampler)
        self.keep_tensors = True
        self._nbytes = 0
        self._lock = threading.Lock()
        self._on_growth: Callable[[], None] | None = None

    # --- recording ---------------------------------------------------------------------------

    def record(self, event: StepEvent, thumbnail: np.ndarray | None = None) -> KeptStep:
        """Keep this step (call from the step callback: the scheduler state is read live)."""
        thumb = thumbnail if thumbnail is not None else event.preview
        if self.timesteps is None and event.timesteps is not None:
            self.timesteps = event.timesteps.detach().to("cpu")
        if self.keep_tensors:
            kept = KeptStep(
                event.index,
                event.timestep,
                thumb,
                event.latents.detach().to("cpu"),
                event.x0.detach().to("cpu"),
                scheduler_state(event.scheduler) if event.scheduler is not None else None,
                self._generator_states(event),
            )
        else:
            kept = KeptStep(event.index, event.timestep, thumb)
        with self._lock:
            shared = self._shared_bytes(kept)
            self.total = event.total
            self.steps.append(kept)
            self._nbytes += kept.nbytes - shared
        if self._on_growth is not None:
            self._on_growth()
        return kept

    def _generator_states(self, event: StepEvent) -> tuple[torch.Tensor, ...] | None:
        """The generators' states (5 KB each); a state unchanged since the last step is the same tensor,
        so a sampler that draws no noise after the start keeps one copy per image, not one per step."""
        if not event.generators:
            return None
        states = [g.get_state() for g in event.generators]
        previous = self.steps[-1].generators if self.steps else None
        if previous is not None and len(previous) == len(states):
            states = [old if torch.equal(old, new) else new for old, new in zip(previous, states, strict=True)]
        return tuple(states)

    def _shared_bytes(self, kept: KeptStep) -> int:
        previous = self.steps[-1].generators if self.steps else None
        if not previous or not kept.generators:
            return 0
        return sum(_nbytes(new) for old, new in zip(previous, kept.generators, strict=False) if old is new)

    def start_from(self, parent: Trajectory, step: int, image: int) -> None:
        """Begin a branch's timeline with the parent's steps up to `step` (image `image` of its batch)."""
        with parent._lock:
            prefix = parent.steps[: step + 1]
        kept = []
        for s in prefix:
            cut = slice(image, image + 1)
            thumb = s.thumbnail[cut].copy() if s.thumbnail is not None else None
            if s.latents is not None and s.x0 is not None and self.keep_tensors:  # has_tensors (kept together)
                kept.append(
                    KeptStep(
                        s.index,
                        s.timestep,
                        thumb,
                        s.latents[cut].clone(),
                        s.x0[cut].clone(),
                        None,  # only the branch point's state is ever resumed from, and that is the parent's
                        None,
                    )
                )
            else:
                kept.append(KeptStep(s.index, s.timestep, thumb))
        with self._lock:
            self.steps = kept + self.steps
            self._nbytes += sum(k.nbytes for k in kept)

    # --- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def nbytes(self) -> int:
        return self._nbytes

    @property
    def has_tensors(self) -> bool:
        with self._lock:
            return any(s.has_tensors for s in self.steps)

    def step(self, index: int) -> KeptStep:
        """The kept step at position `index` (IndexError past the kept ones)."""
        with self._lock:
            return self.steps[index]

    def thumbnail(self, index: int) -> np.ndarray | None:
        return self.step(index).thumbnail

    def drop_tensors(self) -> int:
        """Forget latents, x0 and state (thumbnails stay); returns the bytes freed. Later steps keep none."""
        with self._lock:
            before = self._nbytes
            self.keep_tensors = False
            self.steps = [s.without_tensors() if s.has_tensors else s for s in self.steps]
            self._nbytes = sum(s.nbytes for s in self.steps)  # no tensors left: nothing shared
            return before - self._nbytes

    def resume_point(self, step: int, image: int | None = None, fresh_noise: bool = False) -> ResumePoint:
        """Continue after kept step `step`: all images, or image `image` of the batch alone.

        `fresh_noise` leaves the generators unrestored (an ancestral sampler then draws new noise).
        """
        kept = self.step(step)
        if kept.latents is None:  # not has_tensors
            raise RequestError("branch step", f"step {step + 1} of job {self.key} is no longer kept (memory budget)")
        if kept.scheduler is None:
            raise RequestError("branch step", f"step {step + 1} of job {self.key} was copied from its parent")
        latents, state, gens = kept.latents, kept.scheduler, kept.generators
        if image is not None:
            shape = latents.shape
            latents, state = latents[image : image + 1], slice_state(state, shape, image)
            gens = gens[image : image + 1] if gens is not None else None
        return ResumePoint(
            kept.index + 1,
            self.total,
            latents,
            state,
            None if fresh_noise else gens,
            self.request.settings.sampler,
            self.timesteps,
        )

    def frames(
        self, decode: Callable[[torch.Tensor], np.ndarray] | None = None, size: tuple[int, int] | None = None
    ) -> list[np.ndarray]:
        """One (H, W, 3) uint8 frame per kept step (a batch as a grid): the thumbnails, or `decode(x0)`
        per step (B, H, W, 3) when given; resized to `size` (width, height) when given."""
        with self._lock:
            steps = list(self.steps)
        frames = []
        for s in steps:
            if decode is not None and s.x0 is not None:
                batch = decode(s.x0)
            elif s.thumbnail is not None:
                batch = s.thumbnail
            else:
                continue
            frame = grid(np.asarray(batch))
            if size is not None and (frame.shape[1], frame.shape[0]) != size:
                frame = np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR))
            frames.append(frame)
        return frames


def grid(images: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) → one near-square grid image, wider than tall (as the window lays out a batch)."""
    count, height, width, channels = images.shape
    cols = max(1, int(np.ceil(np.sqrt(count))))
    rows = max(1, int(np.ceil(count / cols)))
    out = np.zeros((rows * height, cols * width, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        out[r * height : (r + 1) * height, c * width : (c + 1) * width] = image
    return out


class TrajectoryStore:
    """The session's trajectories, oldest first, within `budget` bytes of kept steps.

    Past the budget the oldest trajectories lose their tensors first (then, if thumbnails alone
    are still over, the oldest trajectories go entirely); the newest (running) one is the last to
    lose anything. Enforced after every kept step, from the sampling thread.
    """

    def __init__(self, budget_mb: float = DEFAULT_BUDGET_MB) -> None:
        self._budget = int(budget_mb * MB)
        self._items: dict[int, Trajectory] = {}
        self._lock = threading.RLock()

    @property
    def budget(self) -> int:
        return self._budget

    def set_budget_mb(self, megabytes: float) -> None:
        if megabytes < 0:
            raise RequestError("timeline memory budget", f"must be >= 0 MB, got {megabytes}")
        self._budget = int(megabytes * MB)
        self.enforce()

    def start(self, key: int, request: GenerationRequest, origin: BranchOrigin | None = None) -> Trajectory:
        """A new trajectory for job `key` (replacing one of the same key)."""
        trajectory = Trajectory(key, request, origin)
        trajectory._on_growth = self.enforce
        with self._lock:
            self._items.pop(key, None)
            self._items[key] = trajectory
        return trajectory

    def get(self, key: int) -> Trajectory | None:
        with self._lock:
            return self._items.get(key)

    def discard(self, key: int) -> None:
        with self._lock:
            self._items.pop(key, None)

    def jobs(self) -> list[int]:
        with self._lock:
            return list(self._items)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(t.nbytes for t in self._items.values())

    def enforce(self) -> None:
        """Fit the budget: the older jobs' tensors go first (oldest first), then the older jobs entirely,
        and only then the newest job's tensors; the newest keeps its thumbnails (it is on screen)."""
        with self._lock:
            total = self.nbytes
            if total <= self._budget:
                return
            *older, newest = list(self._items)
            for key in older:
                if total <= self._budget:
                    return
                total -= self._items[key].drop_tensors()
            for key in older:
                if total <= self._budget:
                    return
                total -= self._items.pop(key).nbytes
            if total > self._budget:
                self._items[newest].drop_tensors()


# --- branching -----------------------------------------------------------------------------------


def check_branch(origin: BranchOrigin, child: GenerationRequest) -> None:
    """A branch continues its parent's schedule: steps, size and eta must stay; one image. The sampler may
    change to one that can start from the branch's timestep (`sampler_switch`)."""
    parent, new = origin.parent.settings, child.settings
    if new.sampler != parent.sampler:
        check_switch(parent.sampler, new.sampler)
    for name in ("steps", "width", "height", "eta"):
        was, now = getattr(parent, name), getattr(new, name)
        if now != was:
            raise RequestError(name, f"a branch continues the parent's schedule: keep {was!r} (got {now!r})")
    if new.batch_size != 1:
        raise RequestError("batch_size", "a branch makes one image (it continues one image of its parent)")


def branch_resume(
    model: LatentDiffusionModel,
    origin: BranchOrigin,
    child: GenerationRequest,
    kept: Trajectory | None = None,
    cancel: threading.Event | None = None,
) -> ResumePoint:
    """Where `child` starts: from the parent's kept step when `kept` still holds it, else by re-running
    the parent (and its own parents) up to the step. A changed seed means fresh noise from there."""
    check_branch(origin, child)
    fresh = child.settings.seed != origin.parent.settings.seed
    if kept is not None:
        try:
            step = kept.step(origin.step)
        except IndexError:
            step = None
        if step is not None and step.has_tensors and step.scheduler is not None:
            image = origin.image if kept.request.settings.batch_size > 1 else None
            return kept.resume_point(origin.step, image, fresh)
    point = rerun_to_step(model, origin, cancel)
    return replace(point, generators=None) if fresh else point


def rerun_to_step(
    model: LatentDiffusionModel, origin: BranchOrigin, cancel: threading.Event | None = None
) -> ResumePoint:
    """Run the parent (a one-image request, itself resumed when it is a branch) up to `origin.step`."""
    parent_resume = None
    if origin.parent_origin is not None:
        parent_resume = branch_resume(model, origin.parent_origin, origin.parent, cancel=cancel)
    scratch = Trajectory(-1, origin.parent)
    for event in denoise(model, origin.parent, cancel=cancel, resume=parent_resume):
        if event.index == origin.step:
            scratch.record(event)
            break
    else:
        raise RequestError("branch step", f"the parent has no step {origin.step + 1}")
    return scratch.resume_point(0)


def image_sha256(image: np.ndarray) -> str:
    """A finished image's identity: SHA-256 of its shape and pixels (what a recipe names as the parent)."""
    data = np.ascontiguousarray(image, dtype=np.uint8)
    return hashlib.sha256(f"{data.shape}".encode() + data.tobytes()).hexdigest()


def changes(parent: GenerationRequest, child: GenerationRequest) -> dict[str, list[Any]]:
    """What a branch changed: {field: [parent value, branch value]} over the condition and the settings."""
    out: dict[str, list[Any]] = {}
    a, b = condition_to_json(parent.condition), condition_to_json(child.condition)
    if a != b:
        out["condition"] = [a, b]
    sa, sb = asdict(parent.settings), asdict(child.settings)
    for name in sa:
        if sa[name] != sb[name]:
            out[name] = [sa[name], sb[name]]
    return out


def branch_recipe_entry(origin: BranchOrigin, child: GenerationRequest, parent_recipe: dict[str, Any]) -> dict:
    """The `branch` entry of a branch image's recipe: the parent's own recipe, the step and what changed."""
    return {
        "step": origin.step,
        "image": origin.image,
        "parent_sha256": origin.image_sha256,
        "parent": parent_recipe,
        "changed": changes(origin.parent, child),
    }


def branch_recipe(
    origin: BranchOrigin, child: GenerationRequest, info: ModelInfo, *, model_hash: str, device: str
) -> dict[str, Any]:
    """The `branch` entry for `child`, with the parent's recipe built from the request (and its own
    `branch` entry when the parent is a branch: the chain down to a plain image)."""
    parent_recipe = build_recipe(origin.parent, info, 0, model_hash=model_hash, device=device)
    if origin.parent_origin is not None:
        parent_recipe["branch"] = branch_recipe(
            origin.parent_origin, origin.parent, info, model_hash=model_hash, device=device
        )
    return branch_recipe_entry(origin, child, parent_recipe)


def origin_from_recipe(recipe: dict[str, Any]) -> BranchOrigin | None:
    """The origin a recipe's `branch` entry describes (its parents' chain included); None for a plain image."""
    entry = recipe.get("branch")
    if not entry:
        return None
    try:
        parent_recipe = entry["parent"]
        parent = recipe_from_json(parent_recipe).request()
        return BranchOrigin(
            parent, int(entry["step"]), int(entry.get("image", 0)), entry.get("parent_sha256"),
            origin_from_recipe(parent_recipe),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RequestError("branch", f"the recipe's branch entry is malformed ({exc})") from None


# --- export --------------------------------------------------------------------------------------


def export_frames(frames: Sequence[np.ndarray], path: str | Path, frame_ms: int = 100) -> Path:
    """Write frames as an animated GIF or WebP, or side by side as a PNG strip (by the suffix); atomic."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise RequestError("trajectory", f"{target.name}: write .gif, .webp (animated) or .png (a strip)")
    if not frames:
        raise RequestError("trajectory", "no steps were kept")
    images = [Image.fromarray(np.ascontiguousarray(f, dtype=np.uint8)) for f in frames]
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=f"{suffix}.part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if suffix == ".png":
                width, height = images[0].size
                strip = Image.new("RGB", (width * len(images), height))
                for i, image in enumerate(images):
                    strip.paste(image.resize((width, height)), (i * width, 0))
                strip.save(handle, format="PNG")
            else:
                kind = "GIF" if suffix == ".gif" else "WEBP"
                extra = {"lossless": True} if kind == "WEBP" else {"optimize": False, "disposal": 1}
                images[0].save(
                    handle, format=kind, save_all=True, append_images=images[1:], duration=frame_ms, loop=0, **extra
                )
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
