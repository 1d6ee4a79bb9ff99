"""Tests for posekit.skeletons: built-ins against the reference tables, derived fields,
validation errors and name-based conversion."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from posekit.skeletons import (
    DERIVATION_RULES,
    SKELETONS,
    Skeleton,
    conversion_indices,
    convert_keypoints,
    get_skeleton,
)

# Flip pairs as published (REFERENCE-METRICS-FORMATS.md B1-B7, B10): the name-derived
# flip indices must reproduce them.
PUBLISHED_FLIP_PAIRS = {
    "coco17": [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)],
    "mpii16": [(0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)],
    "lsp14": [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)],
    "aic14": [(0, 3), (1, 4), (2, 5), (6, 9), (7, 10), (8, 11)],
    "crowdpose14": [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)],
    "h36m17": [(1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)],
    "smpl24": [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23)],
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_FLIP_PAIRS))
def test_flip_indices_match_published_pairs(name):
    skel = get_skeleton(name)
    expected = np.arange(skel.num_keypoints)
    for a, b in PUBLISHED_FLIP_PAIRS[name]:
        expected[a], expected[b] = b, a
    np.testing.assert_array_equal(skel.flip_indices, expected)
    assert skel.flip_pairs == tuple(PUBLISHED_FLIP_PAIRS[name])


def test_coco17_matches_official_tables():
    coco = get_skeleton("coco17")
    assert coco.names[0] == "nose" and coco.names[16] == "right_ankle" and coco.num_keypoints == 17
    one_based = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
                 [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
    np.testing.assert_array_equal(coco.link_indices, np.array(one_based) - 1)
    np.testing.assert_allclose(
        coco.sigmas_array,
        np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10,
    )
    assert coco.sigmas_array.dtype == np.float64


def test_builtin_orders_and_trees():
    assert get_skeleton("mpii16").names[6:10] == ("pelvis", "thorax", "upper_neck", "head_top")
    assert get_skeleton("lsp14").names[12:] == ("neck", "head_top")
    assert get_skeleton("crowdpose14").names[12:] == ("head_top", "neck")
    assert get_skeleton("aic14").names[12:] == ("head_top", "neck")
    assert len(get_skeleton("flic").names) == 11
    h36m = get_skeleton("h36m17")
    assert h36m.names[:4] == ("pelvis", "right_hip", "right_knee", "right_ankle")
    assert h36m.names[7:11] == ("spine", "thorax", "neck_base", "head_top")
    assert h36m.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    smpl = get_skeleton("smpl24")
    assert smpl.parents == (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
    synth = get_skeleton("synth30")
    assert synth.names[:24] == smpl.names and synth.parents[:24] == smpl.parents
    assert synth.names[24:] == ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "head_top")
    assert synth.parents[24:] == (15,) * 6
    op = get_skeleton("openpose18")
    assert op.names[:5] == ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist")
    assert op.names[14:] == ("right_eye", "left_eye", "right_ear", "left_ear")
    np.testing.assert_allclose(get_skeleton("aic14").sigmas_array[0], 0.01388152)


@pytest.mark.parametrize("name", sorted(SKELETONS))
def test_builtin_invariants(name):
    skel = get_skeleton(name)
    assert skel.name == name
    flip = skel.flip_indices
    np.testing.assert_array_equal(flip[flip], np.arange(skel.num_keypoints))  # an involution
    for i, j in enumerate(flip):  # same joint up to the side token
        assert skel.names[i].replace("right", "left") == skel.names[j].replace("right", "left")
    assert skel.link_indices.shape == (len(skel.links), 2)
    assert len(skel.keypoint_colors) == skel.num_keypoints and len(skel.link_colors) == len(skel.links)
    for color in skel.keypoint_colors + skel.link_colors:
        assert len(color) == 3 and all(0 <= c <= 255 for c in color)
    if skel.sigmas is not None:
        assert np.all((skel.sigmas_array > 0) & (skel.sigmas_array < 0.2))
    for i, name_i in enumerate(skel.names):
        assert skel.index(name_i) == i


def test_colours_follow_sides():
    coco = get_skeleton("coco17")
    assert coco.keypoint_colors[coco.index("left_wrist")] != coco.keypoint_colors[coco.index("right_wrist")]
    links = dict(zip(coco.links, coco.link_colors))
    assert links[("left_shoulder", "right_shoulder")] == coco.keypoint_colors[0]  # centre colour
    assert links[("left_elbow", "left_wrist")] == coco.keypoint_colors[coco.index("left_wrist")]


def test_derived_arrays_are_read_only():
    coco = get_skeleton("coco17")
    with pytest.raises(ValueError):
        coco.flip_indices[0] = 3
    with pytest.raises(ValueError):
        coco.sigmas_array[0] = 1.0


def test_index_and_lookup_errors():
    with pytest.raises(ValueError, match="coco17.*'pelvis'"):
        get_skeleton("coco17").index("pelvis")
    with pytest.raises(ValueError, match="unknown skeleton 'coco18'"):
        get_skeleton("coco18")
    with pytest.raises(ValueError, match="h36m17.*no OKS sigmas"):
        get_skeleton("h36m17").sigmas_array


def test_custom_skeleton_must_state_sigmas():
    with pytest.raises(TypeError):
        Skeleton(name="x", names=("a",), links=())  # sigmas missing
    skel = Skeleton(name="x", names=["left_a", "right_a", "mid"], links=[("left_a", "mid")], sigmas=None)
    assert skel.names == ("left_a", "right_a", "mid") and skel.links == (("left_a", "mid"),)
    np.testing.assert_array_equal(skel.flip_indices, [1, 0, 2])
    assert hash(skel) == hash(Skeleton(name="x", names=("left_a", "right_a", "mid"),
                                       links=(("left_a", "mid"),), sigmas=None))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(names=("left_hand", "nose")), "mirror 'right_hand' is missing"),
        (dict(names=("a", "a")), "duplicates"),
        (dict(names=("a", "b"), links=(("a", "c"),)), r"'links'\[0\].*'c'"),
        (dict(names=("a", "b"), sigmas=(0.1,)), "'sigmas' has 1 values for 2 joints"),
        (dict(names=("a", "b"), sigmas=(0.1, -1.0)), "'sigmas' must be finite and > 0"),
        (dict(names=("a", "b"), parents=(-1, 5)), r"'parents'\[1\]"),
        (dict(names=("a", "b", "c"), parents=(-1, 2, 1)), "cycle"),
    ],
)
def test_validation_errors_name_the_field(kwargs, message):
    args = dict(name="bad", names=("a",), links=(), sigmas=None) | kwargs
    with pytest.raises(ValueError, match="Skeleton 'bad'.*" + message):
        Skeleton(**args)


def test_conversion_synth30_to_coco_h36m_smpl():
    synth = get_skeleton("synth30")
    rng = np.random.default_rng(0)
    kp = rng.normal(size=(2, 3, 30, 3)).astype(np.float32)
    vis = rng.integers(0, 3, size=(2, 3, 30))

    out, out_vis = convert_keypoints(kp, "synth30", "coco17", vis)
    assert out.shape == (2, 3, 17, 3) and out.dtype == np.float32 and out_vis.shape == (2, 3, 17)
    cols = [synth.index(n) for n in get_skeleton("coco17").names]
    np.testing.assert_array_equal(out, kp[..., cols, :])
    np.testing.assert_array_equal(out_vis, vis[..., cols])

    out, out_vis = convert_keypoints(kp, synth, "smpl24", vis)
    np.testing.assert_array_equal(out, kp[..., :24, :])

    h36m = get_skeleton("h36m17")
    out, out_vis = convert_keypoints(kp, synth, h36m, vis)
    # REFERENCE-SYNTHETIC 4.1: spine <- spine2, thorax <- neck, neck/nose <- nose.
    for dst, src in [("spine", "spine2"), ("thorax", "neck"), ("neck_base", "nose"), ("head_top", "head_top"),
                     ("pelvis", "pelvis"), ("right_ankle", "right_ankle")]:
        np.testing.assert_array_equal(out[..., h36m.index(dst), :], kp[..., synth.index(src), :])


def test_derived_joints_and_visibility_min():
    coco = get_skeleton("coco17")
    h36m = get_skeleton("h36m17")
    kp = np.zeros((17, 2))
    kp[coco.index("left_hip")] = (10, 20)
    kp[coco.index("right_hip")] = (30, 40)
    kp[coco.index("left_shoulder")] = (12, 0)
    kp[coco.index("right_shoulder")] = (28, 4)
    kp[coco.index("left_eye")] = (18, -10)
    kp[coco.index("right_eye")] = (22, -10)
    vis = np.full(17, 2)
    vis[coco.index("right_shoulder")] = 1
    vis[coco.index("left_eye")] = 0
    out, out_vis = convert_keypoints(kp, coco, h36m, vis)
    np.testing.assert_allclose(out[h36m.index("pelvis")], (20, 30))
    np.testing.assert_allclose(out[h36m.index("thorax")], (20, 2))
    np.testing.assert_allclose(out[h36m.index("spine")], (20, 16))  # mean(pelvis, thorax)
    np.testing.assert_allclose(out[h36m.index("head_top")], (20, -10))  # MMPose demo convention
    assert out_vis[h36m.index("pelvis")] == 2
    assert out_vis[h36m.index("thorax")] == 1 and out_vis[h36m.index("spine")] == 1
    assert out_vis[h36m.index("head_top")] == 0

    idx, w = conversion_indices(coco, h36m)
    spine = h36m.index("spine")
    assert sorted(idx[spine][w[spine] > 0]) == [5, 6, 11, 12]
    np.testing.assert_allclose(w.sum(axis=1), 1.0)


def test_rule_restrictions_pick_per_skeleton_sources():
    lsp, mpii = get_skeleton("lsp14"), get_skeleton("mpii16")
    kp = np.arange(14 * 2, dtype=np.float64).reshape(14, 2)
    out, _ = convert_keypoints(kp, lsp, mpii)
    # CPM genJSON: LSP neck -> MPII upper_neck, thorax = mid-shoulders.
    np.testing.assert_array_equal(out[mpii.index("upper_neck")], kp[lsp.index("neck")])
    np.testing.assert_allclose(out[mpii.index("thorax")],
                               (kp[lsp.index("left_shoulder")] + kp[lsp.index("right_shoulder")]) / 2)
    back, _ = convert_keypoints(out, mpii, lsp)
    np.testing.assert_array_equal(back, kp)
    coco = get_skeleton("coco17")
    op, _ = convert_keypoints(np.ones((17, 2)) * np.arange(17)[:, None], coco, "openpose18")
    assert op[1, 0] == pytest.approx((5 + 6) / 2)  # OpenPose neck = mid-shoulders


def test_nan_sources_propagate_only_to_their_targets():
    coco = get_skeleton("coco17")
    kp = np.ones((17, 2))
    kp[coco.index("left_eye")] = np.nan
    out, _ = convert_keypoints(kp, coco, "h36m17")
    h36m = get_skeleton("h36m17")
    assert np.isnan(out[h36m.index("head_top")]).all()
    assert np.isfinite(np.delete(out, h36m.index("head_top"), axis=0)).all()


@pytest.mark.parametrize("src, dst, joint", [("coco17", "mpii16", "upper_neck"), ("h36m17", "smpl24", "spine1"),
                                             ("flic", "coco17", "left_ear")])
def test_underivable_joint_raises(src, dst, joint):
    with pytest.raises(ValueError, match=f"'{src}' to '{dst}'.*'{joint}'"):
        convert_keypoints(np.zeros((get_skeleton(src).num_keypoints, 2)), src, dst)


def test_shape_errors():
    with pytest.raises(ValueError, match="17 joints of skeleton 'coco17'"):
        convert_keypoints(np.zeros((16, 2)), "coco17", "h36m17")
    with pytest.raises(ValueError, match="visibility of shape"):
        convert_keypoints(np.zeros((17, 2)), "coco17", "h36m17", np.zeros(16))


def test_rule_table_is_documented_and_targets_real_joints():
    all_names = {n for s in SKELETONS.values() for n in s.names}
    for rule in DERIVATION_RULES:
        assert rule.note and rule.target in all_names and set(rule.sources) <= all_names
        for restricted in (rule.src_skeletons or ()) + (rule.dst_skeletons or ()):
            assert restricted in SKELETONS


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(sorted(SKELETONS)),
    data=st.data(),
)
def test_identity_and_flip_commute_with_conversion(name, data):
    skel = get_skeleton(name)
    kp = data.draw(hnp.arrays(np.float64, (3, skel.num_keypoints, 2), elements=st.floats(-1e3, 1e3)))
    out, vis = convert_keypoints(kp, skel, skel)
    np.testing.assert_array_equal(out, kp)
    assert (vis == 2).all()
    # Every built-in derives from synth30, and the conversion commutes with a horizontal
    # flip (x -> -x, joints permuted by the name-derived flip indices).
    synth = get_skeleton("synth30")
    src = data.draw(hnp.arrays(np.float64, (30, 2), elements=st.floats(-1e3, 1e3)))
    flipped = src[synth.flip_indices] * np.array([-1.0, 1.0])
    a, _ = convert_keypoints(flipped, synth, skel)
    b, _ = convert_keypoints(src, synth, skel)
    np.testing.assert_allclose(a, b[skel.flip_indices] * np.array([-1.0, 1.0]), atol=1e-9)
