"""Forward kinematics of the body model and the capsule self-collision test.

Joint rotations are Euler angles (radians) per joint, columns (x, y, z) =
(flexion/extension, twist about the bone, ab/adduction), composed as
``R = Rz(z) @ Rx(x) @ Ry(y)`` in the parent's frame (twist first, then flexion, then
abduction). At rest every local frame is aligned with the world frame (y up, x left, z front).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .body import BodyModel
from .points import NUM_JOINTS, PARENTS

# Parts are rejected as colliding when their capsules overlap by more than this fraction
# of the sum of their radii (REFERENCE-SYNTHETIC 1.2: 40 %).
COLLISION_TOLERANCE = 0.4


def euler_to_matrix(angles: np.ndarray) -> np.ndarray:
    """(..., 3) Euler angles (x, y, z) in radians -> (..., 3, 3) ``Rz(z) @ Rx(x) @ Ry(y)``."""
    a = np.asarray(angles, dtype=np.float64)
    cx, cy, cz = np.cos(a[..., 0]), np.cos(a[..., 1]), np.cos(a[..., 2])
    sx, sy, sz = np.sin(a[..., 0]), np.sin(a[..., 1]), np.sin(a[..., 2])
    out = np.empty(a.shape[:-1] + (3, 3))
    # Rz @ Rx @ Ry, expanded.
    out[..., 0, 0] = cz * cy - sz * sx * sy
    out[..., 0, 1] = -sz * cx
    out[..., 0, 2] = cz * sy + sz * sx * cy
    out[..., 1, 0] = sz * cy + cz * sx * sy
    out[..., 1, 1] = cz * cx
    out[..., 1, 2] = sz * sy - cz * sx * cy
    out[..., 2, 0] = -cx * sy
    out[..., 2, 1] = sx
    out[..., 2, 2] = cx * cy
    return out


def axis_rotation(axis: str, angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about the world axis ``'x'``, ``'y'`` or ``'z'``."""
    c, s = np.cos(angle), np.sin(angle)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    if axis == "z":
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")


@dataclass(frozen=True)
class PosedBody:
    """A posed body in its own frame (root rotation applied, not yet placed in the world).

    points: (30, 3) superset points; rotations: (24, 3, 3) global joint rotations;
    part_centers: (P, 3); part_rotations: (P, 3, 3) (columns = part axes); part_radii: (P, 3).
    """

    points: np.ndarray
    rotations: np.ndarray
    part_centers: np.ndarray
    part_rotations: np.ndarray
    part_radii: np.ndarray


def pose_body(body: BodyModel, euler: np.ndarray, root: np.ndarray) -> PosedBody:
    """Forward kinematics. euler: (24, 3) local angles; root: (3, 3) pelvis orientation.

    The pelvis stays at its rest position; rotations are about the pelvis joint.
    """
    local = euler_to_matrix(euler)
    rest = body.joints
    pts = np.empty_like(rest)
    rot = np.empty((NUM_JOINTS, 3, 3))
    rot[0] = root @ local[0]
    pts[0] = rest[0]
    for j in range(1, len(PARENTS)):
        par = PARENTS[j]
        pts[j] = pts[par] + rot[par] @ (rest[j] - rest[par])
        if j < NUM_JOINTS:
            rot[j] = rot[par] @ local[j]
    jidx = np.array([p.joint for p in body.parts])
    c_rest = np.stack([p.center for p in body.parts])
    prot = rot[jidx]
    centers = pts[jidx] + np.einsum("pij,pj->pi", prot, c_rest - rest[jidx])
    radii = np.stack([p.radii for p in body.parts])
    return PosedBody(pts, rot, centers, prot, radii)


def lowest_surface_y(posed: PosedBody) -> float:
    """Smallest y over all part ellipsoids (exact support function of an ellipsoid)."""
    # Extent along world y of an ellipsoid with axes R[:, k] * r_k: sqrt(sum_k (R[1, k] r_k)^2).
    ext = np.sqrt(np.sum((posed.part_rotations[:, 1, :] * posed.part_radii) ** 2, axis=1))
    return float(np.min(posed.part_centers[:, 1] - ext))


def part_capsules(posed: PosedBody) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Capsule approximation of each ellipsoid: endpoints (P, 3), (P, 3) and radius (P,).

    The capsule axis is the longest ellipsoid axis; its radius the mean of the other two.
    """
    r = posed.part_radii
    k = np.argmax(r, axis=1)
    rows = np.arange(len(r))
    r_long = r[rows, k]
    r_cap = (r.sum(axis=1) - r_long) / 2.0
    half = np.maximum(r_long - r_cap, 0.0)
    axis = posed.part_rotations[rows, :, k]
    return posed.part_centers - axis * half[:, None], posed.part_centers + axis * half[:, None], r_cap


@lru_cache(maxsize=4)
def collision_pairs(touches: tuple[frozenset, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j), i < j, of parts that share no joint (so they must not overlap)."""
    ii, jj = [], []
    for a in range(len(touches)):
        for b in range(a + 1, len(touches)):
            if not touches[a] & touches[b]:
                ii.append(a)
                jj.append(b)
    return np.array(ii), np.array(jj)


def segment_distances(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Closest distance between segments p0-p1 and q0-q1, vectorised over (N, 3) inputs.

    Closed form for the closest points of two segments with clamping of both parameters
    (Ericson, *Real-Time Collision Detection*, 5.1.9).
    """
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a = np.einsum("ij,ij->i", d1, d1) + 1e-12
    e = np.einsum("ij,ij->i", d2, d2) + 1e-12
    b = np.einsum("ij,ij->i", d1, d2)
    c = np.einsum("ij,ij->i", d1, r)
    f = np.einsum("ij,ij->i", d2, r)
    denom = a * e - b * b
    s = np.where(denom > 1e-12, np.clip((b * f - c * e) / np.maximum(denom, 1e-12), 0.0, 1.0), 0.0)
    t = np.clip((b * s + f) / e, 0.0, 1.0)
    # Re-solve s for the clamped t (also covers degenerate and parallel segments).
    s = np.clip((b * t - c) / a, 0.0, 1.0)
    diff = (p0 + d1 * s[:, None]) - (q0 + d2 * t[:, None])
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def max_penetration(body: BodyModel, posed: PosedBody) -> float:
    """Largest capsule overlap between non-adjacent parts, as a fraction of the radius sum."""
    ii, jj = collision_pairs(tuple(p.touches for p in body.parts))
    a, b, rad = part_capsules(posed)
    dist = segment_distances(a[ii], b[ii], a[jj], b[jj])
    rsum = rad[ii] + rad[jj]
    return float(np.max((rsum - dist) / rsum))
