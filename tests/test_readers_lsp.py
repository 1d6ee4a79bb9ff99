"""LSP / LSP-extended reader: the real 3 x 14 x 2000 labels (PC and OC), the LSP-extended
14 x 3 x N orientation written in its real layout, both flag conventions, and bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from posekit.data.readers import FormatError, read_dataset, read_lsp

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "lsp"
needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="../shared/fixtures/lsp is absent")


@needs_fixtures
def test_lsp_fixture_values():
    samples = list(read_lsp(FIXTURES / "lsp-joints-PC.mat", image_dir="lsp/images"))
    assert len(samples) == 2000
    first = samples[0]
    assert first.skeleton.name == "lsp14" and first.meta["file"] == "lsp/images/im0001.jpg"
    assert first.meta["split"] == "train" and samples[1000].meta["split"] == "test"
    assert samples[1999].meta["file"].endswith("im2000.jpg")
    # image 1, right ankle (29.74645941, 143.34544031) flag 0 (visible); head top (38.9884044, 15.56550525)
    np.testing.assert_allclose(first.keypoints[0, 0], [28.74645941, 142.34544031], rtol=1e-6)
    np.testing.assert_allclose(first.keypoints[0, 13], [37.9884044, 14.56550525], rtol=1e-6)
    assert first.visibility.tolist() == [[2] * 14]
    raw = scipy.io.loadmat(FIXTURES / "lsp-joints-PC.mat")["joints"]  # 3 x 14 x 2000, independently
    vis = np.stack([s.visibility[0] for s in samples])
    np.testing.assert_array_equal(vis, np.where(raw[2].T == 0, 2, 1))
    assert (vis == 1).mean() == pytest.approx(0.073)  # 2044 occluded flags of 28000
    np.testing.assert_allclose(np.stack([s.keypoints[0] for s in samples]), raw[:2].transpose(2, 1, 0) - 1, rtol=1e-6)
    np.testing.assert_allclose(first.boxes[0], [*first.keypoints[0].min(0), *first.keypoints[0].max(0)])


@needs_fixtures
def test_person_and_observer_centric_labels_differ_in_756_images():
    pc = read_dataset("lsp", FIXTURES / "lsp-joints-PC.mat")
    oc = read_dataset("lsp", FIXTURES / "lsp-joints-OC.mat")
    differ = sum(not np.array_equal(a.keypoints, b.keypoints) for a, b in zip(pc, oc))
    assert differ == 756  # REFERENCE-METRICS-FORMATS.md A3.1


def _lspet(path: Path, joints: np.ndarray) -> None:
    """An LSP-extended joints.mat: joints (N, 14, 3) stored 14 x 3 x N, as in lspet_dataset."""
    scipy.io.savemat(path, {"joints": joints.transpose(1, 2, 0)})


def test_lspet_orientation_and_flag_convention(tmp_path):
    joints = np.zeros((3, 14, 3))
    joints[..., 0] = np.arange(42).reshape(3, 14) + 1
    joints[..., 1] = 100 + np.arange(42).reshape(3, 14)
    joints[..., 2] = 1
    joints[1, 4, 2] = 0  # image 2, left knee occluded (LSP-extended: 0 = occluded)
    _lspet(tmp_path / "joints.mat", joints)
    samples = list(read_lsp(tmp_path / "joints.mat"))
    assert [s.meta["file"] for s in samples] == ["im00001.jpg", "im00002.jpg", "im00003.jpg"]
    assert all(s.meta["split"] == "train" for s in samples)
    np.testing.assert_array_equal(samples[1].keypoints[0, 4], [joints[1, 4, 0] - 1, joints[1, 4, 1] - 1])
    assert samples[1].visibility[0, 4] == 1 and samples[1].visibility[0, 3] == 2
    flipped = list(read_lsp(tmp_path / "joints.mat", visible_flag=0))
    assert flipped[1].visibility[0, 4] == 2 and flipped[1].visibility[0, 3] == 1


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 6), st.just(14), st.just(2)), elements=st.floats(1, 1000)),
       st.data())
def test_both_orientations_read_the_same(tmp_path_factory, xy, data):
    """The same labels stored as LSP (3 x 14 x N, 0 = visible) and as LSP-extended (14 x 3 x N,
    1 = visible) give the same keypoints and visibility."""
    visible = data.draw(hnp.arrays(bool, xy.shape[:2]))
    folder = tmp_path_factory.mktemp("lsp")
    lsp = np.concatenate([xy, np.where(visible, 0.0, 1.0)[..., None]], axis=2)  # (N, 14, 3)
    scipy.io.savemat(folder / "lsp.mat", {"joints": lsp.transpose(2, 1, 0)})
    lspet = lsp.copy()
    lspet[..., 2] = 1 - lspet[..., 2]
    _lspet(folder / "lspet.mat", lspet)
    for a, b in zip(read_lsp(folder / "lsp.mat"), read_lsp(folder / "lspet.mat"), strict=True):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.visibility, b.visibility)
    first = next(read_lsp(folder / "lsp.mat"))
    np.testing.assert_allclose(first.keypoints[0], xy[0] - 1, rtol=1e-6)
    np.testing.assert_array_equal(first.visibility[0], np.where(visible[0], 2, 1))


def test_bad_lsp_files(tmp_path):
    path = tmp_path / "joints.mat"
    scipy.io.savemat(path, {"joints": np.zeros((3, 13, 4))})
    with pytest.raises(FormatError, match=r"joints\.mat: field 'joints' has shape \(3, 13, 4\), expected 3 x 14 x N"):
        read_lsp(path)
    bad = np.zeros((3, 14, 4))
    bad[2, 5, 3] = 2
    scipy.io.savemat(path, {"joints": bad})
    with pytest.raises(FormatError, match=r"joints\.mat: image 4: field 'joints' has visibility flag 2 at joint 5"):
        read_lsp(path)
    scipy.io.savemat(path, {"points": np.zeros((3, 14, 4))})
    with pytest.raises(FormatError, match=r"joints\.mat: field 'joints' is missing"):
        read_lsp(path)
    with pytest.raises(FormatError, match="file not found"):
        read_lsp(tmp_path / "none.mat")


@needs_fixtures
def test_truncated_lsp(tmp_path):
    cut = tmp_path / "cut.mat"
    cut.write_bytes((FIXTURES / "lsp-joints-OC.mat").read_bytes()[:200000])
    with pytest.raises(FormatError, match=r"cut\.mat: cannot be read as a MATLAB file \(truncated or corrupt"):
        read_lsp(cut)
