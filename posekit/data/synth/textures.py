"""Procedural surface materials: skin tones, clothing patterns and the face/hair of the head.

Patterns are evaluated in surface coordinates of a primitive: ``axial`` (metres along its
long axis) and ``arc`` (metres around it), so stripes and checks have physical sizes.
Colours are linear RGB floats in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .body import HEAD_LANDMARKS

# Skin tones from light to dark (RGB), spanning the Fitzpatrick range.
SKIN_TONES = np.array([
    [0.96, 0.82, 0.72], [0.92, 0.74, 0.60], [0.84, 0.64, 0.49], [0.72, 0.52, 0.38],
    [0.58, 0.40, 0.28], [0.44, 0.30, 0.21], [0.32, 0.22, 0.15],
])
HAIR_COLOURS = np.array([
    [0.05, 0.04, 0.03], [0.18, 0.11, 0.06], [0.35, 0.22, 0.12], [0.62, 0.48, 0.30],
    [0.55, 0.25, 0.10], [0.65, 0.65, 0.65], [0.12, 0.12, 0.14],
])
PATTERNS = ("solid", "stripes", "vstripes", "checks", "plaid", "noise")


@dataclass(frozen=True)
class Material:
    """Surface appearance. ``kind`` is a pattern name, ``"head"`` (face + hair) or ``"flat"``.

    c1, c2: (3,) colours; period: pattern period in metres; specular: Blinn strength;
    hair: (3,) hair colour and hairline (unit-sphere y above which hair grows) for heads.
    """

    kind: str
    c1: np.ndarray
    c2: np.ndarray
    period: float = 0.1
    specular: float = 0.15
    hair: np.ndarray | None = None
    hairline: float = 0.3
    long_hair: bool = False


@lru_cache(maxsize=1)
def noise_texture(size: int = 64) -> np.ndarray:
    """A fixed, smooth, tileable value-noise texture (size, size) in [0, 1] (float32)."""
    rng = np.random.default_rng(12345)
    acc = np.zeros((size, size), np.float32)
    for octave, amp in ((4, 0.55), (8, 0.3), (16, 0.15)):
        grid = rng.random((octave, octave)).astype(np.float32)
        tiled = np.tile(grid, (3, 3))
        up = cv2.resize(tiled, (3 * size, 3 * size), interpolation=cv2.INTER_CUBIC)
        acc += amp * up[size:2 * size, size:2 * size]
    acc -= acc.min()
    return acc / acc.max()


def random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.1, 0.9),
                  val: tuple[float, float] = (0.15, 0.95)) -> np.ndarray:
    """A random RGB colour from HSV ranges."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float64) / 255.0


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    i = rng.uniform(0, len(SKIN_TONES) - 1)
    lo = int(i)
    w = i - lo
    tone = (1 - w) * SKIN_TONES[lo] + w * SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)]
    return np.clip(tone * rng.uniform(0.93, 1.07, 3), 0, 1)


def random_pattern(rng: np.random.Generator, c1: np.ndarray | None = None) -> Material:
    """A clothing-like material: solid, stripes, checks, plaid or noise in two colours."""
    kind = PATTERNS[rng.choice(len(PATTERNS), p=[0.3, 0.17, 0.1, 0.15, 0.1, 0.18])]
    c1 = random_colour(rng) if c1 is None else c1
    c2 = random_colour(rng) if rng.random() < 0.6 else np.clip(c1 * rng.uniform(0.4, 0.8), 0, 1)
    return Material(str(kind), c1, c2, period=float(rng.uniform(0.03, 0.14)),
                    specular=float(rng.uniform(0.0, 0.35)))


def sample_outfit(rng: np.random.Generator) -> dict[str, Material]:
    """Materials for each garment slot of :mod:`.body` parts (top, sleeve, bottom, ...)."""
    skin = skin_tone(rng)
    skin_mat = Material("solid", skin, skin, specular=0.1)
    top = random_pattern(rng)
    bottom = random_pattern(rng)
    if rng.random() < 0.15:  # dress / overall: same fabric top and bottom
        bottom = top
    sleeve = top if rng.random() < 0.8 else skin_mat
    forearm = sleeve if (sleeve is top and rng.random() < 0.55) else skin_mat
    shank = bottom if rng.random() < 0.75 else skin_mat
    shoe_c = random_colour(rng, sat=(0.0, 0.6), val=(0.05, 0.7))
    shoe = Material("solid", shoe_c, shoe_c, specular=0.3)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.85, 1.15)
    bald = rng.random() < 0.08
    head = Material("head", skin, skin, specular=0.12, hair=np.clip(hair, 0, 1),
                    hairline=1.1 if bald else float(rng.uniform(0.15, 0.45)),
                    long_hair=bool(rng.random() < 0.35))
    return {"top": top, "sleeve": sleeve, "forearm": forearm, "bottom": bottom, "leg": bottom,
            "shank": shank, "shoe": shoe, "skin": skin_mat, "head": head}


def _unit(v: tuple[float, float, float]) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


_FACE = {name: _unit(d) for name, d in HEAD_LANDMARKS.items()}
_MOUTH = _unit((0.0, -0.62, 1.0))


def head_albedo(mat: Material, s: np.ndarray) -> np.ndarray:
    """Face and hair colour at unit-sphere directions ``s`` (N, 3) of the head ellipsoid
    (x left, y up, z front): eyes, nose, mouth and ears are drawn at the landmark directions."""
    out = np.broadcast_to(mat.c1.astype(np.float32), (len(s), 3)).copy()
    sx, sy, sz = s[:, 0], s[:, 1], s[:, 2]
    hair = sy > mat.hairline
    back_limit = -0.75 if mat.long_hair else -0.35
    hair |= (sz < -0.15) & (sy > back_limit) & (mat.hairline < 1.0)
    out[hair] = mat.hair
    ears = (s @ _FACE["left_ear"] > 0.975) | (s @ _FACE["right_ear"] > 0.975)
    out[ears] = mat.c1 * 0.8
    eyes = (s @ _FACE["left_eye"] > 0.992) | (s @ _FACE["right_eye"] > 0.992)
    out[eyes] = (0.06, 0.05, 0.05)
    nose = s @ _FACE["nose"] > 0.994
    out[nose] = mat.c1 * np.array([0.85, 0.72, 0.7])
    mouth = (np.abs(sx) < 0.2) & (np.abs(sy - _MOUTH[1] * 0.97) < 0.05) & (sz > 0.5)
    out[mouth] = mat.c1 * np.array([0.6, 0.35, 0.35])
    return out


def pattern_albedo(mat: Material, axial: np.ndarray, arc: np.ndarray) -> np.ndarray:
    """Colour (N, 3) of a clothing/skin material at surface coordinates (metres)."""
    c1, c2 = mat.c1.astype(np.float32), mat.c2.astype(np.float32)
    if mat.kind in ("solid", "flat"):
        return np.broadcast_to(c1, (len(axial), 3))
    p = np.float32(mat.period)
    if mat.kind == "stripes":
        w = (np.floor(axial / p) % 2).astype(np.float32)
    elif mat.kind == "vstripes":
        w = (np.floor(arc / p) % 2).astype(np.float32)
    elif mat.kind == "checks":
        w = ((np.floor(axial / p) + np.floor(arc / p)) % 2).astype(np.float32)
    elif mat.kind == "plaid":
        w = 0.5 * ((np.floor(axial / p) % 2) + (np.floor(arc / (0.7 * p)) % 2)).astype(np.float32)
    elif mat.kind == "noise":
        tex = noise_texture()
        n = tex.shape[0]
        iu = (np.floor(axial / (0.25 * p)) % n).astype(np.intp)
        iv = (np.floor(arc / (0.25 * p)) % n).astype(np.intp)
        w = tex[iu, iv]
    else:
        raise ValueError(f"unknown material kind {mat.kind!r}")
    return c1 + w[:, None] * (c2 - c1)
