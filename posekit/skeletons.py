"""Keypoint sets (:class:`Skeleton`), the built-in skeletons and name-based conversion.

A :class:`Skeleton` is the single source of truth for a keypoint set: joint names
(in array order), drawing links, OKS sigmas, the kinematic tree and drawing colours.
Flip indices, sides and colours are *derived* from the names, so they cannot
disagree with them.

Vocabulary: one name per anatomical point across all skeletons, spelled out in
lower case with underscores (``left_shoulder``, ``head_top``, ``upper_neck``);
sides are the tokens ``left`` / ``right`` (never ``l_`` / ``r_``). Dataset-specific
spellings are renamed on reading (CrowdPose ``top_head`` and H36M ``head`` ->
``head_top``, H36M ``root`` -> ``pelvis``, ``foot`` -> ``ankle``, ``neck/nose`` ->
``neck_base``). One known overlap: ``neck`` is each dataset's own neck label (the
SMPL neck joint at the base of the neck, the LSP/AIC/CrowdPose neck annotation
between the shoulders and the chin, OpenPose's mid-shoulder point); they differ by a
few centimetres and are treated as the same point.

Conversion between skeletons (:func:`convert_keypoints`) copies joints by name and
derives the rest from the declarative table :data:`DERIVATION_RULES`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

__all__ = [
    "Skeleton",
    "DerivationRule",
    "DERIVATION_RULES",
    "SKELETONS",
    "FLIC_SLOTS",
    "LEFT_COLOR",
    "RIGHT_COLOR",
    "CENTRE_COLOR",
    "get_skeleton",
    "as_skeleton",
    "conversion_indices",
    "convert_keypoints",
]

RGB = tuple[int, int, int]

#: Drawing colours (RGB uint8) for the subject's left side, right side and midline.
LEFT_COLOR: RGB = (255, 140, 0)
RIGHT_COLOR: RGB = (30, 144, 255)
CENTRE_COLOR: RGB = (50, 205, 50)

_SIDE_COLORS: dict[str, RGB] = {"left": LEFT_COLOR, "right": RIGHT_COLOR, "centre": CENTRE_COLOR}
_MIRROR_TOKEN = {"left": "right", "right": "left"}


def _mirror_name(name: str) -> str:
    """``left_x`` <-> ``right_x`` (token-wise on ``_``); a name without a side maps to itself."""
    return "_".join(_MIRROR_TOKEN.get(token, token) for token in name.split("_"))


def _side(name: str) -> str:
    tokens = name.split("_")
    if "left" in tokens:
        return "left"
    if "right" in tokens:
        return "right"
    return "centre"


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True, kw_only=True)
class Skeleton:
    """A keypoint set.

    Fields (all keyword-only; lists are accepted and stored as tuples):

    - ``name``: identifier, e.g. ``"coco17"``.
    - ``names``: joint names in array order (``K`` of them), unique.
    - ``links``: ``(name_a, name_b)`` pairs to draw, by joint name.
    - ``sigmas``: per-joint OKS sigmas in the COCO evaluator's convention (COCO's are
      0.026..0.107), or ``None`` where the skeleton has none. Required: a custom
      skeleton must state its sigmas or pass ``sigmas=None`` explicitly.
    - ``parents``: kinematic tree, ``parents[i]`` is the index of joint ``i``'s parent
      and ``-1`` marks a root; ``None`` where the skeleton has no tree.

    Derived: ``num_keypoints``, ``index(name)``, ``flip_indices`` (from the names:
    ``left`` <-> ``right``), ``flip_pairs``, ``link_indices``, ``sigmas_array``, ``sides``,
    ``keypoint_colors`` and ``link_colors`` (RGB uint8 tuples from the sides).
    """

    name: str
    names: tuple[str, ...]
    links: tuple[tuple[str, str], ...]
    sigmas: tuple[float, ...] | None
    parents: tuple[int, ...] | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        where = f"Skeleton {self.name!r}"
        names = tuple(self.names)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"{where}: field 'names' must be a non-empty sequence of non-empty strings")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"{where}: field 'names' has duplicates {duplicates}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})
        k = len(names)

        links = tuple((a, b) for a, b in self.links)
        for i, (a, b) in enumerate(links):
            for joint in (a, b):
                if joint not in self._index:
                    raise ValueError(f"{where}: field 'links'[{i}] refers to unknown joint {joint!r}")
            if a == b:
                raise ValueError(f"{where}: field 'links'[{i}] links {a!r} to itself")
        object.__setattr__(self, "links", links)

        if self.sigmas is not None:
            sigmas = tuple(float(s) for s in self.sigmas)
            if len(sigmas) != k:
                raise ValueError(f"{where}: field 'sigmas' has {len(sigmas)} values for {k} joints")
            if not all(np.isfinite(s) and s > 0 for s in sigmas):
                raise ValueError(f"{where}: field 'sigmas' must be finite and > 0, got {sigmas}")
            object.__setattr__(self, "sigmas", sigmas)

        if self.parents is not None:
            parents = tuple(int(p) for p in self.parents)
            if len(parents) != k:
                raise ValueError(f"{where}: field 'parents' has {len(parents)} values for {k} joints")
            for i, p in enumerate(parents):
                if p != -1 and not 0 <= p < k or p == i:
                    raise ValueError(f"{where}: field 'parents'[{i}] = {p} is not -1 or another joint's index")
            for i in range(k):  # walk to a root; more than k steps means a cycle
                j, steps = i, 0
                while j != -1:
                    j, steps = parents[j], steps + 1
                    if steps > k:
                        raise ValueError(f"{where}: field 'parents' has a cycle through joint {names[i]!r}")
            object.__setattr__(self, "parents", parents)

        for n in names:
            mirror = _mirror_name(n)
            if mirror not in self._index:
                raise ValueError(f"{where}: joint {n!r} has a side but its mirror {mirror!r} is missing")

    @property
    def num_keypoints(self) -> int:
        """Number of joints ``K``."""
        return len(self.names)

    def index(self, name: str) -> int:
        """Array index of joint ``name``; ``ValueError`` naming the skeleton if absent."""
        try:
            return self._index[name]
        except KeyError:
            raise ValueError(f"Skeleton {self.name!r} has no joint {name!r}; joints: {list(self.names)}") from None

    @cached_property
    def flip_indices(self) -> np.ndarray:
        """``(K,)`` int64, read-only: ``flip_indices[i]`` is the joint that ``i`` becomes
        under a horizontal flip (``left_*`` <-> ``right_*``; midline joints map to themselves).
        Flip keypoints with ``kp[..., flip_indices, :]`` after mirroring x."""
        return _readonly(np.array([self._index[_mirror_name(n)] for n in self.names], dtype=np.int64))

    @cached_property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """``(left/right index, mirror index)`` pairs with the smaller index first."""
        return tuple((i, int(j)) for i, j in enumerate(self.flip_indices) if i < j)

    @cached_property
    def link_indices(self) -> np.ndarray:
        """``(L, 2)`` int64, read-only: the links as joint indices."""
        pairs = [(self._index[a], self._index[b]) for a, b in self.links]
        return _readonly(np.array(pairs, dtype=np.int64).reshape(len(pairs), 2))

    @cached_property
    def sigmas_array(self) -> np.ndarray:
        """``(K,)`` float64, read-only OKS sigmas; ``ValueError`` if the skeleton has none."""
        if self.sigmas is None:
            raise ValueError(f"Skeleton {self.name!r} has no OKS sigmas (sigmas=None)")
        return _readonly(np.array(self.sigmas, dtype=np.float64))

    @cached_property
    def sides(self) -> tuple[str, ...]:
        """Per joint ``"left"``, ``"right"`` or ``"centre"`` (from the name's tokens)."""
        return tuple(_side(n) for n in self.names)

    @cached_property
    def keypoint_colors(self) -> tuple[RGB, ...]:
        """Per joint RGB uint8 colour: :data:`LEFT_COLOR`, :data:`RIGHT_COLOR` or :data:`CENTRE_COLOR`."""
        return tuple(_SIDE_COLORS[s] for s in self.sides)

    @cached_property
    def link_colors(self) -> tuple[RGB, ...]:
        """Per link RGB colour: the side both ends share; a side link to the midline takes the
        side's colour; a left-to-right link (e.g. shoulder to shoulder) is centre-coloured."""
        colors = []
        for a, b in self.links:
            sides = {self.sides[self._index[a]], self.sides[self._index[b]]} - {"centre"}
            colors.append(_SIDE_COLORS[sides.pop()] if len(sides) == 1 else CENTRE_COLOR)
        return tuple(colors)


def _links_by_index(names: tuple[str, ...], pairs: list[tuple[int, int]]) -> tuple[tuple[str, str], ...]:
    return tuple((names[a], names[b]) for a, b in pairs)


def _links_from_parents(names: tuple[str, ...], parents: list[int]) -> tuple[tuple[str, str], ...]:
    return tuple((names[p], names[i]) for i, p in enumerate(parents) if p >= 0)


def _sigmas_by_name(names: tuple[str, ...], table: dict[str, float]) -> tuple[float, ...]:
    return tuple(table[n] for n in names)


# --- COCO-17 -----------------------------------------------------------------------------
# Source: COCO person_keypoints annotations (categories[0].keypoints / .skeleton, the
# skeleton there is 1-based; converted to 0-based), REFERENCE-METRICS-FORMATS.md B1.
# Sigmas: pycocotools COCOeval Params.setKpParams (kpt_oks_sigmas).
_COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
_COCO17_SIGMAS = tuple(
    s / 10.0 for s in (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89)
)
COCO17 = Skeleton(
    name="coco17",
    names=_COCO17_NAMES,
    links=_links_by_index(_COCO17_NAMES, [
        (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
        (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
    ]),
    sigmas=_COCO17_SIGMAS,
)
_COCO_SIGMA = dict(zip(_COCO17_NAMES, _COCO17_SIGMAS))

# --- CrowdPose-14 --------------------------------------------------------------------------
# Source: CrowdPose annotations (Jeff-sjtu/CrowdPose), order, sigmas and MMPose skeleton from
# REFERENCE-METRICS-FORMATS.md B6. "top_head" is renamed "head_top".
_CROWDPOSE14_NAMES = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head_top", "neck",
)
CROWDPOSE14 = Skeleton(
    name="crowdpose14",
    names=_CROWDPOSE14_NAMES,
    links=_links_by_index(_CROWDPOSE14_NAMES, [
        (10, 8), (8, 6), (11, 9), (9, 7), (6, 7), (0, 6), (1, 7), (0, 1), (0, 2), (1, 3), (2, 4),
        (3, 5), (12, 13), (1, 13), (0, 13),
    ]),
    sigmas=(.079, .079, .072, .072, .062, .062, .107, .107, .087, .087, .089, .089, .079, .079),
)
_CROWDPOSE_SIGMA = dict(zip(_CROWDPOSE14_NAMES, CROWDPOSE14.sigmas))

# --- MPII-16 -------------------------------------------------------------------------------
# Source: MPII Human Pose joint ids 0..15 (RELEASE annopoints.point.id), MMPose skeleton and
# MMPose's MPII OKS sigmas, REFERENCE-METRICS-FORMATS.md B2.
_MPII16_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis",
    "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder",
    "left_shoulder", "left_elbow", "left_wrist",
)
MPII16 = Skeleton(
    name="mpii16",
    names=_MPII16_NAMES,
    links=_links_by_index(_MPII16_NAMES, [
        (0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (8, 12), (12, 11),
        (11, 10), (8, 13), (13, 14), (14, 15),
    ]),
    sigmas=(.089, .083, .107, .107, .083, .089, .026, .026, .026, .026, .062, .072, .179, .179, .072, .062),
)

# --- LSP-14 (and LSP-extended) --------------------------------------------------------------
# Source: LSP joints.mat order, REFERENCE-METRICS-FORMATS.md B3 (no official skeleton: the
# links are B3's suggestion). LSP has no OKS sigmas; documented choice: CrowdPose's sigmas by
# name (CrowdPose labels the same 14 points: limbs, head top and neck).
_LSP14_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
    "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top",
)
LSP14 = Skeleton(
    name="lsp14",
    names=_LSP14_NAMES,
    links=_links_by_index(_LSP14_NAMES, [
        (0, 1), (1, 2), (3, 4), (4, 5), (2, 3), (6, 7), (7, 8), (9, 10), (10, 11), (8, 12), (9, 12),
        (12, 13), (2, 8), (3, 9),
    ]),
    sigmas=_sigmas_by_name(_LSP14_NAMES, _CROWDPOSE_SIGMA),
)

# --- FLIC (the 11 labelled upper-body joints) ----------------------------------------------------
# Source: FLIC examples.mat, the labelled slots 0-5, 6, 9, 12, 13, 16 of the 29 (lookupPart
# order), REFERENCE-METRICS-FORMATS.md B4; the order here is that slot order. No official
# skeleton or sigmas; documented choices: arm chains, shoulder and hip lines, torso sides and
# eye-nose links; COCO sigmas by name (all 11 are COCO joints).
_FLIC_NAMES = (
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
    "left_hip", "right_hip", "left_eye", "right_eye", "nose",
)
#: Slot of each FLIC joint in the 29-column ``coords`` array of ``examples.mat``.
FLIC_SLOTS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 9, 12, 13, 16)
FLIC = Skeleton(
    name="flic",
    names=_FLIC_NAMES,
    links=_links_by_index(_FLIC_NAMES, [
        (0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (6, 7), (0, 6), (3, 7), (8, 10), (9, 10),
    ]),
    sigmas=_sigmas_by_name(_FLIC_NAMES, _COCO_SIGMA),
)

# --- AI Challenger-14 ---------------------------------------------------------------------------
# Source: AI Challenger keypoint annotations order and MMPose skeleton,
# REFERENCE-METRICS-FORMATS.md B5; sigmas = the official keypoint_eval.py delta / 2 (A1.9).
_AIC14_NAMES = (
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top", "neck",
)
AIC14 = Skeleton(
    name="aic14",
    names=_AIC14_NAMES,
    links=_links_by_index(_AIC14_NAMES, [
        (2, 1), (1, 0), (0, 13), (13, 3), (3, 4), (4, 5), (8, 7), (7, 6), (6, 9), (9, 10), (10, 11),
        (12, 13), (0, 6), (3, 9),
    ]),
    sigmas=(0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642,
            0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173),
)

# --- Human3.6M-17 ----------------------------------------------------------------------------------
# Source: VideoPose3D's 32 -> 17 joint selection and parents; names from MMPose's h36m metainfo
# with root -> pelvis, *_foot -> *_ankle, head -> head_top; skeleton from the metainfo
# (REFERENCE-METRICS-FORMATS.md B7). No OKS sigmas (H36M is evaluated by MPJPE).
_H36M17_NAMES = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck_base", "head_top", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)
H36M17 = Skeleton(
    name="h36m17",
    names=_H36M17_NAMES,
    links=_links_by_index(_H36M17_NAMES, [
        (0, 4), (4, 5), (5, 6), (0, 1), (1, 2), (2, 3), (0, 7), (7, 8), (8, 9), (9, 10), (8, 11),
        (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
    ]),
    sigmas=None,
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
)

# --- SMPL-24 ---------------------------------------------------------------------------------------
# Source: SMPL model files (kintree_table, root set to -1 as smplx does) and smplx joint names,
# REFERENCE-METRICS-FORMATS.md B10. Links = the kinematic tree. No OKS sigmas.
_SMPL24_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
_SMPL24_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
SMPL24 = Skeleton(
    name="smpl24",
    names=_SMPL24_NAMES,
    links=_links_from_parents(_SMPL24_NAMES, _SMPL24_PARENTS),
    sigmas=None,
    parents=tuple(_SMPL24_PARENTS),
)

# --- OpenPose COCO-18 (body) -------------------------------------------------------------------------
# Source: OpenPose output format "COCO" (doc/output.md, POSE_COCO_BODY_PARTS): neck is the
# mid-shoulder point it adds to COCO; links = POSE_COCO_PAIRS without the two ear-shoulder
# pairs OpenPose does not draw. Documented sigma choice: COCO's by name, CrowdPose's for neck.
_OPENPOSE18_NAMES = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
OPENPOSE18 = Skeleton(
    name="openpose18",
    names=_OPENPOSE18_NAMES,
    links=_links_by_index(_OPENPOSE18_NAMES, [
        (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
        (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
    ]),
    sigmas=_sigmas_by_name(_OPENPOSE18_NAMES, {**_COCO_SIGMA, "neck": _CROWDPOSE_SIGMA["neck"]}),
)

# --- synth30: the synthetic generator's superset ---------------------------------------------------------
# Source: REFERENCE-SYNTHETIC.md 4.1: SMPL-24 (names, order, parents) then the rigid head
# landmarks nose, eyes, ears, head_top, whose parent is "head" (15). COCO-17, H36M-17 and
# SMPL-24 derive from it (see DERIVATION_RULES). Sigmas: COCO's for the COCO joints;
# documented choices for the others, each the COCO/CrowdPose sigma of the nearest labelled
# point of similar annotation spread: pelvis and spine1-3 = hip (.107, torso points);
# neck, collars and head = CrowdPose neck (.079); head_top = CrowdPose head_top (.079);
# feet = ankle (.089); hands = wrist (.062).
_SYNTH30_NAMES = _SMPL24_NAMES + ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "head_top")
_SYNTH30_PARENTS = _SMPL24_PARENTS + [15] * 6
_SYNTH_EXTRA_SIGMA = {
    "pelvis": _COCO_SIGMA["left_hip"], "spine1": _COCO_SIGMA["left_hip"],
    "spine2": _COCO_SIGMA["left_hip"], "spine3": _COCO_SIGMA["left_hip"],
    "neck": _CROWDPOSE_SIGMA["neck"], "left_collar": _CROWDPOSE_SIGMA["neck"],
    "right_collar": _CROWDPOSE_SIGMA["neck"], "head": _CROWDPOSE_SIGMA["neck"],
    "head_top": _CROWDPOSE_SIGMA["head_top"],
    "left_foot": _COCO_SIGMA["left_ankle"], "right_foot": _COCO_SIGMA["right_ankle"],
    "left_hand": _COCO_SIGMA["left_wrist"], "right_hand": _COCO_SIGMA["right_wrist"],
}
SYNTH30 = Skeleton(
    name="synth30",
    names=_SYNTH30_NAMES,
    links=_links_from_parents(_SYNTH30_NAMES, _SYNTH30_PARENTS),
    sigmas=_sigmas_by_name(_SYNTH30_NAMES, {**_COCO_SIGMA, **_SYNTH_EXTRA_SIGMA}),
    parents=tuple(_SYNTH30_PARENTS),
)

#: Built-in skeletons by name.
# Source: REFERENCE-METRICS-FORMATS.md A4.3 (the 17 "relevant" joints, 1-based picks
# [8,6,15,16,17,10,11,12,24,25,26,19,20,21,5,4,7] of the 28 annotated) and B8 (MMPose's links).
# Names follow posekit's vocabulary; parents: the kinematic tree rooted at the pelvis.
_MPI_INF_3DHP17_NAMES = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "pelvis",
    "spine", "head")
_MPI_INF_3DHP17_LINKS = [(1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (14, 8), (8, 9), (9, 10), (14, 11),
                         (11, 12), (12, 13), (0, 16), (16, 1), (1, 15), (15, 14)]
#: The MPI-INF-3DHP 17-joint skeleton (no OKS sigmas: the dataset is evaluated by 3D PCK / MPJPE).
MPI_INF_3DHP17 = Skeleton(
    name="mpi_inf_3dhp17",
    names=_MPI_INF_3DHP17_NAMES,
    links=tuple((_MPI_INF_3DHP17_NAMES[a], _MPI_INF_3DHP17_NAMES[b]) for a, b in _MPI_INF_3DHP17_LINKS),
    sigmas=None,
    parents=(16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1),
)

SKELETONS: dict[str, Skeleton] = {
    s.name: s
    for s in (COCO17, MPII16, LSP14, FLIC, AIC14, CROWDPOSE14, H36M17, SMPL24, OPENPOSE18, SYNTH30,
              MPI_INF_3DHP17)
}


def get_skeleton(name: str) -> Skeleton:
    """The built-in skeleton called ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return SKELETONS[name]
    except KeyError:
        raise ValueError(f"unknown skeleton {name!r}; built-ins: {sorted(SKELETONS)}") from None


def as_skeleton(skeleton: Skeleton | str) -> Skeleton:
    """``skeleton`` itself, or the built-in of that name."""
    return skeleton if isinstance(skeleton, Skeleton) else get_skeleton(skeleton)


# --- name-based conversion ---------------------------------------------------------------------


@dataclass(frozen=True)
class DerivationRule:
    """``target = mean(sources)``, tried when ``target`` is not in the source skeleton.

    ``src_skeletons`` / ``dst_skeletons`` restrict the rule to those skeleton names (``None``:
    any). Sources may themselves be derived. ``note`` states the source or the meaning.
    """

    target: str
    sources: tuple[str, ...]
    note: str
    src_skeletons: tuple[str, ...] | None = None
    dst_skeletons: tuple[str, ...] | None = None


_BODY_MODELS = ("smpl24", "synth30")

#: Rules in priority order: for a target, the first rule that applies and whose sources
#: all resolve is used.
DERIVATION_RULES: tuple[DerivationRule, ...] = (
    DerivationRule("pelvis", ("left_hip", "right_hip"),
                   "mid-hip: CPM genJSON (LSP -> MPII pelvis); MMPose COCO -> H36M lifting demo (root)"),
    DerivationRule("thorax", ("neck",),
                   "the SMPL neck joint (base of the neck) is H36M's thorax: REFERENCE-SYNTHETIC 4.1",
                   src_skeletons=_BODY_MODELS),
    DerivationRule("thorax", ("left_shoulder", "right_shoulder"),
                   "mid-shoulder: CPM genJSON (LSP -> MPII thorax); MMPose COCO -> H36M lifting demo"),
    DerivationRule("upper_neck", ("neck",),
                   "CPM genJSON maps the LSP neck to MPII upper_neck; AIC/CrowdPose label the same point",
                   src_skeletons=("lsp14", "aic14", "crowdpose14")),
    DerivationRule("upper_neck", ("neck", "head"),
                   "approximation: midway between the SMPL neck (base) and head joints",
                   src_skeletons=_BODY_MODELS),
    DerivationRule("neck", ("left_shoulder", "right_shoulder"),
                   "OpenPose's neck is the mid-shoulder point (OpenPose COCO-18 training data)",
                   dst_skeletons=("openpose18",)),
    DerivationRule("neck", ("upper_neck",),
                   "inverse of CPM genJSON: MPII upper_neck is the LSP/AIC/CrowdPose neck"),
    DerivationRule("neck", ("left_shoulder", "right_shoulder"),
                   "approximation: the LSP/AIC/CrowdPose neck lies at or a little above mid-shoulder"),
    DerivationRule("spine", ("spine2",),
                   "H36M spine = SMPL spine2 (mid-back): REFERENCE-SYNTHETIC 4.1",
                   src_skeletons=_BODY_MODELS),
    DerivationRule("spine", ("pelvis", "thorax"),
                   "midway between pelvis and thorax: MMPose COCO -> H36M lifting demo"),
    DerivationRule("neck_base", ("nose",),
                   "H36M 'neck/nose' from the nose: REFERENCE-SYNTHETIC 4.1 and MMPose COCO -> H36M demo"),
    DerivationRule("neck_base", ("upper_neck",),
                   "approximation: H36M 'neck/nose' sits at the top of the neck, near MPII upper_neck"),
    DerivationRule("head_top", ("left_eye", "right_eye"),
                   "NOT the anatomical head top: mid-eyes, the MMPose COCO -> H36M lifting demo's "
                   "'head', only so that COCO 2D detections can feed H36M-trained lifters",
                   dst_skeletons=("h36m17",)),
)


def _rule_applies(rule: DerivationRule, src: Skeleton, dst: Skeleton) -> bool:
    return (rule.src_skeletons is None or src.name in rule.src_skeletons) and (
        rule.dst_skeletons is None or dst.name in rule.dst_skeletons
    )


def _derive(name: str, src: Skeleton, dst: Skeleton, visiting: frozenset[str]) -> dict[int, float] | None:
    """Weights over ``src`` joint indices that give joint ``name``, or ``None`` if underivable."""
    if name in src.names:
        return {src.index(name): 1.0}
    if name in visiting:
        return None
    for rule in DERIVATION_RULES:
        if rule.target != name or not _rule_applies(rule, src, dst):
            continue
        parts = [_derive(s, src, dst, visiting | {name}) for s in rule.sources]
        if any(p is None for p in parts):
            continue
        weights: dict[int, float] = {}
        for part in parts:
            for i, w in part.items():
                weights[i] = weights.get(i, 0.0) + w / len(parts)
        return weights
    return None


@lru_cache(maxsize=256)
def _conversion_indices(src: Skeleton, dst: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for name in dst.names:
        weights = _derive(name, src, dst, frozenset())
        if weights is None:
            raise ValueError(
                f"cannot convert skeleton {src.name!r} to {dst.name!r}: joint {name!r} is not in "
                f"{src.name!r} and no rule in posekit.skeletons.DERIVATION_RULES derives it"
            )
        rows.append(sorted(weights.items()))
    width = max(len(r) for r in rows)
    # Pad each row by repeating its first source with weight 0: this keeps the min over
    # visibilities unchanged and lets NaN propagate only from real sources.
    indices = np.array([[i for i, _ in r] + [r[0][0]] * (width - len(r)) for r in rows], dtype=np.int64)
    weights = np.array([[w for _, w in r] + [0.0] * (width - len(r)) for r in rows], dtype=np.float64)
    return _readonly(indices), _readonly(weights)


def conversion_indices(src: Skeleton | str, dst: Skeleton | str) -> tuple[np.ndarray, np.ndarray]:
    """How each ``dst`` joint is built from ``src`` joints.

    Returns ``(indices, weights)``, both ``(K_dst, S)`` and read-only: joint ``d`` of ``dst`` is
    ``sum_s weights[d, s] * kp_src[indices[d, s]]``; a copied joint has one source of weight 1.
    Rows are padded with a repeat of their first source and weight 0. Raises ``ValueError``
    naming the joint and both skeletons if a ``dst`` joint cannot be derived.
    """
    return _conversion_indices(as_skeleton(src), as_skeleton(dst))


def convert_keypoints(
    keypoints: np.ndarray,
    src: Skeleton | str,
    dst: Skeleton | str,
    visibility: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Convert ``keypoints (..., K_src, C)`` (any ``C``: 2D, 3D, ...) from ``src`` to ``dst``.

    A ``dst`` joint present by name in ``src`` is copied; otherwise it is the mean of the
    sources named by the first applicable rule in :data:`DERIVATION_RULES`. ``visibility``
    ``(..., K_src)`` (COCO codes or scores; dtype kept) becomes ``(..., K_dst)``: a derived
    joint takes the minimum over its sources, so it is labelled only where all sources are.
    ``visibility=None`` means every source joint is labelled and visible (code 2).
    Returns ``(keypoints (..., K_dst, C), visibility (..., K_dst))``; floating keypoints keep
    their dtype, integer ones become float64.
    """
    src, dst = as_skeleton(src), as_skeleton(dst)
    kp = np.asarray(keypoints)
    if kp.ndim < 2 or kp.shape[-2] != src.num_keypoints:
        raise ValueError(
            f"convert_keypoints: keypoints of shape {kp.shape} do not have {src.num_keypoints} "
            f"joints of skeleton {src.name!r} on axis -2"
        )
    if visibility is None:
        vis = np.full(kp.shape[:-1], 2, dtype=np.int64)
    else:
        vis = np.asarray(visibility)
        if vis.shape != kp.shape[:-1]:
            raise ValueError(
                f"convert_keypoints: visibility of shape {vis.shape} does not match keypoints {kp.shape[:-1]}"
            )
    indices, weights = _conversion_indices(src, dst)
    dtype = kp.dtype if np.issubdtype(kp.dtype, np.floating) else np.float64
    gathered = kp[..., indices, :].astype(dtype, copy=False)  # (..., K_dst, S, C)
    out = (gathered * weights[:, :, None].astype(dtype)).sum(axis=-2)
    out_vis = vis[..., indices].min(axis=-1)
    return out, out_vis
