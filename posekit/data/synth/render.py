"""NumPy ray-caster for ellipsoids and capsules with a z-buffer, ids and Lambert/Blinn shading.

All geometry is in camera coordinates (OpenCV: x right, y down, z forward, metres). The ray
through pixel (x, y) is ``t * (u, v, 1)`` with ``u = (x - cx) / fx``, ``v = (y - cy) / fy``,
so the ray parameter ``t`` is the z-depth. Pixel centres are at integer coordinates.

Two passes: a depth pass per primitive over the pixels of its exact projected bounding box
(from the dual conic of the ellipsoid) keeps the nearest hit (z-buffer and owner id); a
shading pass recomputes surface coordinates only for the pixels each primitive owns.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .textures import Material, head_albedo, pattern_albedo

NEAR = 0.05  # metres; primitives reaching closer to the camera plane are culled


@dataclass(frozen=True)
class Light:
    """Directional light. direction: (3,) unit vector from the surface TOWARD the light, in
    camera coordinates; colour: (3,) RGB gain; ambient in [0, 1]; shininess: Blinn exponent."""

    direction: np.ndarray
    colour: np.ndarray
    ambient: float = 0.5
    shininess: float = 20.0


@dataclass
class Primitives:
    """Ellipsoids and capsules to render, in camera coordinates.

    Each primitive has a material, a person index (-1 for scenery) and a part index (-1 for
    scenery). Owner ids in :class:`RenderOutput` number ellipsoids first, then capsules.
    """

    materials: list[Material] = field(default_factory=list)
    ell_center: list[np.ndarray] = field(default_factory=list)
    ell_rot: list[np.ndarray] = field(default_factory=list)
    ell_radii: list[np.ndarray] = field(default_factory=list)
    ell_axis: list[int] = field(default_factory=list)
    ell_mat: list[int] = field(default_factory=list)
    ell_person: list[int] = field(default_factory=list)
    ell_part: list[int] = field(default_factory=list)
    cap_p0: list[np.ndarray] = field(default_factory=list)
    cap_p1: list[np.ndarray] = field(default_factory=list)
    cap_radius: list[float] = field(default_factory=list)
    cap_mat: list[int] = field(default_factory=list)
    cap_person: list[int] = field(default_factory=list)

    def material(self, mat: Material) -> int:
        """Register a material (deduplicated by identity) and return its index."""
        for i, m in enumerate(self.materials):
            if m is mat:
                return i
        self.materials.append(mat)
        return len(self.materials) - 1

    def add_ellipsoid(self, center: np.ndarray, rotation: np.ndarray, radii: np.ndarray, axis: int,
                      material: Material, person: int = -1, part: int = -1) -> None:
        """center (3,), rotation (3, 3) with the ellipsoid axes as columns, radii (3,);
        ``axis`` is the index of the axis along which patterns run."""
        self.ell_center.append(np.asarray(center, np.float64))
        self.ell_rot.append(np.asarray(rotation, np.float64))
        self.ell_radii.append(np.asarray(radii, np.float64))
        self.ell_axis.append(int(axis))
        self.ell_mat.append(self.material(material))
        self.ell_person.append(int(person))
        self.ell_part.append(int(part))

    def add_capsule(self, p0: np.ndarray, p1: np.ndarray, radius: float, material: Material,
                    person: int = -1) -> None:
        """Capsule: all points within ``radius`` of the segment p0-p1 (3,) each."""
        self.cap_p0.append(np.asarray(p0, np.float64))
        self.cap_p1.append(np.asarray(p1, np.float64))
        self.cap_radius.append(float(radius))
        self.cap_mat.append(self.material(material))
        self.cap_person.append(int(person))

    @property
    def count(self) -> int:
        return len(self.ell_center) + len(self.cap_p0)

    def person_of_owner(self) -> np.ndarray:
        """(count + 1,) person index per owner id, with the last entry (owner -1) = -1."""
        return np.array(self.ell_person + self.cap_person + [-1], np.int32)

    def part_of_owner(self) -> np.ndarray:
        """(count + 1,) part index per owner id (-1 for scenery and background)."""
        return np.array(self.ell_part + [-1] * len(self.cap_p0) + [-1], np.int32)


@dataclass
class RenderOutput:
    """rgb: (H, W, 3) float32 in [0, 1]; depth: (H, W) float64 z-buffer (inf = background);
    owner: (H, W) int32 primitive id (-1 = background)."""

    rgb: np.ndarray
    depth: np.ndarray
    owner: np.ndarray


def _pixel_range(lo: float, hi: float, size: int) -> tuple[int, int] | None:
    a, b = max(int(np.ceil(lo)), 0), min(int(np.floor(hi)), size - 1)
    return (a, b) if a <= b else None


def pixel_box(ext: tuple[float, float, float, float] | np.ndarray, width: int, height: int
              ) -> tuple[int, int, int, int] | None:
    """Inclusive pixel box (x0, x1, y0, y1) of the pixel centres inside a continuous extent
    (xmin, xmax, ymin, ymax), clipped to the image; None when empty."""
    xr = _pixel_range(ext[0], ext[1], width)
    yr = _pixel_range(ext[2], ext[3], height)
    if xr is None or yr is None:
        return None
    return xr[0], xr[1], yr[0], yr[1]


def continuous_bbox(K: np.ndarray, center: np.ndarray, axes: np.ndarray) -> tuple[float, float, float, float] | None:
    """Exact image extent (xmin, xmax, ymin, ymax) of a projected ellipsoid via its dual conic
    ``C* = K (A A^T - c c^T) K^T``; None if the ellipsoid reaches closer than :data:`NEAR`."""
    ext, ok = continuous_bboxes(K, center[None], axes[None])
    return tuple(float(v) for v in ext[0]) if ok[0] else None


def continuous_bboxes(K: np.ndarray, centers: np.ndarray, axes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`continuous_bbox` for centers (P, 3) and axes (P, 3, 3): returns the
    extents (P, 4) as (xmin, xmax, ymin, ymax) and a validity mask (P,) (False = too near)."""
    S = np.einsum("pij,pkj->pik", axes, axes)
    ok = centers[:, 2] - np.sqrt(S[:, 2, 2]) >= NEAR
    C = np.einsum("ij,pjk,lk->pil", K, S - centers[:, :, None] * centers[:, None, :], K)
    out = np.empty((len(centers), 4))
    c22 = np.where(ok, C[:, 2, 2], -1.0)
    for k in (0, 1):
        r = np.sqrt(np.maximum(C[:, k, 2] ** 2 - C[:, k, k] * c22, 0.0))
        a, b = (C[:, k, 2] - r) / c22, (C[:, k, 2] + r) / c22
        out[:, 2 * k] = np.minimum(a, b)
        out[:, 2 * k + 1] = np.maximum(a, b)
    return out, ok


def _quadratic_form(Q: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """[u, v, 1] Q [u, v, 1]^T for a row ``u`` (1, w) and a column ``v`` (h, 1) -> (h, w)."""
    row = (Q[0, 0] * u + 2.0 * Q[0, 2]) * u
    col = (Q[1, 1] * v + 2.0 * Q[1, 2]) * v + Q[2, 2]
    return (row + col) + (2.0 * Q[0, 1] * v) * u


def _sphere_t(centre: np.ndarray, r: float, u: np.ndarray, v: np.ndarray, dd: np.ndarray) -> np.ndarray:
    """Nearest ray parameter of a sphere hit (NaN where missed); dd = |(u, v, 1)|^2."""
    cc = centre @ centre - r * r
    disc = _quadratic_form(centre[:, None] * centre[None, :] - cc * np.eye(3), u, v)
    b = centre[0] * u + (centre[1] * v + centre[2])
    return (b - np.sqrt(disc)) / dd


def _capsule_t(p0: np.ndarray, p1: np.ndarray, r: float, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Nearest ray parameter of a capsule hit: the minimum over the lateral cylinder surface
    within the segment and the two end spheres (NaN where missed)."""
    axis = p1 - p0
    length = float(np.linalg.norm(axis))
    w = axis / max(length, 1e-12)
    pp = p0 - (p0 @ w) * w  # component of p0 orthogonal to the axis
    cc = pp @ pp - r * r
    proj = np.eye(3) - w[:, None] * w[None, :]
    a = _quadratic_form(proj, u, v)
    disc = _quadratic_form(pp[:, None] * pp[None, :] - cc * proj, u, v)
    b = pp[0] * u + (pp[1] * v + pp[2])
    t = (b - np.sqrt(disc)) / a
    h = t * (w[0] * u + (w[1] * v + w[2])) - p0 @ w
    t = np.where((h >= 0.0) & (h <= length), t, np.nan)
    dd = _quadratic_form(np.eye(3), u, v)
    t = np.fmin(t, _sphere_t(p0, r, u, v, dd))
    return np.fmin(t, _sphere_t(p1, r, u, v, dd))


class _Frame:
    """Per-image buffers and the pixel -> ray mapping."""

    def __init__(self, K: np.ndarray, width: int, height: int):
        self.K, self.width, self.height = K, width, height
        self.fx, self.fy, self.cx, self.cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        self.depth = np.full((height, width), np.inf)
        self.owner = np.full((height, width), -1, np.int32)

    def grid(self, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        x0, x1, y0, y1 = box
        u = ((np.arange(x0, x1 + 1) - self.cx) / self.fx)[None, :]
        v = ((np.arange(y0, y1 + 1) - self.cy) / self.fy)[:, None]
        return u, v

    def merge(self, box: tuple[int, int, int, int], t: np.ndarray, idx: int) -> None:
        x0, x1, y0, y1 = box
        zs = self.depth[y0:y1 + 1, x0:x1 + 1]
        closer = t < zs  # NaN (miss) compares False
        np.copyto(zs, t, where=closer)
        np.copyto(self.owner[y0:y1 + 1, x0:x1 + 1], np.int32(idx), where=closer)

    def owned(self, box: tuple[int, int, int, int], idx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel rows, cols and ray directions (N, 3) of the pixels owned by ``idx``."""
        x0, x1, y0, y1 = box
        ys, xs = np.nonzero(self.owner[y0:y1 + 1, x0:x1 + 1] == idx)
        ys += y0
        xs += x0
        t = self.depth[ys, xs]
        d = np.stack([(xs - self.cx) / self.fx, (ys - self.cy) / self.fy, np.ones(len(xs))], axis=1)
        return ys, xs, d * t[:, None]


def _shade(albedo: np.ndarray, normal: np.ndarray, mat: Material, light: Light) -> np.ndarray:
    """Lambert + Blinn specular (viewer along -z). normal: (N, 3) unit, facing the camera."""
    ndl = np.maximum(normal @ light.direction, 0.0)[:, None]
    half = light.direction + np.array([0.0, 0.0, -1.0])
    half /= np.linalg.norm(half)
    spec = mat.specular * np.maximum(normal @ half, 0.0) ** light.shininess
    lit = albedo * (light.ambient + (1.0 - light.ambient) * ndl) + spec[:, None]
    return (lit * light.colour).astype(np.float32)


def render(prims: Primitives, K: np.ndarray, width: int, height: int, light: Light,
           background: np.ndarray) -> RenderOutput:
    """Ray-cast ``prims`` over ``background`` ((H, W, 3) float32 in [0, 1])."""
    frame = _Frame(K, width, height)
    ell_boxes: list[tuple[int, int, int, int] | None] = []
    if prims.ell_center:
        ext, ok = continuous_bboxes(K, np.array(prims.ell_center),
                                    np.array(prims.ell_rot) * np.array(prims.ell_radii)[:, None, :])
        ell_boxes = [pixel_box(e, width, height) if valid else None for e, valid in zip(ext, ok)]
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, (c, R, r) in enumerate(zip(prims.ell_center, prims.ell_rot, prims.ell_radii)):
            box = ell_boxes[i]
            if box is None:
                continue
            u, v = frame.grid(box)
            M = (R / r).T  # camera vector -> unit-sphere frame
            m = M @ c
            MtM = M.T @ M
            Mm = M.T @ m
            cc = m @ m - 1.0
            a = _quadratic_form(MtM, u, v)
            disc = _quadratic_form(Mm[:, None] * Mm[None, :] - cc * MtM, u, v)
            b = Mm[0] * u + (Mm[1] * v + Mm[2])
            frame.merge(box, (b - np.sqrt(disc)) / a, i)
        n_ell = len(prims.ell_center)
        cap_boxes = []
        for i, (p0, p1, r) in enumerate(zip(prims.cap_p0, prims.cap_p1, prims.cap_radius)):
            ext = [continuous_bbox(K, p, np.eye(3) * r) for p in (p0, p1)]
            if ext[0] is None or ext[1] is None:
                cap_boxes.append(None)
                continue
            box = pixel_box((min(ext[0][0], ext[1][0]), max(ext[0][1], ext[1][1]),
                             min(ext[0][2], ext[1][2]), max(ext[0][3], ext[1][3])), width, height)
            cap_boxes.append(box)
            if box is None:
                continue
            u, v = frame.grid(box)
            frame.merge(box, _capsule_t(p0, p1, r, u, v), n_ell + i)

    rgb = background.astype(np.float32, copy=True)
    for i, box in enumerate(ell_boxes):
        if box is None:
            continue
        ys, xs, X = frame.owned(box, i)
        if len(ys) == 0:
            continue
        c, R, r = prims.ell_center[i], prims.ell_rot[i], prims.ell_radii[i]
        s = ((X - c) @ R) / r  # unit-sphere coordinates
        s /= np.linalg.norm(s, axis=1, keepdims=True)
        n = (s / r) @ R.T
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        mat = prims.materials[prims.ell_mat[i]]
        if mat.kind == "head":
            albedo = head_albedo(mat, s.astype(np.float32))
        else:
            k = prims.ell_axis[i]
            o1, o2 = [j for j in range(3) if j != k]
            axial = s[:, k] * r[k]
            arc = np.arctan2(s[:, o1], s[:, o2]) * (0.5 * (r[o1] + r[o2]))
            albedo = pattern_albedo(mat, axial.astype(np.float32), arc.astype(np.float32))
        rgb[ys, xs] = _shade(albedo, n, mat, light)
    for i, box in enumerate(cap_boxes):
        if box is None:
            continue
        ys, xs, X = frame.owned(box, n_ell + i)
        if len(ys) == 0:
            continue
        p0, p1, r = prims.cap_p0[i], prims.cap_p1[i], prims.cap_radius[i]
        axis = p1 - p0
        length = max(float(np.linalg.norm(axis)), 1e-12)
        w = axis / length
        h = np.clip((X - p0) @ w, 0.0, length)
        n = X - (p0 + h[:, None] * w)
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        e1 = np.cross(w, [0.0, 0.0, 1.0] if abs(w[2]) < 0.9 else [1.0, 0.0, 0.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(w, e1)
        arc = np.arctan2(n @ e2, n @ e1) * r
        mat = prims.materials[prims.cap_mat[i]]
        albedo = pattern_albedo(mat, h.astype(np.float32), arc.astype(np.float32))
        rgb[ys, xs] = _shade(albedo, n, mat, light)
    return RenderOutput(rgb, frame.depth, frame.owner)
