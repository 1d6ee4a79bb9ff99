"""Pose sampler within human joint-angle limits, with capsule self-collision rejection.

Angles follow :mod:`.kinematics` (Euler x = flexion/extension, y = twist, z = ab/adduction,
``R = Rz @ Rx @ Ry``, rest = I-pose). Sign conventions in the rest frame (x left, y up,
z front): +x rotation swings a hanging bone backward and a rising bone (spine, neck)
forward; +z rotation swings a hanging bone toward the person's left.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .body import BodyModel
from .kinematics import COLLISION_TOLERANCE, PosedBody, axis_rotation, max_penetration, pose_body
from .points import INDEX, NUM_JOINTS, POINT_NAMES, mirror_index

# Joint limits in degrees, (x, y, z) ranges for the LEFT side and the trunk; right-side
# limits are the mirror image (y and z negated). Ranges from clinical goniometry
# (AAOS; F.A. Davis, Table A.1), as summarised in REFERENCE-SYNTHETIC 1.2:
# shoulder flexion 180 / extension 60 / abduction 180 / rotation 80; elbow flexion 150;
# wrist flexion 80 / extension 70; hip flexion 120 / extension 25 / abduction 45 /
# adduction 25 / rotation 40; knee flexion 145; ankle dorsiflexion 20 / plantarflexion 50;
# lumbar flexion 75 / extension 30 / lateral bend 35 split over three spine joints;
# neck rotation 75 split over neck and head.
_LIMITS_LEFT_DEG = {
    "pelvis": ((0, 0), (0, 0), (0, 0)),  # global orientation is sampled separately
    "left_hip": ((-120, 25), (-40, 40), (-25, 45)),
    "left_knee": ((0, 145), (-10, 10), (0, 0)),
    "left_ankle": ((-20, 50), (-15, 15), (-15, 15)),
    "left_foot": ((0, 0), (0, 0), (0, 0)),
    "spine1": ((-10, 25), (-15, 15), (-12, 12)),
    "spine2": ((-10, 25), (-15, 15), (-12, 12)),
    "spine3": ((-10, 25), (-15, 15), (-12, 12)),
    "neck": ((-25, 25), (-40, 40), (-20, 20)),
    "left_collar": ((-10, 10), (0, 0), (-10, 20)),
    "head": ((-25, 25), (-35, 35), (-15, 15)),
    "left_shoulder": ((-180, 60), (-80, 80), (-30, 180)),
    "left_elbow": ((-150, 0), (-80, 80), (0, 0)),
    "left_wrist": ((-80, 70), (0, 0), (-30, 20)),
    "left_hand": ((0, 0), (0, 0), (0, 0)),
}


def _limits() -> np.ndarray:
    lim = np.zeros((NUM_JOINTS, 3, 2))
    for j, name in enumerate(POINT_NAMES[:NUM_JOINTS]):
        if name.startswith("right_"):
            src = np.array(_LIMITS_LEFT_DEG["left_" + name[6:]], dtype=np.float64)
            src[1:] = -src[1:, ::-1]
        else:
            src = np.array(_LIMITS_LEFT_DEG[name], dtype=np.float64)
        lim[j] = src
    return np.deg2rad(lim)


JOINT_LIMITS = _limits()  # (24, 3, 2) radians: [joint, axis, (low, high)]
_MIRROR = mirror_index()[:NUM_JOINTS]


def _template(**entries: tuple[float, float, float]) -> np.ndarray:
    """Build a (24, 3) radian pose; ``both_<joint>`` sets left and mirrored right."""
    out = np.zeros((NUM_JOINTS, 3))
    for key, (x, y, z) in entries.items():
        if key.startswith("both_"):
            base = key[5:]
            out[INDEX["left_" + base]] = (x, y, z)
            out[INDEX["right_" + base]] = (x, -y, -z)
        else:
            out[INDEX[key]] = (x, y, z)
    return np.deg2rad(out)


TEMPLATES: dict[str, np.ndarray] = {
    "stand": _template(both_shoulder=(0, 0, 8), both_elbow=(-10, 0, 0)),
    "walk": _template(left_hip=(-25, 0, 3), right_hip=(15, 0, -3), left_knee=(15, 0, 0),
                      right_knee=(30, 0, 0), left_ankle=(-5, 0, 0), right_ankle=(15, 0, 0),
                      left_shoulder=(20, 0, 8), right_shoulder=(-20, 0, -8),
                      both_elbow=(-20, 0, 0)),
    "run": _template(left_hip=(-60, 0, 5), right_hip=(20, 0, -5), left_knee=(70, 0, 0),
                     right_knee=(100, 0, 0), left_shoulder=(45, 0, 10),
                     right_shoulder=(-50, 0, -10), both_elbow=(-95, 0, 0), spine1=(10, 0, 0)),
    "squat": _template(both_hip=(-110, 0, 15), both_knee=(130, 0, 0), both_ankle=(-18, 0, 0),
                       spine1=(15, 0, 0), spine2=(10, 0, 0), both_shoulder=(-80, 0, 10),
                       both_elbow=(-15, 0, 0)),
    "sit": _template(both_hip=(-90, 0, 5), both_knee=(90, 0, 0), both_shoulder=(-15, 0, 10),
                     both_elbow=(-70, 0, 0)),
    "arms_up": _template(both_shoulder=(-160, 0, -20), both_elbow=(-10, 0, 0)),
    "t_pose": _template(both_shoulder=(0, 0, 88), both_elbow=(-5, 0, 0)),
    "kick": _template(left_hip=(-85, 0, 5), left_knee=(15, 0, 0), right_hip=(5, 0, -3),
                      right_knee=(10, 0, 0), both_shoulder=(0, 0, 50), spine1=(-5, 0, 0)),
    "bend": _template(spine1=(15, 0, 0), spine2=(15, 0, 0), spine3=(10, 0, 0),
                      both_hip=(-55, 0, 5), both_shoulder=(-75, 0, 5), both_elbow=(-10, 0, 0),
                      neck=(-15, 0, 0)),
    "lunge": _template(left_hip=(-80, 0, 5), left_knee=(85, 0, 0), right_hip=(20, 0, -5),
                       right_knee=(40, 0, 0), both_shoulder=(-10, 0, 20)),
    "wave": _template(left_shoulder=(0, 75, 95), left_elbow=(-100, 0, 0),
                      right_shoulder=(0, 0, -8), right_elbow=(-10, 0, 0)),
    "hands_on_hips": _template(both_shoulder=(0, -80, 45), both_elbow=(-100, 0, 0)),
}
# Forward lean of the pelvis (degrees, +x) that goes with a template: with it, hip flexion
# tilts the trunk over the legs instead of lifting the legs in front of an upright trunk.
TEMPLATE_PELVIS_PITCH = {"bend": 50.0, "squat": 25.0, "run": 10.0, "lunge": 10.0}
NEUTRAL = TEMPLATES["stand"]


@dataclass(frozen=True)
class PoseSample:
    """A sampled pose: euler (24, 3) radians, root (3, 3) orientation, and its provenance."""

    euler: np.ndarray
    root: np.ndarray
    source: str
    mirrored: bool
    posed: PosedBody

    def to_json(self) -> dict:
        return {"euler_deg": np.round(np.rad2deg(self.euler), 2).tolist(),
                "root_rotation": np.round(self.root, 5).tolist(),
                "source": self.source, "mirrored": self.mirrored}


def soft_clip(euler: np.ndarray, knee: float = 0.8) -> np.ndarray:
    """Squash angles into the joint limits: identity in the central ``knee`` fraction of each
    range, tanh beyond it (continuous with slope 1, so sequences get no velocity kinks)."""
    lo, hi = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    safe = np.where(half > 0, half, 1.0)
    u = (euler - mid) / safe
    au = np.abs(u)
    squashed = np.where(au <= knee, u, np.sign(u) * (knee + (1 - knee) * np.tanh((au - knee) / (1 - knee))))
    return np.where(half > 0, mid + squashed * half, mid)


def mirror_pose(euler: np.ndarray) -> np.ndarray:
    """Left/right mirror image of a (24, 3) pose: swap sides, negate twist and ab/adduction."""
    out = euler[_MIRROR].copy()
    out[:, 1:] *= -1.0
    return out


def pose_mix(difficulty: float) -> dict[str, float]:
    """Probabilities of the pose sources at a difficulty in [0, 1]."""
    d = float(np.clip(difficulty, 0.0, 1.0))
    p_template = 0.65 - 0.35 * d
    p_uniform = 0.03 + 0.22 * d
    return {"template": p_template, "gauss": 1.0 - p_template - p_uniform, "uniform": p_uniform}


def _raw_pose(rng: np.random.Generator, difficulty: float, mix: dict[str, float]) -> tuple[np.ndarray, str]:
    lo, hi = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
    rng_range = hi - lo
    kind = rng.choice(list(mix), p=np.array(list(mix.values())) / sum(mix.values()))
    if kind == "template":
        name = list(TEMPLATES)[rng.integers(len(TEMPLATES))]
        sigma = (0.05 + 0.08 * difficulty) * rng_range
        return TEMPLATES[name] + rng.normal(size=lo.shape) * sigma, str(name)
    if kind == "gauss":
        sigma = (0.15 + 0.25 * difficulty) * rng_range
        return NEUTRAL + rng.normal(size=lo.shape) * sigma, "gauss"
    return rng.uniform(lo, hi), "uniform"


def _root_orientation(rng: np.random.Generator, difficulty: float) -> np.ndarray:
    tilt = axis_rotation("x", rng.normal(0, np.deg2rad(4))) @ axis_rotation("z", rng.normal(0, np.deg2rad(4)))
    u = rng.random()
    if u < 0.08 * difficulty:  # lying on the back or the front
        return axis_rotation("x", np.pi / 2 * rng.choice([-1.0, 1.0])) @ tilt
    if u < 0.11 * difficulty:  # upside down (handstand-like)
        return axis_rotation("z", np.pi) @ tilt
    return tilt


def sample_pose(rng: np.random.Generator, body: BodyModel, difficulty: float = 0.5,
                mix: dict[str, float] | None = None, max_tries: int = 30) -> PoseSample:
    """Sample a collision-free pose within the joint limits for ``body``.

    Sources (template + noise, Gaussian around neutral, uniform within limits) are mixed by
    ``pose_mix(difficulty)`` unless ``mix`` is given; poses are mirrored with probability
    0.5 and soft-clipped to the limits. After ``max_tries`` rejected samples the neutral
    standing pose is returned (source ``"fallback"``).
    """
    mix = pose_mix(difficulty) if mix is None else mix
    base = _root_orientation(rng, difficulty)
    for _ in range(max_tries):
        raw, source = _raw_pose(rng, difficulty, mix)
        root = base @ axis_rotation("x", np.deg2rad(TEMPLATE_PELVIS_PITCH.get(source, 0.0)))
        mirrored = bool(rng.random() < 0.5)
        if mirrored:
            raw = mirror_pose(raw)
        euler = soft_clip(raw)
        posed = pose_body(body, euler, root)
        if max_penetration(body, posed) <= COLLISION_TOLERANCE:
            return PoseSample(euler, root, source, mirrored, posed)
    euler = NEUTRAL.copy()
    return PoseSample(euler, base, "fallback", False, pose_body(body, euler, root))
