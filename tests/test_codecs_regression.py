"""Tests for posekit.codecs.regression.RegressionCodec: the normalisation convention, round trip
(hypothesis), weights for unlabelled / non-finite / outside keypoints, borders, batch shapes,
torch input, and argument validation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.codecs import build_codec
from posekit.codecs.regression import RegressionCodec


@settings(max_examples=60, deadline=None)
@given(
    size=st.tuples(st.integers(1, 640), st.integers(1, 640)),
    fractions=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=20),
)
def test_round_trip_inside_the_crop_is_exact_to_float32(size, fractions):
    codec = RegressionCodec(input_size=size)
    # points anywhere in the crop, borders included: [-0.5, w - 0.5] x [-0.5, h - 0.5]
    kp = np.array(fractions, dtype=np.float64) * np.array(size) - 0.5
    coords, weights = codec.encode(kp, np.full(len(kp), 2))
    assert coords.dtype == np.float32 and weights.dtype == np.float32
    assert (weights == 1).all()
    assert ((coords >= 0) & (coords <= 1)).all()
    decoded, scores = codec.decode(coords[None])
    assert decoded.shape == (1, len(kp), 2) and scores.shape == (1, len(kp))
    assert np.abs(decoded[0] - kp).max() <= 1e-4 * max(size) + 1e-5
    assert (scores == 1).all()


def test_pixel_centres_and_crop_edges():
    codec = RegressionCodec(input_size=(4, 2))
    kp = np.array([[0.0, 0.0], [3.0, 1.0], [-0.5, -0.5], [3.5, 1.5], [1.5, 0.5]])
    coords, weights = codec.encode(kp, np.ones(5))
    np.testing.assert_allclose(coords, [[0.125, 0.25], [0.875, 0.75], [0, 0], [1, 1], [0.5, 0.5]])
    assert (weights == 1).all()


def test_unlabelled_non_finite_and_outside_keypoints_get_weight_zero_and_zero_coords():
    codec = RegressionCodec(input_size=(10, 20))
    kp = np.array([[5.0, 5.0], [5.0, 5.0], [np.nan, 3.0], [2.0, np.inf], [-0.51, 3.0], [9.51, 3.0],
                   [3.0, 19.6], [3.0, -1.0]])
    vis = np.array([2, 0, 2, 2, 1, 1, 2, 2])
    coords, weights = codec.encode(kp, vis)
    np.testing.assert_array_equal(weights, [1, 0, 0, 0, 0, 0, 0, 0])
    assert (coords[1:] == 0).all()
    assert np.isfinite(coords).all()


def test_batch_shapes_are_kept():
    codec = RegressionCodec(input_size=(48, 64))
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 40, size=(3, 5, 17, 2))
    coords, weights = codec.encode(kp, np.ones((3, 5, 17)))
    assert coords.shape == (3, 5, 17, 2) and weights.shape == (3, 5, 17)
    decoded, scores = codec.decode(coords)
    assert decoded.shape == (3, 5, 17, 2) and scores.shape == (3, 5, 17)
    np.testing.assert_allclose(decoded, kp, atol=1e-4)


def test_decode_accepts_torch_tensors_of_any_float_dtype():
    codec = RegressionCodec(input_size=(100, 200))
    out = torch.tensor([[[0.5, 0.25], [0.0, 1.0]]], dtype=torch.bfloat16, requires_grad=True)
    decoded, scores = codec.decode(out)
    np.testing.assert_allclose(decoded, [[[49.5, 49.5], [-0.5, 199.5]]])
    assert decoded.dtype == np.float32 and scores.dtype == np.float32


def test_decode_does_not_clip_outside_predictions():
    decoded, _ = RegressionCodec(input_size=(10, 10)).decode(np.array([[[-0.1, 1.2]]]))
    np.testing.assert_allclose(decoded, [[[-1.5, 11.5]]], atol=1e-5)


@pytest.mark.parametrize("size", [(0, 10), (10, -1), (10,), "ab", None])
def test_bad_input_size_names_the_field(size):
    with pytest.raises(ValueError, match="input_size"):
        RegressionCodec(input_size=size)


def test_bad_shapes_are_rejected():
    codec = RegressionCodec(input_size=(10, 10))
    with pytest.raises(ValueError, match="keypoints"):
        codec.encode(np.zeros((3, 3)), np.ones(3))
    with pytest.raises(ValueError, match="visibility"):
        codec.encode(np.zeros((3, 2)), np.ones(4))
    with pytest.raises(ValueError, match=r"\(\.\.\., K, 2\)"):
        codec.decode(np.zeros((1, 17, 3)))


def test_build_codec_selects_the_regression_codec():
    codec = build_codec({"type": "regression"}, (96, 128))
    assert isinstance(codec, RegressionCodec) and codec.input_size == (96, 128)


@settings(max_examples=40, deadline=None)
@given(size=st.tuples(st.integers(1, 640), st.integers(1, 640)),
       fractions=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=2))
def test_flip_back_mirrors_x_and_swaps_partners(size, fractions):
    """The mirrored crop's coordinates, flipped back, decode to the keypoints themselves."""
    codec = RegressionCodec(input_size=size)
    kp = np.array(fractions, dtype=np.float64)[None] * np.array(size) - 0.5  # (1, 2, 2): joints 0, 1 a pair
    mirrored = kp[:, ::-1] * [-1, 1] + [size[0] - 1, 0]
    coords, _ = codec.encode(mirrored, np.full((1, 2), 2))
    before = coords.copy()
    for outputs in (coords, torch.from_numpy(coords)):
        back = codec.flip_back(outputs, [1, 0])
        assert type(back) is type(outputs)
        decoded, _ = codec.decode(back)
        np.testing.assert_allclose(decoded, kp, atol=1e-3 * max(size))
    np.testing.assert_array_equal(coords, before)  # the input is left untouched


def test_flip_back_shape_error():
    with pytest.raises(ValueError, match=r"flip_back: outputs \(1, 3, 2\) must be \(\.\.\., 17, 2\)"):
        RegressionCodec(input_size=(96, 128)).flip_back(np.zeros((1, 3, 2)), list(range(17)))
