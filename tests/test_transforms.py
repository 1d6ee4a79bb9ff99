import numpy as np
from hypothesis import given, settings, strategies as st

from posekit.data.transforms import (apply_affine, box_to_center_size, compose, crop_affine, flip_matrix,
                                     invert_affine, warp)

finite = st.floats(-500, 500, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(cx=finite, cy=finite, w=st.floats(2, 400), h=st.floats(2, 400), rot=st.floats(-180, 180),
       out_w=st.integers(8, 256), out_h=st.integers(8, 256))
def test_crop_affine_round_trip_and_edges(cx, cy, w, h, rot, out_w, out_h):
    m = crop_affine(np.array([cx, cy]), np.array([w, h]), (out_w, out_h), rot)
    pts = np.random.default_rng(0).uniform(-300, 300, (5, 2))
    back = apply_affine(apply_affine(pts, m), invert_affine(m))
    assert np.allclose(back, pts, atol=1e-6)
    # the centre maps to the crop centre, whatever the rotation
    assert np.allclose(apply_affine(np.array([[cx, cy]]), m), [[(out_w - 1) / 2, (out_h - 1) / 2]], atol=1e-6)
    if rot == 0:
        corners = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy + h / 2]])
        assert np.allclose(apply_affine(corners, m), [[-0.5, -0.5], [out_w - 0.5, out_h - 0.5]], atol=1e-6)


def test_warp_samples_pixel_centres():
    # a crop of exactly the image at scale 1 reproduces the image (pixel centres at integers)
    img = np.random.default_rng(1).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    m = crop_affine(np.array([7.5, 5.5]), np.array([16, 12]), (16, 12))
    assert np.array_equal(warp(img, m, (16, 12)), img)


def test_flip_matrix_composes_with_crop():
    m = compose(flip_matrix(10), crop_affine(np.array([4.5, 4.5]), np.array([10, 10]), (10, 10)))
    assert np.allclose(apply_affine(np.array([[0.0, 3.0], [9.0, 3.0]]), m), [[9, 3], [0, 3]])


def test_box_to_center_size_keeps_aspect_and_pads():
    c, s = box_to_center_size(np.array([[0, 0, 100, 100], [0, 0, 30, 120]]), aspect=0.75, padding=1.25)
    assert np.allclose(c, [[50, 50], [15, 60]])
    assert np.allclose(s[:, 0] / s[:, 1], 0.75)
    assert np.allclose(s, [[125, 125 / 0.75], [112.5, 150]])
