import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magnetar.errors import ValidationError
from magnetar.training import (
    corrupt,
    cut_tiles,
    denormalise,
    normalise,
    resample_grid,
    split_columns,
)


def test_cut_tiles_regular_and_random_skip_nan():
    values = np.arange(100.0).reshape(10, 10)
    tiles = cut_tiles(values, size=4, stride=3)
    assert tiles.shape == (9, 4, 4)
    np.testing.assert_array_equal(tiles[1], values[0:4, 3:7])
    values[5, 5] = np.nan
    random = cut_tiles(values, size=4, n=20, seed=1)
    assert np.isfinite(random).all()
    assert 0 < len(random) <= 20
    with pytest.raises(ValidationError, match="exactly one"):
        cut_tiles(values, size=4)


def test_split_is_spatially_separate():
    values = np.arange(200.0).reshape(10, 20)
    train, test = split_columns(values, test_fraction=0.25, buffer=3)
    assert train.shape == (10, 12)
    assert test.shape == (10, 5)
    assert train[0, -1] + 3 < test[0, 0]
    rows_train, rows_test = split_columns(values, test_fraction=0.3, axis=0)
    assert rows_train.shape == (7, 20)
    assert rows_test.shape == (3, 20)


@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(0.0, 0.9), seed=st.integers(0, 1000))
def test_corrupt_hides_the_asked_fraction_and_keeps_known_values(fraction, seed):
    tiles = np.random.default_rng(seed).normal(size=(20, 16, 16))
    c, k = corrupt(tiles, mask_fraction=fraction, noise_nT=0.0, seed=seed)
    assert abs((1 - k.mean()) - fraction) < 0.05
    np.testing.assert_array_equal(c[k], tiles[k])
    assert np.isnan(c[~k]).all()


def test_track_masks_are_lines_and_noise_has_its_level():
    tiles = np.zeros((50, 32, 32))
    c, k = corrupt(tiles, mask_fraction=0.75, noise_nT=10.0, mask_kind="tracks", seed=3)
    assert 0.2 < k.mean() < 0.35
    assert abs(np.nanstd(c) - 10.0) < 0.5
    # a line of known pixels: most known pixels have a known neighbour
    neighbours = k[:, 1:-1, 1:-1] & (k[:, :-2, 1:-1] | k[:, 2:, 1:-1] | k[:, 1:-1, :-2]
                                      | k[:, 1:-1, 2:] | k[:, :-2, :-2] | k[:, 2:, 2:]
                                      | k[:, :-2, 2:] | k[:, 2:, :-2])
    assert neighbours.sum() / k[:, 1:-1, 1:-1].sum() > 0.9
    with pytest.raises(ValidationError, match="mask_kind"):
        corrupt(tiles, mask_kind="blobs")


def test_normalise_round_trip():
    rng = np.random.default_rng(0)
    tiles = 100 + 30 * rng.normal(size=(5, 8, 8))
    c, k = corrupt(tiles, mask_fraction=0.5, seed=0)
    z, mean, scale = normalise(c, k)
    np.testing.assert_allclose(denormalise(z, mean, scale)[k], tiles[k])
    assert np.all(z[~k] == 0)
    np.testing.assert_allclose([z[i][k[i]].std() for i in range(5)], 1.0)


def test_resample_halves_a_linear_ramp_exactly():
    x = np.arange(64.0)
    ramp = np.tile(x, (64, 1))
    coarse = resample_grid(ramp, spacing=1.0, new_spacing=2.0)
    assert coarse.shape == (32, 32)
    np.testing.assert_allclose(coarse[5, 3:-3], np.linspace(0, 63, 32)[3:-3], atol=0.6)


def test_per_tile_noise_levels():
    tiles = np.zeros((3, 64, 64))
    levels = np.array([0.0, 30.0, 140.0])
    corrupted, known = corrupt(tiles, mask_fraction=0.0, noise_nT=levels, seed=2)
    np.testing.assert_allclose(corrupted.std(axis=(1, 2)), levels, rtol=0.05)
    with pytest.raises(ValidationError, match="2 values for 3 tiles"):
        corrupt(tiles, noise_nT=np.ones(2))


def test_cut_tiles_positions_match_the_tiles():
    values = np.arange(20 * 30, dtype=float).reshape(20, 30)
    tiles, pos = cut_tiles(values, size=5, stride=5, return_positions=True)
    assert pos.shape == (4 * 6, 2)
    for tile, (r, c) in zip(tiles, pos, strict=True):
        np.testing.assert_array_equal(tile, values[r:r + 5, c:c + 5])
