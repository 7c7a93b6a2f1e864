"""Procedural 64×64 landscape scenes with ground truth: the training data of the demo model.

Each scene comes with a semantic map over a few COCO-Stuff-182 labels (the real indices,
so maps painted in the app mean the same thing), a scene class and a caption built from
what was drawn. Layouts are drawn per class with vectorised numpy (boundary curves over x,
blobs), then coloured per label with textures, gradients and a time-of-day tint, so a few
thousand scenes take about a second. The same seed always gives the same scenes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 64

# The COCO-Stuff-182 labels the scenes use (index = one-hot channel of the map).
LABELS: dict[str, int] = {
    "sky-other": 156,
    "clouds": 105,
    "sea": 154,
    "river": 147,
    "sand": 153,
    "grass": 123,
    "tree": 168,
    "mountain": 134,
    "rock": 149,
    "snow": 158,
    "water-other": 177,
    "bush": 96,
    "dirt": 110,
    "flower": 118,
}

SCENE_CLASSES: tuple[str, ...] = ("beach", "forest", "mountains", "snowfield", "lake", "desert", "meadow", "river")

# base colour and texture strength of each label
_COLOURS: dict[str, tuple[tuple[int, int, int], float]] = {
    "sky-other": ((105, 160, 225), 0.04),
    "clouds": ((236, 238, 244), 0.05),
    "sea": ((28, 78, 165), 0.14),
    "river": ((55, 115, 195), 0.12),
    "sand": ((222, 196, 140), 0.08),
    "grass": ((78, 152, 58), 0.18),
    "tree": ((32, 96, 42), 0.28),
    "mountain": ((112, 102, 98), 0.16),
    "rock": ((128, 124, 118), 0.2),
    "snow": ((240, 243, 250), 0.03),
    "water-other": ((48, 104, 158), 0.1),
    "bush": ((58, 118, 48), 0.25),
    "dirt": ((128, 94, 60), 0.18),
    "flower": ((226, 118, 168), 0.3),
}

# time of day: (caption phrase, RGB multiplier, desaturation, probability)
_LIGHTS: tuple[tuple[str, tuple[float, float, float], float, float], ...] = (
    ("", (1.0, 1.0, 1.0), 0.0, 0.55),
    ("in the morning", (1.04, 1.0, 0.93), 0.0, 0.15),
    ("at sunset", (1.12, 0.86, 0.72), 0.0, 0.12),
    ("on a grey day", (0.88, 0.9, 0.93), 0.45, 0.18),
)


@dataclass(frozen=True, eq=False)
class Scenes:
    """A batch of scenes: images (N, 64, 64, 3) uint8, maps (N, 64, 64) COCO-Stuff indices, classes, captions."""

    images: np.ndarray
    maps: np.ndarray
    classes: np.ndarray
    captions: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.classes)


def vocabulary() -> list[str]:
    """Every word a caption can hold (the demo tokenizer's vocabulary), sorted."""
    words: set[str] = set()
    for templates in _TEMPLATES.values():
        for template in templates:
            words.update(template.replace("{light}", "").replace("{sky}", "").split())
    for phrase, *_ in _LIGHTS:
        words.update(phrase.split())
    for phrase in _SKY_PHRASES.values():
        words.update(phrase.split())
    for phrases in _VARIANT_PHRASES.values():
        for phrase in phrases:
            words.update(phrase.split())
    words.update(_AERIAL_BEACH.split())
    return sorted(words)


def generate_scenes(n: int, seed: int = 0, classes: np.ndarray | None = None) -> Scenes:
    """`n` scenes from `seed` (deterministic); `classes` fixes the class of each scene if given."""
    rng = np.random.default_rng(seed)
    if classes is None:
        classes = rng.integers(0, len(SCENE_CLASSES), size=n)
    classes = np.asarray(classes, dtype=np.int64)
    maps = np.zeros((n, SIZE, SIZE), dtype=np.uint8)
    flags: dict[str, np.ndarray] = {k: np.zeros(n, dtype=bool) for k in ("clouds", "snowcap", "variant")}
    for c, name in enumerate(SCENE_CLASSES):
        idx = np.flatnonzero(classes == c)
        if idx.size:
            _LAYOUTS[name](rng, maps, idx, flags)
    light = rng.choice(len(_LIGHTS), size=n, p=[w for *_, w in _LIGHTS])
    images = _paint(rng, maps, light)
    captions = tuple(_caption(rng, int(classes[i]), int(light[i]), flags, i) for i in range(n))
    return Scenes(images, maps.astype(np.int64), classes, captions)


# --- layouts ---------------------------------------------------------------------------------

_Y = (np.arange(SIZE, dtype=np.float32) + 0.5) / SIZE  # row centres in [0, 1]
_X = _Y.copy()


def _walk(rng: np.random.Generator, m: int, step: float) -> np.ndarray:
    """(m, 64) random walks over x with zero mean: jagged ridges and wobbly edges."""
    w = np.cumsum(rng.normal(0, step, size=(m, SIZE)), axis=1).astype(np.float32)
    return w - w.mean(axis=1, keepdims=True)


def _waves(rng: np.random.Generator, m: int, amp: float) -> np.ndarray:
    """(m, 64) smooth wavy offsets over x."""
    f = rng.uniform(1.0, 3.0, size=(m, 1))
    p = rng.uniform(0, 2 * np.pi, size=(m, 1))
    return (amp * rng.uniform(0.3, 1.0, size=(m, 1)) * np.sin(2 * np.pi * f * _X[None] + p)).astype(np.float32)


def _below(curve: np.ndarray) -> np.ndarray:
    """(m, 64, 64) mask of pixels below a per-column curve (m, 64) of y values."""
    return _Y[None, :, None] >= curve[:, None, :]


def _fill(maps: np.ndarray, idx: np.ndarray, mask: np.ndarray, label: str) -> None:
    sub = maps[idx]
    sub[mask] = LABELS[label]
    maps[idx] = sub


def _sky(rng: np.random.Generator, maps: np.ndarray, idx: np.ndarray, flags: dict, p_clouds: float = 0.5) -> None:
    """Sky everywhere, with a few cloud blobs in the upper part for some scenes."""
    maps[idx] = LABELS["sky-other"]
    m = idx.size
    cloudy = rng.random(m) < p_clouds
    flags["clouds"][idx] = cloudy
    k = 3
    cx = rng.uniform(0, 1, size=(m, k, 1, 1))
    cy = rng.uniform(0.05, 0.3, size=(m, k, 1, 1))
    rx = rng.uniform(0.08, 0.2, size=(m, k, 1, 1))
    ry = rx * rng.uniform(0.25, 0.45, size=(m, k, 1, 1))
    d = ((_X[None, None, None, :] - cx) / rx) ** 2 + ((_Y[None, None, :, None] - cy) / ry) ** 2
    blobs = (d < 1).any(axis=1) & cloudy[:, None, None]
    _fill(maps, idx, blobs, "clouds")


def _mountain_ridge(rng: np.random.Generator, m: int, base: np.ndarray, height: float) -> np.ndarray:
    peaks = rng.uniform(0.5, 1.0, size=(m, 1)) * height
    px = rng.uniform(0.15, 0.85, size=(m, 1))
    cone = peaks * np.clip(1 - np.abs(_X[None] - px) / rng.uniform(0.35, 0.7, size=(m, 1)), 0, 1)
    return base[:, None] - cone + _walk(rng, m, 0.012)


def _trees(rng: np.random.Generator, m: int, base: np.ndarray, k: int, height: tuple[float, float]) -> np.ndarray:
    """Top edge (m, 64) of a row of conifers standing on `base`."""
    tx = rng.uniform(-0.05, 1.05, size=(m, k, 1))
    th = rng.uniform(*height, size=(m, k, 1))
    tw = th * rng.uniform(0.25, 0.4, size=(m, k, 1))
    tops = base[:, None, None] - th * np.clip(1 - np.abs(_X[None, None] - tx) / tw, 0, 1)
    tops = np.where(np.abs(_X[None, None] - tx) < tw, tops, 2.0)
    return tops.min(axis=1)


def _beach(rng, maps, idx, flags) -> None:
    m = idx.size
    _sky(rng, maps, idx, flags)
    split = rng.random(m) < 0.3  # no sky: the shore seen from above, at any angle
    flags["variant"][idx] = split
    flags["clouds"][idx] &= ~split
    horizon = rng.uniform(0.25, 0.45, size=m)
    horizon[split] = -1.0
    sea = _below(np.repeat(horizon[:, None], SIZE, axis=1) + _walk(rng, m, 0.002))
    shore = rng.uniform(0.55, 0.8, size=m)[:, None] + _waves(rng, m, 0.05)
    sand = _below(shore)
    # steep shores: sand on one side of a tilted wavy line
    theta = rng.uniform(-1.2, 1.2, size=m)
    side = np.where(rng.random(m) < 0.5, 1.0, -1.0)
    off = rng.uniform(-0.25, 0.25, size=m)
    u = (_X[None, None, :] - 0.5) * np.cos(theta)[:, None, None] + (_Y[None, :, None] - 0.5) * np.sin(theta)[
        :, None, None
    ]
    wob = 0.03 * np.sin(8 * _Y[None, :, None] + rng.uniform(0, 6, size=(m, 1, 1)))
    sand_split = side[:, None, None] * (u - off[:, None, None] + wob) > 0
    sand = np.where(split[:, None, None], sand_split, sand)
    _fill(maps, idx, sea, "sea")
    _fill(maps, idx, sand & sea, "sand")


def _forest(rng, maps, idx, flags) -> None:
    m = idx.size
    _sky(rng, maps, idx, flags, p_clouds=0.4)
    base = rng.uniform(0.45, 0.6, size=m)
    top = _trees(rng, m, base, 14, (0.2, 0.45))
    canopy = _below(np.minimum(top, base[:, None] + _walk(rng, m, 0.004)))
    ground = _below(rng.uniform(0.82, 0.92, size=(m, 1)) + _waves(rng, m, 0.03))
    _fill(maps, idx, canopy, "tree")
    dirt = rng.random(m) < 0.3
    flags["variant"][idx] = dirt
    _fill(maps, idx, ground & ~dirt[:, None, None], "grass")
    _fill(maps, idx, ground & dirt[:, None, None], "dirt")


def _mountains(rng, maps, idx, flags) -> None:
    m = idx.size
    _sky(rng, maps, idx, flags)
    base = rng.uniform(0.6, 0.72, size=m)
    ridge = _mountain_ridge(rng, m, base, 0.45)
    mountain = _below(ridge)
    snowy = rng.random(m) < 0.5
    flags["snowcap"][idx] = snowy
    cap = _below(ridge) & ~_below(ridge + rng.uniform(0.06, 0.12, size=(m, 1))) & _above_line(ridge, 0.45)
    _fill(maps, idx, mountain, "mountain")
    _fill(maps, idx, cap & snowy[:, None, None], "snow")
    fore = _below(base[:, None] + 0.08 + _waves(rng, m, 0.03))
    rocky = rng.random(m) < 0.4
    flags["variant"][idx] = rocky
    _fill(maps, idx, fore & ~rocky[:, None, None], "grass")
    _fill(maps, idx, fore & rocky[:, None, None], "rock")


def _above_line(curve: np.ndarray, level: float) -> np.ndarray:
    """Columns whose curve reaches above `level` (high peaks get snow caps)."""
    return (curve < level)[:, None, :] & np.ones((1, SIZE, 1), dtype=bool)


def _snowfield(rng, maps, idx, flags) -> None:
    m = idx.size
    _sky(rng, maps, idx, flags, p_clouds=0.3)
    horizon = rng.uniform(0.3, 0.45, size=m)
    hills = rng.random(m) < 0.5
    flags["variant"][idx] = hills
    ridge = _mountain_ridge(rng, m, horizon, 0.2)
    _fill(maps, idx, _below(ridge) & hills[:, None, None], "snow")
    _fill(maps, idx, _below(horizon[:, None] + _walk(rng, m, 0.003)), "snow")
    trees = rng.random(m) < 0.3
    flags["snowcap"][idx] = trees  # reused: a few trees on the horizon
    top = _trees(rng, m, horizon + 0.02, 3, (0.06, 0.14))
    _fill(maps, idx, _below(top) & ~_below(horizon[:, None] + 0.02) & trees[:, None, None], "tree")


def _lake(rng, maps, idx, flags) -> None:
    m = idx.size
    _sky(rng, maps, idx, flags)
    horizon = rng.uniform(0.35, 0.5, size=m)
    behind_mountain = rng.random(m) < 0.5
    flags["variant"][idx] = behind_mountain
    ridge = _mountain_ridge(rng, m, horizon, 0.3)
    trees = _trees(rng, m, horizon, 12, (0.06, 0.16))
    _fill(maps, idx, _below(ridge) & behind_mountain[:, None, None], "mountain")
    _fill(maps, idx, _below(trees) & ~behind_mountain[:, None, None], "tree")
    _fill(maps, idx, _below(np.repeat(horizon[:, None], SIZE, axis=1)), "water-other")
    shore = rng.uniform(0.72, 0.88, size=m)[:, None] + _waves(rng, m, 0.05)
    _fill(maps, idx, _below(shore), "grass")


def _desert(rng, maps, idx, flags) -> None:
    m = idx.size
    _sky(rng, maps, idx, flags, p_clouds=0.2)
    horizon = rng.uniform(0.35, 0.55, size=m)
    _fill(maps, idx, _below(horizon[:, None] + _waves(rng, m, 0.05)), "sand")
    rocks = rng.random(m) < 0.45
    flags["variant"][idx] = rocks
    ridge = _mountain_ridge(rng, m, horizon + 0.02, 0.15)
    width = rng.uniform(0.1, 0.3, size=(m, 1))
    cx = rng.uniform(0.2, 0.8, size=(m, 1))
    near = (np.abs(_X[None] - cx) < width)[:, None, :]
    _fill(maps, idx, _below(ridge) & ~_below(horizon[:, None] + 0.06) & near & rocks[:, None, None], "rock")


def _meadow(rng, maps, idx, flags) -> None:
    m = idx.size
    _sky(rng, maps, idx, flags)
    horizon = rng.uniform(0.35, 0.55, size=m)
    _fill(maps, idx, _below(horizon[:, None] + _waves(rng, m, 0.04)), "grass")
    flowers = rng.random(m) < 0.6
    flags["variant"][idx] = flowers
    k = 6
    fx = rng.uniform(0, 1, size=(m, k, 1, 1))
    fy = rng.uniform(0.6, 1.0, size=(m, k, 1, 1))
    r = rng.uniform(0.04, 0.1, size=(m, k, 1, 1))
    d = ((_X[None, None, None, :] - fx) / (1.8 * r)) ** 2 + ((_Y[None, None, :, None] - fy) / r) ** 2
    patches = (d < 1).any(axis=1)
    _fill(maps, idx, patches & flowers[:, None, None] & _below(horizon[:, None] + 0.08), "flower")
    bushes = _trees(rng, m, horizon + 0.01, 3, (0.04, 0.08))
    _fill(maps, idx, _below(bushes) & ~_below(horizon[:, None] + 0.05) & ~flowers[:, None, None], "bush")


def _river(rng, maps, idx, flags) -> None:
    m = idx.size
    _sky(rng, maps, idx, flags)
    horizon = rng.uniform(0.3, 0.45, size=m)
    trees = rng.random(m) < 0.5
    flags["variant"][idx] = trees
    top = _trees(rng, m, horizon, 10, (0.06, 0.14))
    _fill(maps, idx, _below(top) & trees[:, None, None], "tree")
    _fill(maps, idx, _below(horizon[:, None] + _walk(rng, m, 0.003)), "grass")
    x0 = rng.uniform(0.3, 0.7, size=(m, 1, 1))
    amp = rng.uniform(0.05, 0.2, size=(m, 1, 1))
    ph = rng.uniform(0, 2 * np.pi, size=(m, 1, 1))
    depth = np.clip((_Y[None, :, None] - horizon[:, None, None]) / (1 - horizon[:, None, None]), 0, 1)
    centre = x0 + amp * np.sin(6 * depth + ph)
    half = 0.01 + depth * rng.uniform(0.1, 0.2, size=(m, 1, 1))
    water = (np.abs(_X[None, None, :] - centre) < half) & (_Y[None, :, None] > horizon[:, None, None])
    _fill(maps, idx, water, "river")


_LAYOUTS = {
    "beach": _beach,
    "forest": _forest,
    "mountains": _mountains,
    "snowfield": _snowfield,
    "lake": _lake,
    "desert": _desert,
    "meadow": _meadow,
    "river": _river,
}


# --- painting --------------------------------------------------------------------------------

_PALETTE = np.zeros((256, 3), dtype=np.float32)
_TEXTURE = np.zeros(256, dtype=np.float32)
for _name, (_rgb, _tex) in _COLOURS.items():
    _PALETTE[LABELS[_name]] = _rgb
    _TEXTURE[LABELS[_name]] = _tex


def _smooth_noise(rng: np.random.Generator, n: int, cells: int) -> np.ndarray:
    """(n, 64, 64) smooth noise in about [-1, 1]: a coarse random grid, bilinearly upsampled."""
    grid = rng.normal(0, 1, size=(n, cells + 1, cells + 1)).astype(np.float32)
    pos = _Y * cells
    i0 = np.minimum(pos.astype(np.int64), cells - 1)
    f = pos - i0
    rows = grid[:, i0] * (1 - f)[None, :, None] + grid[:, i0 + 1] * f[None, :, None]
    return rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i0 + 1] * f[None, None, :]


def _paint(rng: np.random.Generator, maps: np.ndarray, light: np.ndarray) -> np.ndarray:
    n = maps.shape[0]
    base = _PALETTE[maps]  # (n, 64, 64, 3)
    base = base * rng.uniform(0.92, 1.08, size=(n, 1, 1, 3)).astype(np.float32)  # per-scene hue jitter
    tex = _TEXTURE[maps][..., None]
    coarse = _smooth_noise(rng, n, 4)[..., None]
    fine = _smooth_noise(rng, n, 16)[..., None]
    grain = rng.normal(0, 1, size=(n, SIZE, SIZE, 1)).astype(np.float32)
    image = base * (1 + tex * (0.5 * coarse + 0.6 * fine + 0.35 * grain))
    # sky: lighter towards the horizon; water: streaks along x, lighter near the viewer
    y = _Y[None, :, None, None]
    sky = maps[..., None] == LABELS["sky-other"]
    image = np.where(sky, image * (0.85 + 0.35 * y) + 20 * y, image)
    water = np.isin(maps, [LABELS["sea"], LABELS["river"], LABELS["water-other"]])[..., None]
    streaks = np.sin(40 * y + 2 * fine) * 10
    image = np.where(water, image + streaks + 25 * (y - 0.5), image)
    ground = ~sky & (maps[..., None] != LABELS["clouds"])
    image = np.where(ground, image * (0.9 + 0.2 * y), image)
    mult = np.array([_LIGHTS[i][1] for i in light], dtype=np.float32)[:, None, None, :]
    desat = np.array([_LIGHTS[i][2] for i in light], dtype=np.float32)[:, None, None, None]
    image = image * mult
    grey = image.mean(axis=-1, keepdims=True)
    image = image * (1 - desat) + grey * desat
    return np.clip(image, 0, 255).round().astype(np.uint8)


# --- captions --------------------------------------------------------------------------------

_SKY_PHRASES = {True: "under a cloudy sky", False: "under a clear blue sky"}
_TEMPLATES: dict[str, tuple[str, ...]] = {
    "beach": ("a sandy beach by the sea {light}", "the blue sea above a sandy beach {sky}", "a beach of sand {light}"),
    "forest": ("a dense forest of green trees {light}", "tall pine trees in a forest {sky}", "a green forest {light}"),
    "mountains": ("rocky mountains {sky}", "a grey mountain range {light}", "high mountains above green grass"),
    "snowfield": ("a snowy field {light}", "white snow covering the ground {sky}", "a cold snowfield in winter"),
    "lake": ("a calm lake {sky}", "a blue lake below the mountains {light}", "a lake with trees on the shore"),
    "desert": ("sand dunes in a hot desert {light}", "a dry desert {sky}", "a desert with rocks and sand"),
    "meadow": ("a green meadow {light}", "a meadow with flowers {sky}", "green grass on a field {light}"),
    "river": ("a river through green grass {light}", "a blue river winding through a field {sky}", "a small river"),
}
_AERIAL_BEACH = "a sandy shore by the sea seen from above"
_VARIANT_PHRASES = {
    "mountains": ("a snowy mountain above green grass", "a snowy mountain above the rocks"),
}


def _caption(rng: np.random.Generator, c: int, light: int, flags: dict, i: int) -> str:
    name = SCENE_CLASSES[c]
    if name == "beach" and flags["variant"][i]:
        return " ".join(f"{_AERIAL_BEACH} {_LIGHTS[light][0]}".split())
    if name == "mountains" and flags["snowcap"][i] and rng.random() < 0.6:
        return _VARIANT_PHRASES[name][int(flags["variant"][i])]
    template = _TEMPLATES[name][int(rng.integers(0, len(_TEMPLATES[name])))]
    text = template.replace("{light}", _LIGHTS[light][0]).replace("{sky}", _SKY_PHRASES[bool(flags["clouds"][i])])
    return " ".join(text.split())
