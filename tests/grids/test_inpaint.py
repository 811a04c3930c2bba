import numpy as np
import pytest

from magnetar.errors import ValidationError
from magnetar.grids import inpaint


@pytest.mark.parametrize("method", ["nearest", "linear", "gaussian", "spline"])
def test_inpaint_fills_a_plane(method):
    if method == "spline":
        pytest.importorskip("verde")
    y, x = np.mgrid[0:20, 0:20]
    plane = 3.0 * x - 2.0 * y + 5
    known = np.random.default_rng(0).random(plane.shape) < 0.4
    known[[0, 0, -1, -1], [0, -1, 0, -1]] = True  # corners: the hull covers the tile
    filled = inpaint(np.where(known, plane, np.nan), known, method=method)
    assert np.isfinite(filled).all()
    err = np.abs(filled - plane)
    if method == "linear":
        assert err.max() < 1e-9  # linear interpolation is exact on a plane
    elif method == "nearest":
        np.testing.assert_array_equal(filled[known], plane[known])
    else:
        assert np.median(err) < 0.5


def test_inpaint_errors():
    with pytest.raises(ValidationError, match="method"):
        inpaint(np.zeros((4, 4)), np.ones((4, 4), bool), method="kriging")
    with pytest.raises(ValidationError, match="no known pixel"):
        inpaint(np.zeros((1, 4, 4)), np.zeros((1, 4, 4), bool))


def test_linear_fill_of_pixels_on_one_line_falls_back_to_nearest():
    # a straight walk: every known pixel in one column, no triangle to interpolate in
    tile = np.tile(np.arange(16.0), (16, 1)).T[None]  # value = row index
    known = np.zeros_like(tile, dtype=bool)
    known[0, :, 5] = True
    corrupted = np.where(known, tile, np.nan)
    for method in ("linear", "gaussian"):
        out = inpaint(corrupted, known, method=method)
        assert np.isfinite(out).all()
    np.testing.assert_allclose(inpaint(corrupted, known, method="linear")[0], tile[0])
