"""Procedural backgrounds: a cached per-process bank of textured walls, per-image variation
(crop, zoom, flip, colour jitter), a ground plane rendered for the image's camera, and 2D
clutter shapes.

The bank depends only on (dataset seed, image size, bank size), so every worker process
builds the same bank and image i still depends only on (seed, i).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from .textures import noise_texture, random_colour

BANK_MARGIN = 1.25  # bank images are this much larger than the output, for random crops


def _fractal_noise(rng: np.random.Generator, h: int, w: int, octaves: int = 4) -> np.ndarray:
    """(h, w) float32 fractal value noise in [0, 1]."""
    acc = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    cells = int(rng.integers(2, 6))
    for _ in range(octaves):
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        acc += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
        cells *= 2
    acc /= total
    acc -= acc.min()
    return acc / max(float(acc.max()), 1e-6)


def _wall(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    c1, c2 = random_colour(rng, val=(0.2, 0.9)), random_colour(rng, val=(0.1, 0.9))
    n = _fractal_noise(rng, h, w)[..., None]
    img = c1 + n * (c2 - c1)
    style = rng.integers(4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if style == 1:  # bricks / tiles
        bh = rng.uniform(8, 30)
        bw = bh * rng.uniform(1.0, 3.0)
        row = np.floor(yy / bh)
        off = (row % 2) * bw * 0.5
        edge = ((yy % bh) < 1.5) | (((xx + off) % bw) < 1.5)
        img = np.where(edge[..., None], img * 0.6, img)
    elif style == 2:  # vertical stripes (wallpaper, fences)
        period = rng.uniform(6, 40)
        img = np.where(((xx % period) < period * rng.uniform(0.2, 0.6))[..., None], img * rng.uniform(0.6, 0.9), img)
    return img.astype(np.float32)


def _floor(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Overlay a perspective ground plane (checker, grid or noise) below a random horizon."""
    h, w = img.shape[:2]
    horizon = rng.uniform(0.25, 0.7) * h
    ys = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w, dtype=np.float32)[None, :]
    below = ys > horizon + 1
    depth = np.where(below, h / np.maximum(ys - horizon, 1.0), 0.0)  # inverse distance below the horizon
    gx = (xs - w / 2) * depth / h
    gz = depth
    tile = rng.uniform(0.3, 1.2)
    c1, c2 = random_colour(rng, val=(0.15, 0.85)), random_colour(rng, val=(0.15, 0.85))
    style = rng.integers(3)
    if style == 0:
        wgt = ((np.floor(gx / tile) + np.floor(gz / tile)) % 2).astype(np.float32)
    elif style == 1:
        wgt = (((gx / tile) % 1 < 0.06) | ((gz / tile) % 1 < 0.06)).astype(np.float32)
    else:
        wgt = _fractal_noise(rng, h, w)
    floor = c1 + wgt[..., None] * (c2 - c1)
    fog = np.clip(depth / (depth.max() + 1e-6), 0, 1)[..., None] ** 0.5  # far floor fades to haze
    haze = random_colour(rng, sat=(0.0, 0.3), val=(0.5, 0.9))
    floor = floor * (1 - 0.7 * fog) + haze * 0.7 * fog
    return np.where(below[..., None], floor, img).astype(np.float32)


def _procedural(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = _wall(rng, h, w)
    if rng.random() < 0.3:
        img = _floor(rng, img)
    shade = np.linspace(rng.uniform(0.7, 1.1), rng.uniform(0.7, 1.1), h, dtype=np.float32)[:, None, None]
    return np.clip(img * shade, 0.0, 1.0)


@lru_cache(maxsize=2)
def background_bank(seed: int, width: int, height: int, size: int) -> tuple[np.ndarray, ...]:
    """``size`` procedural backgrounds, uint8 (h', w', 3) each, larger than the image by
    :data:`BANK_MARGIN`; deterministic in (seed, width, height, size)."""
    bw, bh = int(np.ceil(width * BANK_MARGIN)), int(np.ceil(height * BANK_MARGIN))
    bank = []
    for k in range(size):
        rng = np.random.default_rng([seed, k, 0xBA5E])
        bank.append((_procedural(rng, bh, bw) * 255.0 + 0.5).astype(np.uint8))
    return tuple(bank)


def draw_clutter(rng: np.random.Generator, img: np.ndarray, count: int) -> None:
    """Draw ``count`` random 2D shapes (ellipses, boxes, polygons, thick lines) in place
    on a float32 (H, W, 3) image."""
    h, w = img.shape[:2]
    s = max(h, w)
    for _ in range(count):
        colour = tuple(float(c) for c in random_colour(rng))
        kind = rng.integers(4)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        size = int(rng.uniform(0.03, 0.25) * s)
        if kind == 0:
            cv2.ellipse(img, (cx, cy), (size, max(2, int(size * rng.uniform(0.2, 1.0)))),
                        float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(img, (cx, cy), (cx + size, cy + int(size * rng.uniform(0.3, 2))), colour, -1)
        elif kind == 2:
            pts = rng.normal(0, size * 0.6, (int(rng.integers(3, 7)), 2)) + [cx, cy]
            cv2.fillPoly(img, [pts.astype(np.int32)], colour, cv2.LINE_AA)
        else:
            end = (cx + int(rng.normal(0, size)), cy + int(rng.normal(0, size)))
            cv2.line(img, (cx, cy), end, colour, max(1, int(size * rng.uniform(0.05, 0.2))), cv2.LINE_AA)


def background_crop(rng: np.random.Generator, seed: int, width: int, height: int, bank_size: int) -> np.ndarray:
    """One (H, W, 3) float32 background in [0, 1]: a bank entry chosen by ``rng``, randomly
    cropped, zoomed, flipped and colour-jittered."""
    bank = background_bank(seed, width, height, bank_size)
    src = bank[int(rng.integers(len(bank)))]
    bh, bw = src.shape[:2]
    zoom = rng.uniform(1.0 / BANK_MARGIN, 1.0)
    cw, ch = max(width, int(bw * zoom)), max(height, int(bh * zoom))
    x0, y0 = int(rng.integers(0, bw - cw + 1)), int(rng.integers(0, bh - ch + 1))
    crop = src[y0:y0 + ch, x0:x0 + cw]
    if (cw, ch) != (width, height):
        crop = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    gain = (rng.uniform(0.75, 1.2) * rng.uniform(0.9, 1.1, 3) / 255.0).astype(np.float32)
    return np.ascontiguousarray(crop, dtype=np.float32) * gain


def _floor_rays(K: np.ndarray, R: np.ndarray, w: int, h: int, step: int) -> tuple[np.ndarray, ...]:
    """World ray directions (x, y, z components, each (h', w') float32) through the pixel
    centres of every ``step``-th row and column: R^T K^-1 (x, y, 1)."""
    xs = np.arange(0, w, step, dtype=np.float32) + (step - 1) / 2
    ys = np.arange(0, h, step, dtype=np.float32) + (step - 1) / 2
    u = ((xs - K[0, 2]) / K[0, 0]).astype(np.float32)[None, :]
    v = ((ys - K[1, 2]) / K[1, 1]).astype(np.float32)[:, None]
    return tuple((R[0, k] * u + (R[1, k] * v + R[2, k])).astype(np.float32) for k in range(3))


def draw_floor(rng: np.random.Generator, img: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray,
               footprints: list[tuple[float, float, float]]) -> bool:
    """Paint the ground plane y = 0 seen by camera (K, R, t) into ``img`` (H, W, 3) float32,
    in place: a checker, tile-grid, plank or noise texture in world units with distance fog,
    and a soft contact shadow under each footprint (x, z, radius) in metres. The texture is
    evaluated at half resolution and upsampled; the horizon is exact at full resolution.
    Returns False (nothing drawn) when the camera is not above the floor."""
    centre = -R.T @ t
    if centre[1] <= 0.05:
        return False
    h, w = img.shape[:2]
    _, dy_full, _ = _floor_rays(K, R, w, h, 1)
    hit = dy_full < -1e-4
    if not hit.any():
        return False
    step = 2 if min(h, w) >= 64 else 1
    dx, dy, dz = _floor_rays(K, R, w, h, step)
    depth = -np.float32(centre[1]) / np.minimum(dy, np.float32(-1e-4))  # ray parameter = z-depth
    gx = np.float32(centre[0]) + depth * dx
    gz = np.float32(centre[2]) + depth * dz
    ang = rng.uniform(0, np.pi)
    ca, sa = np.float32(np.cos(ang)), np.float32(np.sin(ang))
    tile = np.float32(rng.uniform(0.25, 1.2))
    fx = (ca * gx + sa * gz + np.float32(rng.uniform(0, 10))) / tile
    fz = (ca * gz - sa * gx + np.float32(rng.uniform(0, 10))) / tile
    c1, c2 = random_colour(rng, val=(0.15, 0.85)), random_colour(rng, val=(0.15, 0.85))
    style = int(rng.integers(4))
    if style == 0:  # checker
        wgt = (np.floor(fx) + np.floor(fz)) % 2
    elif style == 1:  # tiles with grout lines
        wgt = (((fx % 1) < 0.05) | ((fz % 1) < 0.05)).astype(np.float32)
    else:  # planks (2) or noise (3) from the shared noise texture
        tex = noise_texture()
        n = tex.shape[0]
        ix = (np.floor(fx * (2 if style == 2 else 8)) % n).astype(np.intp)
        iz = (np.floor(fz * 8) % n).astype(np.intp)
        wgt = tex[ix, iz]
        if style == 2:
            wgt = 0.6 * wgt + 0.4 * (np.floor(fx * 4) % 2)
    # Fade the pattern to its mean where its smallest feature spans fewer than ~6 pixels.
    period = tile * (1.0, 0.3, 0.25, 0.5)[style]
    wgt = 0.5 + (wgt - 0.5) * np.clip(np.float32(K[0, 0] * period / 6.0) / depth - 0.5, 0.0, 1.0)
    shade = np.float32(rng.uniform(0.6, 1.0))
    for x, z, r in footprints:
        d2 = ((gx - np.float32(x)) ** 2 + (gz - np.float32(z)) ** 2) / np.float32(r * r)
        shade = shade * (1.0 - 0.45 / (1.0 + d2 * d2))
    fog_dist = np.float32(rng.uniform(8.0, 40.0))
    fog = depth / (depth + fog_dist)
    haze = img[hit].mean(axis=0) if rng.random() < 0.5 else random_colour(rng, sat=(0, 0.3), val=(0.5, 0.9))
    a = (1.0 - fog) * shade
    b = (1.0 - fog) * shade * wgt
    floor = (a[..., None] * c1.astype(np.float32) + b[..., None] * (c2 - c1).astype(np.float32)
             + fog[..., None] * haze.astype(np.float32))
    if step > 1:
        floor = cv2.resize(floor, (w, h), interpolation=cv2.INTER_LINEAR)
    np.copyto(img, floor, where=hit[..., None])
    return True
