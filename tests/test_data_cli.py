"""``posekit data convert|show`` and the PoseSample -> COCO JSON converter."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.data.convert import ConversionError, samples_to_coco, write_json_atomic
from posekit.data.readers import read_dataset
from posekit.skeletons import get_skeleton
from posekit.structures import PoseSample

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
REPO = Path(__file__).resolve().parents[1]


def need(*paths: Path) -> None:
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.skip(f"shared fixtures not available: {missing}")


def posekit(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "posekit.cli", "data", *map(str, args)], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def one_error_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert lines[0].startswith("posekit data: error: ")
    return lines[0]


# --- converter ---------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(1, 4))
def test_round_trip_through_the_coco_reader(seed, num_images, max_people):
    """Random coco17 samples -> COCO JSON -> posekit's COCO reader gives the same people
    (coordinates on a 1/8 px grid, exact in the 3-decimal JSON)."""
    rng = np.random.default_rng(seed)
    sk = get_skeleton("coco17")
    samples = []
    for i in range(num_images):
        n = int(rng.integers(1, max_people + 1))
        kps = rng.integers(0, 8 * 600, (n, 17, 2)) / 8.0
        vis = rng.integers(0, 3, (n, 17)).astype(np.uint8)
        vis[:, 0] = 2  # every person has a labelled joint
        kps[vis == 0] = 0.0
        x1y1 = rng.integers(0, 8 * 300, (n, 2)) / 8.0
        boxes = np.concatenate([x1y1, x1y1 + rng.integers(8, 8 * 200, (n, 2)) / 8.0], axis=1)
        samples.append(PoseSample(image=None, keypoints=kps.astype(np.float32), visibility=vis,
                                  boxes=boxes.astype(np.float32), skeleton=sk, ids=np.arange(n),
                                  meta={"image_id": 100 + i, "file": f"img{i}.jpg", "width": 640, "height": 480}))
    coco = samples_to_coco(samples)
    assert [c["name"] for c in coco["categories"]] == ["person"]
    assert coco["categories"][0]["keypoints"] == list(sk.names)
    assert len(coco["categories"][0]["skeleton"]) == len(sk.links)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gt.json"
        write_json_atomic(path, coco)
        back = list(read_dataset("coco", path))
    assert len(back) == num_images
    for orig, got in zip(samples, back):
        assert got.meta["image_id"] == orig.meta["image_id"] and got.meta["file"] == orig.meta["file"]
        assert np.array_equal(got.visibility, orig.visibility)
        assert np.array_equal(got.keypoints, orig.keypoints)
        assert np.allclose(got.boxes, orig.boxes, atol=1e-4)
        w, h = (orig.boxes[:, 2:] - orig.boxes[:, :2]).T
        # no source area: xtcocotools' 0.53 * w * h (3 decimals, float32)
        assert np.allclose(got.meta["areas"], 0.53 * w * h, rtol=1e-6, atol=1e-3)
        assert np.array_equal(got.meta["num_keypoints"], (orig.visibility > 0).sum(axis=1))
        assert (got.ids >= 1).all()  # annotation ids start at 1 (pycocotools miscounts id 0: trap 1)


def test_non_pose_items_and_mixed_skeletons_are_refused():
    with pytest.raises(ConversionError, match="record 0: is a dict, not a 2D pose sample"):
        samples_to_coco([{}], source="x.npz")
    a = PoseSample(None, np.zeros((1, 17, 2), np.float32), np.full((1, 17), 2, np.uint8),
                   np.array([[0, 0, 10, 10]], np.float32), get_skeleton("coco17"))
    b = PoseSample(None, np.zeros((1, 14, 2), np.float32), np.full((1, 14), 2, np.uint8),
                   np.array([[0, 0, 10, 10]], np.float32), get_skeleton("lsp14"))
    with pytest.raises(ConversionError, match="record 1: field 'skeleton' is 'lsp14'"):
        samples_to_coco([a, b], source="mixed")
    with pytest.raises(ConversionError, match="holds no samples"):
        samples_to_coco([], source="empty")


# --- posekit data convert ----------------------------------------------------------------------------


def test_convert_coco_fixture_round_trips(tmp_path):
    src = FIXTURES / "coco" / "test_coco.json"
    need(src)
    out = posekit("convert", "coco", src, tmp_path / "out.json")
    assert out.returncode == 0, out.stderr
    assert "4 images, 14 people" in out.stdout
    original, back = list(read_dataset("coco", src)), list(read_dataset("coco", tmp_path / "out.json"))
    for a, b in zip(original, back, strict=True):
        assert np.array_equal(a.visibility, b.visibility)
        assert np.allclose(a.keypoints, b.keypoints, atol=5e-4)
        assert np.allclose(a.meta["areas"], b.meta["areas"], atol=5e-4)
        assert np.array_equal(a.meta["iscrowd"], b.meta["iscrowd"])


def test_convert_lsp_keeps_its_skeleton(tmp_path):
    src = FIXTURES / "lsp" / "lsp-joints-PC.mat"
    need(src)
    assert posekit("convert", "lsp", src, tmp_path / "lsp.json").returncode == 0
    coco = json.loads((tmp_path / "lsp.json").read_text())
    assert len(coco["images"]) == 2000 and len(coco["annotations"]) == 2000
    cat = coco["categories"][0]
    assert cat["keypoints"] == list(get_skeleton("lsp14").names)
    assert all(1 <= i <= 14 for link in cat["skeleton"] for i in link)
    from scipy.io import loadmat

    raw = loadmat(src)["joints"]  # (3, 14, 2000), 1-based pixels, flag 0 = visible
    ann = coco["annotations"][1500]
    kps = np.array(ann["keypoints"]).reshape(14, 3)
    assert np.allclose(kps[:, :2], raw[:2, :, 1500].T - 1.0, atol=5e-4)
    assert kps[:, 2].tolist() == np.where(raw[2, :, 1500] == 0, 2, 1).tolist()
    assert ann["num_keypoints"] == 14 and ann["iscrowd"] == 0
    x, y, w, h = ann["bbox"]
    assert ann["area"] == pytest.approx(0.53 * w * h, rel=1e-5)  # LSP has no area: 0.53 w h; w, h to 3 decimals
    assert coco["images"][1500]["file_name"] == "im1501.jpg"


def test_convert_h36m_adds_3d(tmp_path):
    src = FIXTURES / "h36m" / "test_h36m_body3d.npz"
    need(src)
    assert posekit("convert", "h36m", src, tmp_path / "h.json").returncode == 0
    ann = json.loads((tmp_path / "h.json").read_text())["annotations"][0]
    with np.load(src) as npz:
        assert np.allclose(np.array(ann["keypoints_3d"]).reshape(17, 3), npz["S"][0, :, :3], atol=1e-3)


def test_convert_errors_leave_destination_untouched(tmp_path):
    dst = tmp_path / "dst.json"
    dst.write_text("old")
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [')
    line = one_error_line(posekit("convert", "coco", bad, dst))
    assert "bad.json" in line
    line = one_error_line(posekit("convert", "amass", bad, dst))
    assert "format 'amass'" in line and "no 2D keypoints" in line
    assert dst.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "dst.json"]


# --- posekit data show -------------------------------------------------------------------------------


def test_show_draws_on_the_images(tmp_path):
    src = FIXTURES / "coco" / "test_coco.json"
    need(src)
    out = posekit("show", src, "--image-dir", FIXTURES / "coco", "--num", "2", "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    pngs = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in pngs] == ["0000_000000000785.png", "0001_000000040083.png"]
    import cv2

    drawn = cv2.imread(str(pngs[0]))
    photo = cv2.imread(str(FIXTURES / "coco" / "000000000785.jpg"))
    assert drawn.shape == photo.shape
    assert 0 < np.mean(np.any(drawn != photo, axis=2)) < 0.2  # a skeleton, not a blank or a copy


def test_show_without_images_uses_a_canvas(tmp_path):
    src = FIXTURES / "lsp" / "lsp-joints-PC.mat"
    need(src)
    out = posekit("show", src, "--format", "lsp", "--num", "1", "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    assert "blank canvas" in out.stdout
    import cv2

    img = cv2.imread(str(tmp_path / "0000_im0001.png"))
    assert img is not None and img.any()


def test_show_needs_a_format_it_can_tell(tmp_path):
    src = FIXTURES / "lsp" / "lsp-joints-PC.mat"
    need(src)
    line = one_error_line(posekit("show", src, "--out", tmp_path))
    assert "lsp-joints-PC.mat: cannot tell the format from the suffix; give --format" in line


# --- every reader through convert and show (issue 3) ---------------------------------------------------

EVERY_FORMAT = [
    ("coco", "coco/test_coco.json", "coco17"),
    ("crowdpose", "crowdpose/test_crowdpose.json", "crowdpose14"),
    ("aic", "aic/test_aic.json", "aic14"),
    ("aic", "aic_eval/keypoint_annotations_example.json", "aic14"),
    ("mpii", "mpii/test_mpii.json", "mpii16"),
    ("mpii", "mpii_eval/valid.h5", "mpii16"),
    ("lsp", "lsp/lsp-joints-OC.mat", "lsp14"),
    ("flic", "flic/flic-joints-oc.mat", "flic"),
    ("h36m", "h36m/test_h36m_body3d.npz", "h36m17"),
    ("h36m", "h36m/test_h36m.npz", "h36m17"),
    ("mpi_inf_3dhp", "mpi_inf_3dhp/test_3dhp_test.npz", "mpi_inf_3dhp17"),
]


@pytest.mark.parametrize("fmt, rel, skeleton", EVERY_FORMAT, ids=[c[1] for c in EVERY_FORMAT])
def test_convert_every_reader_round_trips(tmp_path, fmt, rel, skeleton):
    """Every fixture -> ``posekit data convert`` -> posekit's COCO reader in the dataset's own
    skeleton: the same people, labelled joints and visibility codes; annotation ids from 1."""
    src = FIXTURES / rel
    need(src)
    out = posekit("convert", fmt, src, tmp_path / "out.json")
    assert out.returncode == 0, out.stderr
    original = list(read_dataset(fmt, src))
    from posekit.data.readers import MPI_INF_3DHP17  # defined by its reader, not a built-in skeleton

    sk = MPI_INF_3DHP17 if skeleton == MPI_INF_3DHP17.name else skeleton
    back = list(read_dataset("coco", tmp_path / "out.json", skeleton=sk))
    assert len(back) == len(original) and back[0].skeleton.name == skeleton
    for a, b in zip(original, back):
        assert np.array_equal(a.visibility, b.visibility)
        labelled = a.visibility > 0
        assert np.allclose(a.keypoints[labelled], b.keypoints[labelled], atol=5e-4)
        assert (b.ids >= 1).all()
    coco = json.loads((tmp_path / "out.json").read_text())
    assert [a["id"] for a in coco["annotations"]] == list(range(1, len(coco["annotations"]) + 1))


@pytest.mark.parametrize("fmt, rel, skeleton", EVERY_FORMAT, ids=[c[1] for c in EVERY_FORMAT])
def test_show_every_reader(tmp_path, fmt, rel, skeleton):
    src = FIXTURES / rel
    need(src)
    out = posekit("show", src, "--format", fmt, "--num", "1", "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    (png,) = tmp_path.glob("*.png")
    import cv2

    image = cv2.imread(str(png))
    assert image is not None and image.any()  # something was drawn


def test_convert_crowdpose_scores_like_the_crowdpose_protocol(tmp_path):
    """The converted CrowdPose file, scored by the plain COCO protocol (pycocotools' defaults with
    the CrowdPose sigmas), equals the original under the CrowdPose protocol: the missing ``area``
    becomes ``0.53 * w * h`` and ``num_keypoints`` (which counts v = 2 only there and decides which
    people are ignored) is kept as written (REFERENCE trap 5, A1.7, B6)."""
    gt = FIXTURES / "crowdpose_eval" / "example_crowdpose_val.json"
    res = FIXTURES / "crowdpose_eval" / "example_crowdpose_preds.json"
    need(gt, res)
    from posekit.metrics.coco_eval import CocoEvalParams, coco_keypoint_eval
    from posekit.metrics.crowdpose_eval import CROWDPOSE_SIGMAS, crowdpose_params

    assert posekit("convert", "crowdpose", gt, tmp_path / "cp.json").returncode == 0
    converted = json.loads((tmp_path / "cp.json").read_text())
    original = json.loads(gt.read_text())
    assert [a["num_keypoints"] for a in converted["annotations"]] == [a["num_keypoints"]
                                                                     for a in original["annotations"]]
    recounted = [int(np.count_nonzero(np.array(a["keypoints"][2::3]) > 0)) for a in original["annotations"]]
    assert recounted != [a["num_keypoints"] for a in original["annotations"]]  # the field does differ here
    expected = coco_keypoint_eval(gt, res, crowdpose_params()).stats
    assert coco_keypoint_eval(converted, res, CocoEvalParams(sigmas=CROWDPOSE_SIGMAS)).stats == pytest.approx(
        expected, abs=1e-12)


def test_convert_writes_coco_categories_with_one_based_links(tmp_path):
    """COCO's category ``skeleton`` is 1-based (REFERENCE B1): the COCO fixture's own list comes back."""
    src = FIXTURES / "coco" / "test_coco.json"
    need(src)
    assert posekit("convert", "coco", src, tmp_path / "out.json").returncode == 0
    written = json.loads((tmp_path / "out.json").read_text())["categories"][0]
    official = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
    assert sorted(map(sorted, written["skeleton"])) == sorted(map(sorted, official))
    assert written["keypoints"] == json.loads(src.read_text())["categories"][0]["keypoints"]


def test_videopose3d_files_need_trust_pickle(tmp_path):
    """VideoPose3D's npz files are pickles: convert and show refuse them without --trust-pickle."""
    from posekit.data.readers.h36m import CAMERA_IDS

    rng = np.random.default_rng(0)
    views = [rng.uniform(0, 1000, (3, 17, 2)).astype(np.float32) for _ in CAMERA_IDS]
    np.savez_compressed(tmp_path / "data_2d_h36m_gt.npz", positions_2d={"S9": {"Walking 1": views}},
                        metadata={"layout_name": "h36m", "num_joints": 17})
    src = tmp_path / "data_2d_h36m_gt.npz"
    line = one_error_line(posekit("convert", "h36m", src, tmp_path / "out.json"))
    assert "field 'positions_2d' is stored as a Python pickle" in line and "--trust-pickle" in line
    out = posekit("convert", "h36m", src, tmp_path / "out.json", "--trust-pickle", "--image-dir", "imgs")
    assert out.returncode == 0, out.stderr
    coco = json.loads((tmp_path / "out.json").read_text())
    assert len(coco["images"]) == 3 * 4
    np.testing.assert_allclose(np.array(coco["annotations"][4]["keypoints"]).reshape(17, 3)[:, :2], views[1][1],
                               atol=5e-4)
    out = posekit("show", src, "--format", "h36m", "--trust-pickle", "--num", "2", "--out", tmp_path / "show")
    assert out.returncode == 0, out.stderr
    assert len(list((tmp_path / "show").glob("*.png"))) == 2


def test_people_without_box_or_2d_joint(tmp_path):
    """VideoPose3D's 3D file alone has no 2D joints and no boxes: convert refuses it with a named
    field instead of writing NaN (not JSON); show draws what there is (nothing) without failing."""
    np.savez_compressed(tmp_path / "data_3d_h36m.npz",
                        positions_3d={"S9": {"Walking 1": np.zeros((2, 32, 3), np.float32)}})
    line = one_error_line(posekit("convert", "h36m", tmp_path / "data_3d_h36m.npz", tmp_path / "o.json",
                                  "--trust-pickle"))
    assert "data_3d_h36m.npz: record 0: image 1: person 0: field 'boxes' is not finite" in line
    assert not (tmp_path / "o.json").exists()
    out = posekit("show", tmp_path / "data_3d_h36m.npz", "--format", "h36m", "--trust-pickle", "--num", "1",
                  "--out", tmp_path / "show")
    assert out.returncode == 0 and "no labelled 2D joint" in out.stdout, out.stderr
