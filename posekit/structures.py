"""The two records that travel between posekit's parts: ``PoseSample`` and ``PoseResult``.

Conventions (see DESIGN.md): images are RGB ``uint8 (H, W, 3)``; keypoints are
``float32 (x, y)`` in continuous pixel coordinates with pixel centres at integers
(the ``cv2.warpAffine`` convention); boxes are ``float32 (x1, y1, x2, y2)`` in the
same coordinates; visibility uses COCO codes (0 unlabeled, 1 occluded, 2 visible).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from posekit.skeletons import Skeleton, get_skeleton


@dataclass
class PoseSample:
    """One training/evaluation item.

    ``keypoints (N, K, 2)``, ``visibility (N, K)`` (COCO codes), ``boxes (N, 4)`` xyxy,
    optional ``keypoints_3d (N, K, 3)`` (camera frame, metres), ``ids (N,)``.
    ``meta`` holds what is needed to invert preprocessing (``affine`` 2x3 image->input,
    ``input_size`` (w, h), ``flipped``, ``image_id``, ``file``...).
    """

    image: np.ndarray | None
    keypoints: np.ndarray
    visibility: np.ndarray
    boxes: np.ndarray
    skeleton: Skeleton
    keypoints_3d: np.ndarray | None = None
    ids: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class PoseResult:
    """What inference returns for one image.

    ``keypoints (N, K, 2)`` float32 image pixels, ``scores (N, K)`` per-keypoint
    confidences, ``boxes (N, 4)`` xyxy person boxes the poses were estimated in,
    ``instance_scores (N,)``; optional ``keypoints_3d (N, K, 3)`` and ``track_ids (N,)``.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    instance_scores: np.ndarray
    skeleton: Skeleton
    keypoints_3d: np.ndarray | None = None
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, k = self.keypoints.shape[:2]
        if k != self.skeleton.num_keypoints:
            raise ValueError(
                f"PoseResult: keypoints have {k} joints but skeleton {self.skeleton.name!r} "
                f"has {self.skeleton.num_keypoints}")
        for name, arr, shape in (("scores", self.scores, (n, k)), ("boxes", self.boxes, (n, 4)),
                                 ("instance_scores", self.instance_scores, (n,))):
            if arr.shape != shape:
                raise ValueError(f"PoseResult.{name}: expected shape {shape}, got {arr.shape}")

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def __getitem__(self, index: Any) -> "PoseResult":
        """Select people by an int, slice, index array or boolean mask."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]

        def pick(arr: np.ndarray | None) -> np.ndarray | None:
            return None if arr is None else arr[index]

        return replace(self, keypoints=self.keypoints[index], scores=self.scores[index],
                       boxes=self.boxes[index], instance_scores=self.instance_scores[index],
                       keypoints_3d=pick(self.keypoints_3d), track_ids=pick(self.track_ids))

    def filter(self, min_score: float) -> "PoseResult":
        """People whose instance score is at least ``min_score``."""
        return self[self.instance_scores >= min_score]

    def named(self, name: str) -> np.ndarray:
        """``(N, 3)`` array of ``(x, y, score)`` of the joint called ``name``."""
        j = self.skeleton.index(name)
        return np.concatenate([self.keypoints[:, j], self.scores[:, j, None]], axis=1)

    def to_coco(self, image_id: int, category_id: int = 1) -> list[dict[str, Any]]:
        """COCO keypoint results: ``{image_id, category_id, keypoints [x, y, score]*K, score}``.

        No ``bbox`` is written: pycocotools would then take the result's area from that
        box instead of the keypoint extent (see REFERENCE-METRICS-FORMATS trap 3).
        """
        out = []
        for i in range(len(self)):
            kps = np.concatenate([self.keypoints[i], self.scores[i, :, None]], axis=1)
            out.append({"image_id": image_id, "category_id": category_id,
                        "keypoints": [round(float(v), 3) for v in kps.reshape(-1)],
                        "score": round(float(self.instance_scores[i]), 6)})
        return out

    def to_json(self) -> str:
        """All fields as a JSON object (lists), with the skeleton's name and joint names."""
        record: dict[str, Any] = {
            "skeleton": self.skeleton.name, "keypoint_names": list(self.skeleton.names),
            "keypoints": self.keypoints.tolist(), "scores": self.scores.tolist(),
            "boxes": self.boxes.tolist(), "instance_scores": self.instance_scores.tolist()}
        if self.keypoints_3d is not None:
            record["keypoints_3d"] = self.keypoints_3d.tolist()
        if self.track_ids is not None:
            record["track_ids"] = self.track_ids.tolist()
        return json.dumps(record)

    def plot(self, image: np.ndarray, kpt_thr: float = 0.3) -> np.ndarray:
        """A copy of the RGB ``image`` with the skeletons drawn on it."""
        from posekit.viz.draw import draw_poses

        return draw_poses(image, self.keypoints, self.scores, self.skeleton, boxes=self.boxes,
                          kpt_thr=kpt_thr)

    @staticmethod
    def empty(skeleton: Skeleton | str) -> "PoseResult":
        sk = get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton
        k = sk.num_keypoints
        return PoseResult(np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32),
                          np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), sk)
