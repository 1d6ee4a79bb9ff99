"""Re-decoding left/right partners whose heatmaps peak at one point."""
from __future__ import annotations

import numpy as np
import pytest

from posekit.codecs import build_codec
from posekit.codecs.partners import partner_pairs, separate_partners
from posekit.skeletons import get_skeleton

SKELETON = get_skeleton("coco17")
LK, RK = SKELETON.index("left_knee"), SKELETON.index("right_knee")


def codec():
    return build_codec({"sigma": 2.0, "unbiased": True, "decode_mode": "dark"}, (144, 192), (36, 48))


def heatmaps_of(points: np.ndarray) -> np.ndarray:
    """``(1, 17, 48, 36)`` Gaussian heatmaps of ``points (17, 2)`` in crop pixels."""
    maps, _ = codec().encode(points[None].astype(np.float32), np.full((1, 17), 2))
    return maps


def legs(left_x: float, right_x: float) -> np.ndarray:
    """A standing person whose left leg is at crop x ``left_x`` and right leg at ``right_x``."""
    points = np.tile([[72.0, 40.0]], (17, 1))
    for side, x in (("left", left_x), ("right", right_x)):
        points[SKELETON.index(f"{side}_hip")] = [x, 100.0]
        points[SKELETON.index(f"{side}_knee")] = [x, 135.0]
        points[SKELETON.index(f"{side}_ankle")] = [x, 170.0]
    return points


def test_collapsed_knees_are_separated_by_their_own_hip_and_ankle():
    truth = legs(left_x=100.0, right_x=44.0)
    maps = heatmaps_of(truth)
    both = maps[0, LK] + 0.9 * maps[0, RK]  # each knee channel sees both knees, the left one higher
    maps[0, LK], maps[0, RK] = both, both
    kps, scores = codec().decode(maps)
    assert np.hypot(*(kps[0, LK] - kps[0, RK])) < 1  # collapsed: the right knee is predicted at the left one
    fixed, fixed_scores = separate_partners(maps, kps, scores, codec(), SKELETON, ["left_knee"])
    assert np.abs(fixed[0, [LK, RK]] - truth[[LK, RK]]).max() < 0.5
    others = [k for k in range(17) if k not in (LK, RK)]
    assert np.array_equal(fixed[0, others], kps[0, others]) and np.array_equal(fixed_scores[0, others], scores[0, others])
    # mirrored person: the assignment follows the legs, not the channel order
    truth = legs(left_x=44.0, right_x=100.0)
    maps = heatmaps_of(truth)
    both = 0.9 * maps[0, LK] + maps[0, RK]
    maps[0, LK], maps[0, RK] = both, both
    kps, scores = codec().decode(maps)
    fixed, _ = separate_partners(maps, kps, scores, codec(), SKELETON, ["right_knee"])
    assert np.abs(fixed[0, [LK, RK]] - truth[[LK, RK]]).max() < 0.5


def test_pairs_that_are_not_collapsed_or_have_one_peak_are_unchanged():
    maps = heatmaps_of(legs(left_x=100.0, right_x=44.0))
    kps, scores = codec().decode(maps)
    fixed, fixed_scores = separate_partners(maps, kps, scores, codec(), SKELETON, ["left_knee"])
    assert np.array_equal(fixed, kps) and np.array_equal(fixed_scores, scores)
    maps = heatmaps_of(legs(left_x=72.0, right_x=72.0))  # knees truly together: a single peak
    kps, scores = codec().decode(maps)
    fixed, _ = separate_partners(maps, kps, scores, codec(), SKELETON, ["left_knee"])
    assert np.array_equal(fixed, kps)


def test_partner_pairs_names_and_errors():
    hips_ankles = [SKELETON.index(n) for n in ("left_hip", "left_ankle", "right_hip", "right_ankle")]
    assert partner_pairs(SKELETON, ["right_knee"]) == [(LK, RK, hips_ankles[:2], hips_ankles[2:])]
    assert partner_pairs(SKELETON, []) == []
    with pytest.raises(ValueError, match="'elbow' is not a joint of skeleton 'coco17'"):
        partner_pairs(SKELETON, ["elbow"])
    with pytest.raises(ValueError, match="'nose' has no left/right partner"):
        partner_pairs(SKELETON, ["nose"])


def test_a_records_key_turns_it_on():
    from posekit.estimators.topdown import WEIGHTS_DIR, estimator_from_record, read_record

    record = read_record(WEIGHTS_DIR / "posekit_synth_hrnet_w16s_192x144.json")
    assert estimator_from_record({**record, "separate_partners": ["left_knee"]}, None).separate_partners == ("left_knee",)
    assert estimator_from_record({k: v for k, v in record.items() if k != "separate_partners"},
                                 None).separate_partners == ()
