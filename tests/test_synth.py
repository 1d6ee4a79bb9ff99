"""Tests for the synthetic benchmark generator (posekit.data.synth, ``posekit synth``)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from posekit.data.synth import generate, render_sample, synthesize
from posekit.data.synth import rle
from posekit.data.synth.annotate import SMALL_AREA, person_annotation, visibility
from posekit.data.synth.body import DRILLIS_CONTINI, SEGMENTS, BodyModel, BodyShape, build_body, sample_body
from posekit.data.synth.camera import Camera, intrinsics, look_at
from posekit.data.synth.kinematics import (
    COLLISION_TOLERANCE, axis_rotation, euler_to_matrix, max_penetration, pose_body, segment_distances,
)
from posekit.data.synth.points import COCO17_FROM_SYNTH, INDEX, POINT_NAMES
from posekit.data.synth.pose import JOINT_LIMITS, NEUTRAL, TEMPLATES, mirror_pose, sample_pose, soft_clip
from posekit.data.synth.render import Light, Primitives, continuous_bbox, pixel_box, render
from posekit.data.synth.scene import _add_people, _place
from posekit.data.synth.textures import sample_outfit

SIZE = 128


def _unit_body(height: float = 1.7) -> BodyModel:
    return build_body(BodyShape(height, 1.0, 1.0, 1.0, {k: 1.0 for k in SEGMENTS}, False))


# --- determinism -------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["single", "scene"])
def test_same_seed_index_gives_same_sample(mode):
    a = synthesize(7, 3, mode, SIZE)
    b = synthesize(7, 3, mode, SIZE)
    assert a.annotations == b.annotations and a.info == b.info
    np.testing.assert_array_equal(a.image, b.image)
    c = synthesize(7, 4, mode, SIZE)
    assert not np.array_equal(a.image, c.image)


def test_prefix_and_worker_count_do_not_change_output(tmp_path):
    generate(tmp_path / "a", 3, seed=5, mode="scene", size=SIZE, workers=1)
    generate(tmp_path / "b", 5, seed=5, mode="scene", size=SIZE, workers=2)
    ja = json.loads((tmp_path / "a" / "annotations.json").read_text())
    jb = json.loads((tmp_path / "b" / "annotations.json").read_text())
    assert ja["images"] == jb["images"][:3]
    n = len(ja["annotations"])
    assert ja["annotations"] == jb["annotations"][:n]
    assert all(a["image_id"] > 3 for a in jb["annotations"][n:])
    for i in range(3):
        name = f"{i:06d}.jpg"
        assert (tmp_path / "a" / "images" / name).read_bytes() == (tmp_path / "b" / "images" / name).read_bytes()


def test_render_sample_matches_written_file(tmp_path):
    cv2 = pytest.importorskip("cv2")
    generate(tmp_path, 2, seed=11, mode="single", size=SIZE)
    img, anns = render_sample(11, 1, "single", SIZE)
    disk = cv2.imread(str(tmp_path / "images" / "000001.jpg"))[:, :, ::-1]
    np.testing.assert_array_equal(img, disk)
    data = json.loads((tmp_path / "annotations.json").read_text())
    assert [a["keypoints"] for a in data["annotations"] if a["image_id"] == 2] == [a["keypoints"] for a in anns]


# --- COCO format -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def coco_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    generate(root / "single", 6, seed=1, mode="single", size=SIZE)
    generate(root / "scene", 6, seed=2, mode="scene", size=SIZE, max_people=4, height_frac=[0.5, 0.95])
    return root


@pytest.mark.parametrize("mode", ["single", "scene"])
def test_pycocotools_loads_and_gt_as_results_gives_ap_1(coco_sets, mode):
    coco_mod = pytest.importorskip("pycocotools.coco")
    from pycocotools.cocoeval import COCOeval

    gt = coco_mod.COCO(str(coco_sets / mode / "annotations.json"))
    anns = gt.dataset["annotations"]
    assert min(a["id"] for a in anns) == 1 and min(gt.getImgIds()) == 1
    dets = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
            for a in anns if a["num_keypoints"] > 0]
    assert dets, "no labelled person"
    ev = COCOeval(gt, gt.loadRes(dets), "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_coco_fields_and_extras(coco_sets):
    data = json.loads((coco_sets / "scene" / "annotations.json").read_text())
    cat = data["categories"][0]
    assert cat["keypoints"][0] == "nose" and cat["keypoints"][-1] == "right_ankle"
    assert [16, 14] in cat["skeleton"] and len(cat["skeleton"]) == 19
    assert data["point_names"] == list(POINT_NAMES)
    meta = data["posekit_synth"]
    assert meta["mode"] == "scene" and meta["size"] == [SIZE, SIZE] and meta["knobs"]["max_people"] == 4
    for img in data["images"]:
        assert img["file_name"] == f"{img['id'] - 1:06d}.jpg"
        assert (coco_sets / "scene" / "images" / img["file_name"]).exists()
        assert np.array(img["cam_K"]).shape == (3, 3) and np.array(img["cam_R"]).shape == (3, 3)
    for a in data["annotations"]:
        assert a["category_id"] == 1 and a["iscrowd"] == 0 and len(a["keypoints"]) == 51
        assert np.array(a["joints_3d_cam"]).shape == (30, 3) and len(a["vis_all"]) == 30
        assert np.array(a["keypoints_3d"]).shape == (17, 3) and len(a["bbox_amodal"]) == 4
        assert a["body"]["height"] > 0.9


def test_rle_matches_pycocotools_and_area(coco_sets):
    mask_api = pytest.importorskip("pycocotools.mask")
    data = json.loads((coco_sets / "scene" / "annotations.json").read_text())
    for a in data["annotations"]:
        m = mask_api.decode(a["segmentation"])
        assert int(m.sum()) == a["area"]
        np.testing.assert_array_equal(m.astype(bool), rle.decode(a["segmentation"]))
        np.testing.assert_allclose(mask_api.toBbox(a["segmentation"]), a["bbox"])


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(bool, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40)))
def test_rle_round_trip_and_pycocotools_agreement(mask):
    enc = rle.encode(mask)
    np.testing.assert_array_equal(rle.decode(enc), mask)
    assert rle.string_to_counts(enc["counts"]) == rle.mask_counts(mask)
    mask_api = pytest.importorskip("pycocotools.mask")
    ref = mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert ref["counts"].decode() == enc["counts"]


# --- visibility rule ---------------------------------------------------------------------

def _render_person(body, euler, azimuth_deg, extra=None):
    outfit = sample_outfit(np.random.default_rng(0))
    pose = type("P", (), {"posed": pose_body(body, euler, np.eye(3))})
    person = _place(body, pose, outfit, 0.0, (0.0, 0.0))
    a = np.deg2rad(azimuth_deg)
    target = np.array([0.0, 0.9, 0.0])
    R, t = look_at(target + 3.0 * np.array([np.sin(a), 0.0, np.cos(a)]), target)
    cam = Camera(intrinsics(160, 160, 50.0), R, t, 160, 160)
    prims = Primitives()
    _add_people(prims, cam, [person])
    if extra is not None:
        extra(prims, cam, person)
    light = Light(np.array([0.0, 0.0, -1.0]), np.ones(3, np.float32), 0.5)
    out = render(prims, cam.K, 160, 160, light, np.zeros((160, 160, 3), np.float32))
    pts = cam.to_camera(person.points)
    uv = cam.project(pts)
    return visibility(pts, body.point_radius, uv, out.depth), pts, uv, out


def test_back_view_occludes_nose_and_front_view_shows_it():
    body = _unit_body()
    front, *_ = _render_person(body, NEUTRAL, 0.0)
    back, *_ = _render_person(body, NEUTRAL, 180.0)
    for name in ("nose", "left_eye", "right_eye"):
        assert front[INDEX[name]] == 2 and back[INDEX[name]] == 1
    assert back[INDEX["left_shoulder"]] == 2 and back[INDEX["left_ear"]] == 2


def test_profile_view_occludes_far_shoulder():
    body = _unit_body()
    vis, *_ = _render_person(body, NEUTRAL, 90.0)  # camera at the person's left
    assert vis[INDEX["left_shoulder"]] == 2 and vis[INDEX["right_shoulder"]] == 1
    assert vis[INDEX["left_ear"]] == 2 and vis[INDEX["right_ear"]] == 1


def test_left_points_are_on_the_persons_left():
    body = _unit_body()
    _, _, front_uv, _ = _render_person(body, NEUTRAL, 0.0)  # facing the camera: left is image right
    _, _, back_uv, _ = _render_person(body, NEUTRAL, 180.0)
    for name in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle", "eye", "ear"):
        left, right = INDEX["left_" + name], INDEX["right_" + name]
        assert front_uv[left, 0] > front_uv[right, 0] and back_uv[left, 0] < back_uv[right, 0], name
    assert front_uv[INDEX["nose"], 1] < front_uv[INDEX["left_shoulder"], 1]  # image y points down


def test_occluder_in_front_of_joint_gives_v1():
    body = _unit_body()
    j = INDEX["left_knee"]
    clear, *_ = _render_person(body, NEUTRAL, 0.0)

    def occluder(prims, cam, person):
        p = cam.to_camera(person.points[j])
        prims.add_ellipsoid(0.7 * p, np.eye(3), np.array([0.05, 0.05, 0.05]), 0, person.outfit["shoe"])

    blocked, *_ = _render_person(body, NEUTRAL, 0.0, occluder)
    assert clear[j] == 2 and blocked[j] == 1
    assert blocked[INDEX["nose"]] == 2


def test_point_outside_image_gets_v0_and_zero_coordinates():
    depth = np.full((50, 60), np.inf)
    pts = np.array([[0.0, 0.0, 2.0], [5.0, 0.0, 2.0], [0.0, 0.0, -1.0]])
    uv = np.array([[30.0, 25.0], [80.0, 25.0], [30.0, 25.0]])
    np.testing.assert_array_equal(visibility(pts, np.full(3, 0.05), uv, depth), [2, 0, 0])
    # Edges: pixel centres at integers, so x = -0.5 is inside and x = W - 0.5 outside.
    uv2 = np.array([[-0.5, 0.0], [59.49, 49.49], [59.5, 0.0]])
    np.testing.assert_array_equal(visibility(pts[[0, 0, 0]], np.full(3, 0.05), uv2, depth), [2, 2, 0])
    points = np.zeros((30, 3))
    points[:, 2] = 2.0
    uv30 = np.full((30, 2), 10.0)
    vis30 = np.full(30, 2)
    uv30[INDEX["left_wrist"]] = (-7.0, 3.0)
    vis30[INDEX["left_wrist"]] = 0
    mask = np.zeros((50, 60), bool)
    mask[5:45, 5:45] = True
    ann = person_annotation(mask, points, uv30, vis30, (5, 45, 5, 45))
    kp = np.array(ann["keypoints"]).reshape(17, 3)
    k = list(COCO17_FROM_SYNTH).index(INDEX["left_wrist"])
    np.testing.assert_array_equal(kp[k], [0, 0, 0])
    assert ann["num_keypoints"] == 16 and ann["bbox"] == [5.0, 5.0, 40.0, 40.0] and ann["area"] == 1600


def test_small_person_rule():
    points = np.zeros((30, 3))
    points[:, 2] = 2.0
    uv = np.full((30, 2), 10.0)
    vis = np.full(30, 2)
    small = np.zeros((64, 64), bool)
    small[0:31, 0:32] = True  # 992 px < 32^2
    ann = person_annotation(small, points, uv, vis, (0, 31, 0, 30))
    assert ann["num_keypoints"] == 0 and set(ann["keypoints"]) == {0.0} and ann["area"] == 992
    assert ann["vis_all"] == [2] * 30  # extras stay complete
    big = np.zeros((64, 64), bool)
    big[0:32, 0:32] = True
    assert person_annotation(big, points, uv, vis, (0, 31, 0, 31))["num_keypoints"] == 17
    few = vis.copy()
    few[COCO17_FROM_SYNTH[3:]] = 0  # only 3 labelled COCO points
    assert person_annotation(big, points, uv, few, (0, 31, 0, 31))["num_keypoints"] == 0


def test_generated_small_people_follow_rule(coco_sets):
    data = json.loads((coco_sets / "scene" / "annotations.json").read_text())
    for a in data["annotations"]:
        labelled = sum(1 for v in a["keypoints"][2::3] if v > 0)
        assert labelled == a["num_keypoints"]
        if a["area"] < SMALL_AREA:
            assert a["num_keypoints"] == 0
        assert a["num_keypoints"] == 0 or a["num_keypoints"] >= 4


# --- geometry ------------------------------------------------------------------------------

def test_projection_of_3d_joints_equals_joints_2d_all(coco_sets):
    data = json.loads((coco_sets / "scene" / "annotations.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    for a in data["annotations"]:
        K = np.array(images[a["image_id"]]["cam_K"])
        X = np.array(a["joints_3d_cam"])
        front = X[:, 2] > 1e-6
        proj = (X[front] @ K.T)[:, :2] / X[front, 2:3]
        np.testing.assert_allclose(proj, np.array(a["joints_2d_all"])[front], atol=0.02)
        vis = np.array(a["vis_all"])
        if a["num_keypoints"]:
            kp = np.array(a["keypoints"]).reshape(17, 3)
            lab = kp[:, 2] > 0
            np.testing.assert_allclose(kp[lab, :2], np.array(a["joints_2d_all"])[COCO17_FROM_SYNTH][lab], atol=0.01)
            np.testing.assert_array_equal(kp[:, 2], vis[COCO17_FROM_SYNTH])


def test_world_and_camera_frames_agree():
    s = synthesize(3, 0, "single", SIZE)
    R, t = np.array(s.info["cam_R"]), np.array(s.info["cam_t"])
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-6)
    a = s.annotations[0]
    # the person stands upright-ish: head_top is above the ankles in the world frame
    Xw = (np.array(a["joints_3d_cam"]) - t) @ R
    assert Xw[:, 1].min() >= -1e-3  # nothing below the floor
    # single mode: the body fills a large part of the frame
    x, y, w, h = a["bbox_amodal"]
    assert max(w, h) > 0.6 * SIZE


def test_bone_lengths_are_anthropometric():
    H = 1.8
    body = _unit_body(H)
    rng = np.random.default_rng(0)
    for euler in (np.zeros((24, 3)), sample_pose(rng, body, 1.0).euler):
        p = pose_body(body, euler, axis_rotation("y", 0.3)).points

        def bone(a, b):
            return np.linalg.norm(p[INDEX[a]] - p[INDEX[b]]) / H

        for side in ("left", "right"):
            assert bone(f"{side}_shoulder", f"{side}_elbow") == pytest.approx(DRILLIS_CONTINI["upper_arm"], abs=1e-9)
            assert bone(f"{side}_elbow", f"{side}_wrist") == pytest.approx(DRILLIS_CONTINI["forearm"], abs=1e-9)
            assert bone(f"{side}_hip", f"{side}_knee") == pytest.approx(DRILLIS_CONTINI["thigh"], abs=1e-9)
            assert bone(f"{side}_knee", f"{side}_ankle") == pytest.approx(DRILLIS_CONTINI["shank"], abs=1e-9)
    rest = body.joints / H
    assert rest[INDEX["left_hip"], 1] == pytest.approx(DRILLIS_CONTINI["hip_height"])
    assert rest[INDEX["head_top"], 1] == pytest.approx(1.0, abs=0.01)
    assert rest[INDEX["left_shoulder"], 1] == pytest.approx(DRILLIS_CONTINI["shoulder_height"], abs=0.02)


def test_sampled_bodies_vary():
    rng = np.random.default_rng(1)
    shapes = [sample_body(rng, child_prob=0.3) for _ in range(200)]
    heights = np.array([s.height for s in shapes])
    assert heights.std() > 0.08 and any(s.child for s in shapes)
    assert np.std([s.girth for s in shapes]) > 0.08


def test_poses_within_limits_and_collision_free():
    rng = np.random.default_rng(2)
    lo, hi = JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1]
    sources = set()
    for i in range(60):
        body = build_body(sample_body(rng, child_prob=0.2))
        ps = sample_pose(rng, body, difficulty=1.0)
        sources.add(ps.source)
        assert np.all(ps.euler >= lo - 1e-9) and np.all(ps.euler <= hi + 1e-9)
        assert max_penetration(body, ps.posed) <= COLLISION_TOLERANCE + 1e-9
    assert {"gauss", "uniform"} & sources


def test_templates_are_within_limits_and_collision_free():
    body = _unit_body()
    for name, t in TEMPLATES.items():
        assert np.allclose(soft_clip(t), t, atol=np.deg2rad(8)), name
        assert max_penetration(body, pose_body(body, soft_clip(t), np.eye(3))) <= COLLISION_TOLERANCE, name


def test_mirror_pose_mirrors_geometry():
    body = _unit_body()
    e = TEMPLATES["wave"]
    a = pose_body(body, e, np.eye(3)).points
    b = pose_body(body, mirror_pose(e), np.eye(3)).points
    from posekit.data.synth.points import mirror_index
    mirrored = b[mirror_index()] * np.array([-1.0, 1.0, 1.0])
    # rest skeleton is symmetric up to the x-mirror, so the mirrored pose mirrors the points
    np.testing.assert_allclose(mirrored, a, atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float64, (3,), elements=st.floats(-3.2, 3.2)))
def test_euler_matrix_is_rz_rx_ry(angles):
    R = euler_to_matrix(angles)
    ref = axis_rotation("z", angles[2]) @ axis_rotation("x", angles[0]) @ axis_rotation("y", angles[1])
    np.testing.assert_allclose(R, ref, atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float64, (4, 3), elements=st.floats(-2, 2)))
def test_segment_distance_matches_brute_force(p):
    got = segment_distances(p[0:1], p[1:2], p[2:3], p[3:4])[0]
    s = np.linspace(0, 1, 201)
    a = p[0] + s[:, None] * (p[1] - p[0])
    b = p[2] + s[:, None] * (p[3] - p[2])
    brute = np.min(np.linalg.norm(a[:, None] - b[None], axis=2))
    assert got <= brute + 1e-6  # eps-regularised degenerate segments
    assert got >= brute - 0.02 * (np.linalg.norm(p[1] - p[0]) + np.linalg.norm(p[3] - p[2])) - 1e-9


@settings(max_examples=30, deadline=None)
@given(st.floats(-0.5, 0.5), st.floats(-0.5, 0.5), st.floats(2.0, 6.0),
       hnp.arrays(np.float64, (3,), elements=st.floats(0.05, 0.4)), st.floats(0, 3.14))
def test_ellipsoid_bbox_is_exact(x, y, z, radii, angle):
    K = intrinsics(96, 96, 60.0)
    R = axis_rotation("z", angle) @ axis_rotation("x", 0.7 * angle)
    c = np.array([x, y, z])
    # Dense surface samples: their projection spans the dual-conic extent.
    s = np.random.default_rng(0).normal(size=(20000, 3))
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    pts = c + (s * radii) @ R.T
    uv = (pts @ K.T)[:, :2] / pts[:, 2:3]
    x0, x1, y0, y1 = continuous_bbox(K, c, R * radii)
    assert uv[:, 0].min() >= x0 - 1e-6 and uv[:, 0].max() <= x1 + 1e-6
    assert uv[:, 1].min() >= y0 - 1e-6 and uv[:, 1].max() <= y1 + 1e-6
    span = max(x1 - x0, y1 - y0)
    assert abs(uv[:, 0].min() - x0) < 0.02 * span and abs(uv[:, 1].max() - y1) < 0.02 * span
    # Every rendered pixel lies inside the pixel box used by the ray-caster.
    prims = Primitives()
    prims.add_ellipsoid(c, R, radii, 0, sample_outfit(np.random.default_rng(0))["shoe"])
    out = render(prims, K, 96, 96, Light(np.array([0.0, 0.0, -1.0]), np.ones(3, np.float32)), np.zeros((96, 96, 3), np.float32))
    ys, xs = np.nonzero(out.owner == 0)
    box = pixel_box((x0, x1, y0, y1), 96, 96)
    if len(xs):
        bx0, bx1, by0, by1 = box
        assert xs.min() >= bx0 and xs.max() <= bx1 and ys.min() >= by0 and ys.max() <= by1


def test_capsule_and_ellipsoid_depth_order():
    K = intrinsics(64, 64, 60.0)
    mat = sample_outfit(np.random.default_rng(0))["shoe"]
    prims = Primitives()
    prims.add_ellipsoid(np.array([0.0, 0.0, 3.0]), np.eye(3), np.array([0.5, 0.5, 0.5]), 0, mat, person=0)
    prims.add_capsule(np.array([-1.0, 0.0, 2.0]), np.array([1.0, 0.0, 2.0]), 0.1, mat)
    out = render(prims, K, 64, 64, Light(np.array([0.0, 0.0, -1.0]), np.ones(3, np.float32)), np.zeros((64, 64, 3), np.float32))
    c = 31  # image centre row/col (pixel centres at integers, (64 - 1) / 2 = 31.5)
    assert out.owner[c, c] == 1 and out.depth[c, c] == pytest.approx(1.9, abs=0.01)
    assert out.owner[c - 6, c] == 0 and out.depth[c - 6, c] < 3.0
    assert out.owner[0, 0] == -1 and np.isinf(out.depth[0, 0])


# --- skeleton, config, CLI -----------------------------------------------------------------

def test_point_names_match_skeleton_module():
    from posekit.skeletons import get_skeleton

    assert POINT_NAMES == tuple(get_skeleton("synth30").names)


def test_unknown_knob_and_bad_mode_are_rejected():
    with pytest.raises(ValueError, match="unknown synth knob 'nope'"):
        synthesize(0, 0, "single", SIZE, nope=1)
    with pytest.raises(ValueError, match="mode"):
        synthesize(0, 0, "crowd", SIZE)


def test_difficulty_changes_the_images():
    easy = synthesize(4, 0, "scene", SIZE, difficulty=0.0)
    hard = synthesize(4, 0, "scene", SIZE, difficulty=1.0)
    assert easy.info["num_occluders"] == 0
    assert not np.array_equal(easy.image, hard.image)


def test_cli_smoke(tmp_path, capsys):
    from posekit.cli import main

    rc = main(["synth", "--out", str(tmp_path), "--num", "2", "--seed", "3", "--size", "96x80",
               "--mode", "scene", "--quiet", "--set", "max_people=2"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 2
    data = json.loads((tmp_path / "annotations.json").read_text())
    assert data["images"][0]["width"] == 96 and data["images"][0]["height"] == 80
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["000000.jpg", "000001.jpg"]
    assert main(["synth", "--out", str(tmp_path), "--num", "1", "--set", "bogus=1", "--quiet"]) == 2
