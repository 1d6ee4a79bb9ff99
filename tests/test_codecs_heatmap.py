"""Tests for posekit.codecs.heatmap.HeatmapCodec: target shape and values, weights,
round-trip bounds (hypothesis) for every encode/decode combination, borders, batch
shapes, torch input, and DARK on noisy and degenerate maps."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit.codecs.heatmap import HeatmapCodec

# (input_size, heatmap_size) pairs used in practice: stride 4.
CONFIGS = [((192, 256), (48, 64)), ((256, 256), (64, 64))]
EPS = 1e-3  # float32 slack, in cells


def _keypoints_in_crop(config, fractions):
    input_size = np.array(config[0], dtype=np.float64)
    return np.array(fractions, dtype=np.float64).reshape(-1, 1, 2) * (input_size - 1)


def _round_trip_error_cells(codec, kp):
    heatmaps, weights = codec.encode(kp, np.full(kp.shape[:-1], 2))
    assert (weights == 1).all()
    decoded, scores = codec.decode(heatmaps)
    return np.abs(decoded.astype(np.float64) - kp) * codec.scale  # (..., 2) in cells


fractions_strategy = st.lists(
    st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=20
)


@settings(max_examples=40, deadline=None)
@given(config=st.sampled_from(CONFIGS), fractions=fractions_strategy, sigma=st.floats(1.5, 3.0),
       mode=st.sampled_from(["argmax", "quarter"]))
def test_round_trip_msra_argmax_quarter(config, fractions, sigma, mode):
    codec = HeatmapCodec(input_size=config[0], heatmap_size=config[1], sigma=sigma, decode_mode=mode)
    kp = _keypoints_in_crop(config, fractions)
    err = _round_trip_error_cells(codec, kp)
    stride = np.array(config[0]) / np.array(config[1])
    nearest_inside = np.floor(kp * codec.scale + 0.5) <= np.array(config[1]) - 1
    bound = np.where(nearest_inside, 0.5, 1 - 1 / stride) + EPS
    assert (err <= bound).all(), err.max()


@settings(max_examples=40, deadline=None)
@given(config=st.sampled_from(CONFIGS), fractions=fractions_strategy, sigma=st.floats(1.5, 3.0))
def test_round_trip_msra_dark(config, fractions, sigma):
    codec = HeatmapCodec(input_size=config[0], heatmap_size=config[1], sigma=sigma, decode_mode="dark")
    err = _round_trip_error_cells(codec, _keypoints_in_crop(config, fractions))
    assert (err <= 0.5 + EPS).all(), err.max()


@settings(max_examples=40, deadline=None)
@given(config=st.sampled_from(CONFIGS), fractions=fractions_strategy, sigma=st.floats(1.5, 3.0))
def test_round_trip_udp_argmax_quarter(config, fractions, sigma):
    kp = _keypoints_in_crop(config, fractions)
    argmax = HeatmapCodec(input_size=config[0], heatmap_size=config[1], sigma=sigma, unbiased=True,
                          decode_mode="argmax")
    assert (_round_trip_error_cells(argmax, kp) <= 0.5 + EPS).all()
    quarter = HeatmapCodec(input_size=config[0], heatmap_size=config[1], sigma=sigma, unbiased=True,
                           decode_mode="quarter")
    err = _round_trip_error_cells(quarter, kp)
    x_hm = kp * quarter.scale
    # The nearest cell is strictly inside the map (margin for ties between two cells).
    inner = (x_hm > 0.5 + 1e-6) & (x_hm < np.array(config[1]) - 1.5 - 1e-6)
    assert (err[inner] <= 0.25 + EPS).all(), err[inner].max()
    assert (err <= 0.5 + EPS).all()


@settings(max_examples=60, deadline=None)
@given(config=st.sampled_from(CONFIGS), fractions=fractions_strategy, sigma=st.floats(0.75, 4.0))
def test_round_trip_udp_dark(config, fractions, sigma):
    codec = HeatmapCodec(input_size=config[0], heatmap_size=config[1], sigma=sigma, unbiased=True,
                         decode_mode="dark")
    err = _round_trip_error_cells(codec, _keypoints_in_crop(config, fractions))
    assert (err <= 0.01).all(), err.max()


@pytest.mark.parametrize("unbiased", [False, True])
def test_border_and_corner_keypoints_round_trip(unbiased):
    """Keypoints on the crop's edges and corners (argmax on the heatmap border)."""
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), unbiased=unbiased, decode_mode="dark")
    kp = np.array([[0, 0], [191, 255], [0, 255], [191, 0], [0.3, 100.7], [190.6, 3.2], [96.4, 254.9]],
                  dtype=np.float64)[:, None, :]
    err = _round_trip_error_cells(codec, kp)
    assert (err <= (0.5 + EPS if not unbiased else 0.01)).all(), err.max()


def test_msra_target_values():
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), sigma=2.0)
    heatmaps, weights = codec.encode(np.array([[[41.9, 81.0]]]), np.array([[2]]))
    assert heatmaps.shape == (1, 1, 64, 48) and heatmaps.dtype == np.float32 and weights.dtype == np.float32
    hm = heatmaps[0, 0]
    # 41.9 / 4 = 10.475 -> cell 10; 81 / 4 = 20.25 -> cell 20.
    assert hm[20, 10] == 1.0 and np.unravel_index(hm.argmax(), hm.shape) == (20, 10)
    np.testing.assert_allclose(hm[20, 11], np.exp(-1 / 8), rtol=1e-6)
    np.testing.assert_allclose(hm[22, 9], np.exp(-5 / 8), rtol=1e-6)
    assert hm[20, 16] > 0 and hm[20, 17] == 0  # truncated at 3 sigma = 6 cells
    assert hm[26, 10] > 0 and hm[27, 10] == 0


def test_udp_target_is_centred_at_the_exact_position():
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), sigma=2.0, unbiased=True)
    x_in, y_in = 100.3, 57.8
    heatmaps, _ = codec.encode(np.array([[[x_in, y_in]]]), np.array([[1]]))
    cx, cy = x_in * 47 / 191, y_in * 63 / 255
    ys, xs = np.mgrid[0:64, 0:48]
    expected = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / 8)
    window = (np.abs(xs - cx) <= 6) & (np.abs(ys - cy) <= 6)
    np.testing.assert_allclose(heatmaps[0, 0], np.where(window, expected, 0), atol=1e-6)


def test_udp_heatmap_flip_is_exact():
    """UDP: flipping the input (x -> W_in - 1 - x) flips the heatmap exactly."""
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), unbiased=True)
    kp = np.array([[[37.3, 80.2], [150.9, 12.5]]])
    vis = np.ones((1, 2))
    heatmaps, _ = codec.encode(kp, vis)
    flipped, _ = codec.encode(kp * [-1, 1] + [191, 0], vis)
    np.testing.assert_allclose(flipped, heatmaps[..., ::-1], atol=1e-6)


@pytest.mark.parametrize("unbiased", [False, True])
def test_weights_invisible_and_outside(unbiased):
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), sigma=2.0, unbiased=unbiased)
    kp = np.array([[
        [50.0, 50.0],  # visible
        [50.0, 50.0],  # v = 0
        [-10.0, 50.0],  # outside, Gaussian reaches in (2.5 cells left of the map)
        [-40.0, 50.0],  # Gaussian fully outside (10 cells left)
        [50.0, 400.0],  # fully outside below
        [np.nan, np.nan],  # not finite, v = 2
        [191.0, 255.0],  # corner, inside
    ]])
    vis = np.array([[2, 0, 1, 2, 2, 2, 2]])
    heatmaps, weights = codec.encode(kp, vis)
    np.testing.assert_array_equal(weights, [[1, 0, 1, 0, 0, 0, 1]])
    assert np.isfinite(heatmaps).all()
    assert (heatmaps[0, weights[0] == 0] == 0).all()
    assert (heatmaps[0, weights[0] == 1].max(axis=(-1, -2)) > 0).all()


def test_batch_shapes_and_torch_input():
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), unbiased=True, decode_mode="dark")
    rng = np.random.default_rng(0)
    kp = rng.uniform(10, 180, size=(2, 3, 5, 2))
    heatmaps, weights = codec.encode(kp, np.ones((2, 3, 5)))
    assert heatmaps.shape == (2, 3, 5, 64, 48) and weights.shape == (2, 3, 5)
    decoded, scores = codec.decode(heatmaps)
    assert decoded.shape == (2, 3, 5, 2) and decoded.dtype == np.float32
    assert scores.shape == (2, 3, 5) and scores.dtype == np.float32
    # UDP peaks sit between cells: the max is >= exp(-(0.5^2 + 0.5^2) / (2 sigma^2)).
    assert ((scores >= np.exp(-0.5 / 8) - 1e-6) & (scores <= 1)).all()
    # Same answer from a torch tensor that requires grad (a network output).
    tensor = torch.from_numpy(heatmaps).requires_grad_(True)
    decoded_t, scores_t = codec.decode(tensor * 1.0)
    np.testing.assert_array_equal(decoded_t, decoded)
    np.testing.assert_array_equal(scores_t, scores)
    # Each map decodes independently of its batch neighbours.
    single, _ = codec.decode(heatmaps[1, 2, 3])
    np.testing.assert_array_equal(single, decoded[1, 2, 3])


def test_decode_argmax_and_quarter_on_handmade_maps():
    codec = HeatmapCodec(input_size=(16, 16), heatmap_size=(8, 8), decode_mode="quarter")  # stride 2
    hm = np.zeros((3, 8, 8), dtype=np.float32)
    hm[0, 3, 4], hm[0, 3, 5], hm[0, 2, 4] = 0.9, 0.5, 0.2  # right and up neighbours higher
    hm[1, 0, 7], hm[1, 0, 6], hm[1, 1, 7] = 0.7, 0.6, 0.5  # corner: no shift
    hm[2] = -1.0  # flat: argmax = first cell
    decoded, scores = codec.decode(hm)
    np.testing.assert_allclose(decoded, [[(4 + 0.25) * 2, (3 - 0.25) * 2], [14, 0], [0, 0]])
    np.testing.assert_allclose(scores, [0.9, 0.7, -1.0])
    codec.decode_mode = "argmax"
    np.testing.assert_allclose(codec.decode(hm)[0][0], [8, 6])


@settings(max_examples=30, deadline=None)
@given(fractions=fractions_strategy, offset=st.floats(-3, 3), unbiased=st.booleans())
def test_input_offset_shifts_both_directions_and_keeps_the_round_trip(fractions, offset, unbiased):
    kw = dict(input_size=(256, 256), heatmap_size=(64, 64), unbiased=unbiased, decode_mode="dark")
    plain, shifted = HeatmapCodec(**kw), HeatmapCodec(**kw, input_offset=offset)
    kp = _keypoints_in_crop(((256, 256), (64, 64)), fractions) * 0.9 + 12  # stays inside after the shift
    maps, _ = shifted.encode(kp, np.full(kp.shape[:-1], 2))
    np.testing.assert_array_equal(maps, plain.encode(kp - offset, np.full(kp.shape[:-1], 2))[0])
    np.testing.assert_allclose(shifted.decode(maps)[0], plain.decode(maps)[0] + offset, atol=1e-4)
    # the shifted codec's round trip is the plain codec's on the shifted points (same error bound)
    np.testing.assert_allclose(_round_trip_error_cells(shifted, kp), _round_trip_error_cells(plain, kp - offset),
                               atol=1e-3)


def test_princeton_offset_puts_cell_k_at_input_pixel_4k_plus_1_5():
    codec = HeatmapCodec(input_size=(256, 256), heatmap_size=(64, 64), sigma=1.0, decode_mode="quarter",
                         input_offset=1.5)
    hm = np.zeros((1, 64, 64), dtype=np.float32)
    hm[0, 20, 10], hm[0, 20, 9], hm[0, 20, 11], hm[0, 19, 10], hm[0, 21, 10] = 1.0, 0.5, 0.5, 0.5, 0.5
    np.testing.assert_allclose(codec.decode(hm)[0], [[4 * 10 + 1.5, 4 * 20 + 1.5]])


def test_dark_degenerate_maps_fall_back_to_argmax():
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), unbiased=True, decode_mode="dark")
    hm = np.zeros((3, 64, 48), dtype=np.float32)
    hm[1, 30, 20] = 1.0  # a single spike: blurred log-map is a paraboloid at the spike
    hm[2, 10:20, 10:20] = 1.0  # a plateau
    decoded, scores = codec.decode(hm)
    assert np.isfinite(decoded).all()
    np.testing.assert_allclose(decoded[0], [0, 0])  # all-zero map: flat log, no step
    np.testing.assert_allclose(decoded[1] * codec.scale, [20, 30], atol=1e-6)
    assert np.all(np.abs(decoded[2] * codec.scale - [10, 10]) <= 1 + 1e-6)  # clipped to one cell
    np.testing.assert_allclose(scores, [0, 1, 1])


def test_dark_improves_on_quarter_with_noise():
    """On noisy UDP targets DARK stays closer to the truth than the quarter offset."""
    rng = np.random.default_rng(1)
    kp = rng.uniform(20, 170, size=(200, 1, 2))
    base = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), unbiased=True)
    heatmaps, _ = base.encode(kp, np.ones((200, 1)))
    noisy = heatmaps + rng.normal(0, 0.02, size=heatmaps.shape).astype(np.float32)
    errors = {}
    for mode in ("quarter", "dark"):
        codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), unbiased=True, decode_mode=mode)
        errors[mode] = np.linalg.norm(codec.decode(noisy)[0] - kp, axis=-1).mean()
    assert errors["dark"] < 0.6 * errors["quarter"], errors


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_size=(2, 10)), "'input_size'"),
        (dict(sigma=0), "'sigma'"),
        (dict(decode_mode="soft"), "'decode_mode'"),
        (dict(dark_kernel=4), "'dark_kernel'"),
    ],
)
def test_constructor_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HeatmapCodec(**kwargs)


def test_shape_errors():
    codec = HeatmapCodec()
    with pytest.raises(ValueError, match="encode"):
        codec.encode(np.zeros((2, 17, 2)), np.zeros((2, 16)))
    with pytest.raises(ValueError, match=r"decode.*\(\.\.\., 64, 48\)"):
        codec.decode(np.zeros((2, 17, 48, 64)))


# flip_back: (input_size, heatmap_size, unbiased, input_offset) -> expected flip_shift in cells
FLIP_CASES = [((192, 256), (48, 64), False, 0.0, -0.75),   # MSRA, stride 4
              ((192, 256), (48, 64), True, 0.0, 0.0),      # UDP: the reversed axis is exact
              ((256, 256), (64, 64), False, 1.5, 0.0)]     # princeton-vl: cell k at pixel 4k + 1.5


def _ideal_maps(codec, kp, sigma=2.0):
    """Untruncated Gaussians at the exact (unrounded) cells of ``kp (B, K, 2)``: a perfect model's output."""
    centre = (kp - codec.input_offset) * codec.scale
    width, height = codec.heatmap_size
    dx = np.arange(width) - centre[..., 0:1]
    dy = np.arange(height) - centre[..., 1:2]
    return (np.exp(-dy**2 / (2 * sigma**2))[..., :, None] * np.exp(-dx**2 / (2 * sigma**2))[..., None, :]).astype(np.float32)


@pytest.mark.parametrize("input_size, heatmap_size, unbiased, offset, shift", FLIP_CASES)
def test_flip_shift_per_convention(input_size, heatmap_size, unbiased, offset, shift):
    codec = HeatmapCodec(input_size=input_size, heatmap_size=heatmap_size, unbiased=unbiased, input_offset=offset)
    assert codec.flip_shift == pytest.approx(shift, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(case=st.sampled_from(FLIP_CASES), fractions=st.lists(st.tuples(st.floats(0.1, 0.9), st.floats(0.1, 0.9)),
                                                            min_size=2, max_size=2))
def test_flip_back_maps_the_mirrored_prediction_onto_the_keypoint(case, fractions):
    """A perfect model's maps for the mirrored crop, flipped back, decode (DARK) to the keypoint itself."""
    input_size, heatmap_size, unbiased, offset, _ = case
    codec = HeatmapCodec(input_size=input_size, heatmap_size=heatmap_size, unbiased=unbiased,
                         input_offset=offset, decode_mode="dark")
    kp = _keypoints_in_crop((input_size, heatmap_size), fractions).reshape(1, 2, 2)  # joints 0 and 1: a pair
    mirrored = kp[:, ::-1] * [-1, 1] + [input_size[0] - 1, 0]  # mirror x, swap the pair
    back = codec.flip_back(_ideal_maps(codec, mirrored), [1, 0])
    decoded, scores = codec.decode(back)
    assert np.abs(decoded - kp).max() * codec.scale[0] < 0.02  # cells
    assert scores.min() > 0.9  # the sampled peak of an off-cell Gaussian (sigma 2) is >= 0.94 before resampling


@pytest.mark.parametrize("input_size, heatmap_size, unbiased, offset, shift", FLIP_CASES)
def test_flip_back_torch_matches_numpy(input_size, heatmap_size, unbiased, offset, shift):
    codec = HeatmapCodec(input_size=input_size, heatmap_size=heatmap_size, unbiased=unbiased, input_offset=offset)
    maps = np.random.default_rng(0).random((2, 3, heatmap_size[1], heatmap_size[0]), dtype=np.float32)
    expected = codec.flip_back(maps, [2, 1, 0])
    got = codec.flip_back(torch.from_numpy(maps), [2, 1, 0])
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-6)
    if shift == 0:  # an exact reversal: partners swapped, cell axis reversed
        np.testing.assert_array_equal(expected, maps[:, ::-1, :, ::-1])


def test_flip_back_shape_error():
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64))
    with pytest.raises(ValueError, match=r"flip_back: heatmaps \(1, 3, 64, 48\) must be \(B, 17, h, 48\)"):
        codec.flip_back(np.zeros((1, 3, 64, 48)), list(range(17)))
