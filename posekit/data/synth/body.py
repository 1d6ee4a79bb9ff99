"""Anthropometric body model: bone lengths, girth and the part ellipsoids in the rest pose.

World frame (metres): y up, the person faces +z, x points to the person's LEFT; the feet
stand on y = 0. The rest pose is an I-pose (arms hanging, palms facing the thighs).

Segment lengths are fractions of stature H from Drillis & Contini (1966), as reproduced in
D. A. Winter, *Biomechanics and Motor Control of Human Movement*, Fig. 4.1. Each segment
is multiplied by a log-normal factor (sigma 3.5 %) shared by left and right.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .points import INDEX, NUM_JOINTS, POINT_NAMES

# Drillis & Contini fractions of stature (Winter, Fig. 4.1).
DRILLIS_CONTINI = {
    "upper_arm": 0.186,      # shoulder -> elbow
    "forearm": 0.146,        # elbow -> wrist
    "hand": 0.108,           # wrist -> fingertip
    "thigh": 0.245,          # hip -> knee
    "shank": 0.246,          # knee -> ankle
    "foot": 0.152,           # heel -> toe
    "ankle_height": 0.039,
    "shoulder_width": 0.259,  # biacromial
    "hip_width": 0.191,
    "shoulder_height": 0.818,
    "hip_height": 0.530,
    "chin_height": 0.870,
    "head": 0.130,           # chin -> vertex
}
SEGMENTS = ("upper_arm", "forearm", "hand", "thigh", "shank", "foot", "torso", "neck",
            "head", "shoulder_width", "hip_width")
SEGMENT_SIGMA = 0.035
GIRTH_SIGMA = 0.15
# Limb ellipsoids extend this factor beyond the bone length so that joints are covered.
LIMB_OVERLAP = 1.2


@dataclass(frozen=True)
class BodyShape:
    """Sampled body parameters. ``height`` is the nominal stature H in metres."""

    height: float
    girth: float
    girth_upper: float
    girth_lower: float
    scales: dict[str, float] = field(default_factory=dict)
    child: bool = False

    def to_json(self) -> dict:
        return {"height": round(self.height, 4), "girth": round(self.girth, 4),
                "girth_upper": round(self.girth_upper, 4),
                "girth_lower": round(self.girth_lower, 4),
                "segment_scales": {k: round(v, 4) for k, v in self.scales.items()},
                "child": self.child}


@dataclass(frozen=True)
class Part:
    """One body part: an ellipsoid rigidly attached to joint ``joint``.

    ``center`` (3,) and ``radii`` (3,) are given in the world frame of the rest pose, where
    every part is axis-aligned; ``axis`` is the index of its long axis (texture direction);
    ``touches`` are the joints the part spans (parts sharing a joint are not collision-tested).
    """

    name: str
    joint: int
    center: np.ndarray
    radii: np.ndarray
    axis: int
    touches: frozenset[int]
    material: str  # garment slot: top, sleeve, forearm, bottom, leg, shank, shoe, skin, head


@dataclass(frozen=True)
class BodyModel:
    """Rest geometry of one person.

    joints: (30, 3) rest positions of the superset points (world frame, feet on y = 0).
    point_radius: (30,) local body radius around each point, used by the visibility rule.
    parts: the 17 ellipsoids.
    """

    shape: BodyShape
    joints: np.ndarray
    point_radius: np.ndarray
    parts: tuple[Part, ...]

    @property
    def stature(self) -> float:
        return float(self.joints[INDEX["head_top"], 1])


def sample_body(rng: np.random.Generator, child_prob: float = 0.0,
                girth_sigma: float = GIRTH_SIGMA) -> BodyShape:
    """Sample stature, segment scales and girth (adults H ~ N(1.70, 0.09) m)."""
    child = bool(rng.random() < child_prob)
    scales = {k: float(np.exp(rng.normal(0.0, SEGMENT_SIGMA))) for k in SEGMENTS}
    if child:
        height = float(rng.uniform(1.0, 1.45))
        k = (1.55 - height) / 0.55  # 0.18 (tall child) .. 1 (small child)
        scales["head"] *= 1.0 + 0.35 * k
        scales["torso"] *= 1.0 + 0.06 * k
        for s in ("thigh", "shank"):
            scales[s] *= 1.0 - 0.08 * k
    else:
        height = float(np.clip(rng.normal(1.70, 0.09), 1.45, 2.05))
    girth = float(np.clip(np.exp(rng.normal(0.0, girth_sigma)), 0.7, 1.6))
    gu = float(girth * np.exp(rng.normal(0.0, 0.06)))
    gl = float(girth * np.exp(rng.normal(0.0, 0.06)))
    return BodyShape(height, girth, gu, gl, scales, child)


def _rest_joints(shape: BodyShape) -> np.ndarray:
    h, s = shape.height, shape.scales
    gu, gl = shape.girth_upper, shape.girth_lower
    dc = DRILLIS_CONTINI
    p = np.zeros((len(POINT_NAMES), 3))

    def put(name: str, x: float, y: float, z: float) -> None:
        p[INDEX[name]] = (x, y, z)

    ankle_y = dc["ankle_height"] * h
    knee_y = ankle_y + dc["shank"] * h * s["shank"]
    hip_y = knee_y + dc["thigh"] * h * s["thigh"]  # = 0.530 H for unit scales
    # Hip joint centres: about 56 % of the bitrochanteric width apart, widening with girth.
    hip_x = 0.28 * dc["hip_width"] * h * s["hip_width"] * (0.7 + 0.3 * gl)
    pelvis_y = hip_y + 0.015 * h
    torso = 0.285 * h * s["torso"]  # pelvis -> neck (neck base at ~0.83 H)
    neck_y = pelvis_y + torso
    head_y = neck_y + 0.05 * h * s["neck"]
    # Shoulder joint centres lie ~2 % H inside the acromion tips; spread with upper girth.
    sh_x = (0.5 * dc["shoulder_width"] - 0.025) * h * s["shoulder_width"] * (0.6 + 0.4 * gu)
    sh_y = neck_y - 0.03 * h
    for side, sx in (("left", 1.0), ("right", -1.0)):
        put(f"{side}_hip", sx * hip_x, hip_y, 0.0)
        put(f"{side}_knee", sx * hip_x, knee_y, 0.0)
        put(f"{side}_ankle", sx * hip_x, ankle_y, 0.0)
        put(f"{side}_foot", sx * hip_x, 0.012 * h, 0.08 * h * s["foot"])
        put(f"{side}_collar", sx * 0.04 * h * gu, neck_y - 0.025 * h, -0.005 * h)
        put(f"{side}_shoulder", sx * sh_x, sh_y, -0.005 * h)
        elbow_y = sh_y - dc["upper_arm"] * h * s["upper_arm"]
        wrist_y = elbow_y - dc["forearm"] * h * s["forearm"]
        put(f"{side}_elbow", sx * sh_x, elbow_y, -0.005 * h)
        put(f"{side}_wrist", sx * sh_x, wrist_y, -0.005 * h)
        # SMPL's hand joint sits near the knuckles, ~45 % of the hand length below the wrist.
        put(f"{side}_hand", sx * sh_x, wrist_y - 0.45 * dc["hand"] * h * s["hand"], -0.005 * h)
    put("pelvis", 0.0, pelvis_y, -0.005 * h)
    put("spine1", 0.0, pelvis_y + 0.22 * torso, -0.008 * h)
    put("spine2", 0.0, pelvis_y + 0.46 * torso, -0.01 * h)
    put("spine3", 0.0, pelvis_y + 0.62 * torso, -0.008 * h)
    put("neck", 0.0, neck_y, -0.01 * h)
    put("head", 0.0, head_y, 0.0)
    hc, hr = head_geometry(shape, p[INDEX["head"]])
    for name, direction in HEAD_LANDMARKS.items():
        d = np.asarray(direction, dtype=np.float64)
        p[INDEX[name]] = hc + hr * d / np.linalg.norm(d)
    return p


# Landmark directions in the unit-sphere frame of the head ellipsoid (x left, y up, z front):
# the point is centre + radii * normalize(direction), i.e. on the head surface.
HEAD_LANDMARKS = {
    "nose": (0.0, -0.3, 1.0),
    "left_eye": (0.5, 0.1, 1.0),
    "right_eye": (-0.5, 0.1, 1.0),
    "left_ear": (1.0, -0.05, -0.1),
    "right_ear": (-1.0, -0.05, -0.1),
    "head_top": (0.0, 1.0, 0.0),
}


def head_geometry(shape: BodyShape, head_joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (3,) and radii (3,) of the head ellipsoid; chin-to-vertex = 0.130 H."""
    h, s = shape.height, shape.scales["head"]
    radii = np.array([0.042, 0.063, 0.052]) * h * s
    centre = head_joint + np.array([0.0, 0.058 * h * s, 0.008 * h * s])
    return centre, radii


# Local body radius around each point as a fraction of H (body points also scale with girth).
_POINT_RADIUS = {
    "pelvis": 0.065, "hip": 0.065, "spine1": 0.065, "knee": 0.035, "spine2": 0.065,
    "ankle": 0.022, "spine3": 0.065, "foot": 0.018, "neck": 0.03, "collar": 0.04,
    "head": 0.045, "shoulder": 0.04, "elbow": 0.026, "wrist": 0.02, "hand": 0.012,
}
LANDMARK_RADIUS = 0.01


def _point_radius(shape: BodyShape) -> np.ndarray:
    r = np.empty(len(POINT_NAMES))
    for i, name in enumerate(POINT_NAMES):
        if i >= NUM_JOINTS:
            r[i] = LANDMARK_RADIUS * shape.height
            continue
        key = name.split("_", 1)[1] if name.startswith(("left_", "right_")) else name
        r[i] = _POINT_RADIUS[key] * shape.height * shape.girth
    return r


def _limb(name: str, a: str, b: str, joints: np.ndarray, h: float, rx: float, rz: float,
          material: str) -> Part:
    pa, pb = joints[INDEX[a]], joints[INDEX[b]]
    half = 0.5 * LIMB_OVERLAP * float(np.linalg.norm(pb - pa))
    return Part(name, INDEX[a], 0.5 * (pa + pb), np.array([rx * h, half, rz * h]), 1,
                frozenset({INDEX[a], INDEX[b]}), material)


def _parts(shape: BodyShape, j: np.ndarray) -> tuple[Part, ...]:
    h = shape.height
    gu, gl = shape.girth_upper, shape.girth_lower
    i = INDEX
    parts = [
        Part("pelvis", i["pelvis"], j[i["pelvis"]] + np.array([0.0, -0.015 * h, 0.0]),
             np.array([0.1 * gl, 0.07, 0.07 * gl]) * h, 0,
             frozenset({i["pelvis"], i["left_hip"], i["right_hip"], i["spine1"]}), "bottom"),
        Part("abdomen", i["spine1"], 0.5 * (j[i["spine1"]] + j[i["spine2"]]) + [0, 0, 0.005 * h],
             np.array([0.088 * gu, 0.075, 0.062 * gu]) * h, 1,
             frozenset({i["pelvis"], i["spine1"], i["spine2"]}), "top"),
        Part("chest", i["spine3"], j[i["spine3"]] + np.array([0.0, 0.025 * h, 0.008 * h]),
             np.array([0.1 * gu, 0.095, 0.066 * gu]) * h, 0,
             frozenset({i["spine2"], i["spine3"], i["neck"], i["left_collar"],
                        i["right_collar"], i["left_shoulder"], i["right_shoulder"]}), "top"),
        Part("neck", i["neck"], 0.5 * (j[i["neck"]] + j[i["head"]]),
             np.array([0.028 * gu, 0.04, 0.03 * gu]) * h, 1,
             frozenset({i["neck"], i["head"]}), "skin"),
    ]
    hc, hr = head_geometry(shape, j[i["head"]])
    parts.append(Part("head", i["head"], hc, hr, 1, frozenset({i["head"]}), "head"))
    dc = DRILLIS_CONTINI
    for side in ("left", "right"):
        sd = f"{side}_"
        parts += [
            _limb(sd + "upper_arm", sd + "shoulder", sd + "elbow", j, h, 0.031 * gu, 0.033 * gu, "sleeve"),
            _limb(sd + "forearm", sd + "elbow", sd + "wrist", j, h, 0.024 * gu, 0.026 * gu, "forearm"),
            _limb(sd + "thigh", sd + "hip", sd + "knee", j, h, 0.05 * gl, 0.052 * gl, "leg"),
            _limb(sd + "shank", sd + "knee", sd + "ankle", j, h, 0.034 * gl, 0.036 * gl, "shank"),
        ]
        wrist = j[i[sd + "wrist"]]
        hand_len = dc["hand"] * h * shape.scales["hand"]
        parts.append(Part(sd + "hand", i[sd + "wrist"], wrist - np.array([0.0, 0.5 * hand_len, 0.0]),
                          np.array([0.013 * h, 0.5 * hand_len, 0.026 * h]), 1,
                          frozenset({i[sd + "wrist"], i[sd + "hand"]}), "skin"))
        ankle = j[i[sd + "ankle"]]
        foot_len = dc["foot"] * h * shape.scales["foot"]
        # Heel ~23 % of the foot length behind the ankle; the sole touches y = 0.
        parts.append(Part(sd + "foot", i[sd + "ankle"],
                          np.array([ankle[0], 0.022 * h, ankle[2] + 0.27 * foot_len]),
                          np.array([0.028 * h, 0.022 * h, 0.5 * foot_len]), 2,
                          frozenset({i[sd + "ankle"], i[sd + "foot"]}), "shoe"))
    return tuple(parts)


def build_body(shape: BodyShape) -> BodyModel:
    """Rest joints (30, 3), per-point radii (30,) and the 17 part ellipsoids of ``shape``."""
    joints = _rest_joints(shape)
    return BodyModel(shape, joints, _point_radius(shape), _parts(shape, joints))
