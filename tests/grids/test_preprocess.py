import numpy as np
import pytest
import xarray as xr

from magnetar.errors import ValidationError
from magnetar.grids import fill_gaps, iqr_outliers, regrid, suggest_spacing, svd_denoise


def _grid(values, geographic=False):
    ny, nx = values.shape
    dims = ("latitude", "longitude") if geographic else ("northing", "easting")
    step = 0.01 if geographic else 1000.0
    return xr.DataArray(values, dims=dims, coords={dims[0]: np.arange(ny) * step,
                                                   dims[1]: np.arange(nx) * step},
                        attrs={"units": "nT", "title": "test"})


def test_iqr_outliers_tukey_fences():
    values = np.arange(100.0).reshape(10, 10)  # Q1 = 24.75, Q3 = 74.25, IQR = 49.5
    values[0, 0], values[9, 9] = -500.0, 900.0
    cleaned, mask = iqr_outliers(_grid(values), c=1.5)
    assert mask.values.sum() == 2
    assert mask.values[0, 0]
    assert mask.values[9, 9]
    assert np.isnan(cleaned.values[mask.values]).all()
    low, high = cleaned.attrs["outlier_bounds"]
    q1, q3 = np.percentile(values, [25, 75])
    assert low == pytest.approx(q1 - 1.5 * (q3 - q1))
    assert high == pytest.approx(q3 + 1.5 * (q3 - q1))
    assert cleaned.attrs["title"] == "test"


def test_suggest_spacing():
    assert suggest_spacing(narrowest_width=10.0) == 5.0
    # 250-node windows holding 5 anomalies of 20 km need spacing 0.4 km (<= Nyquist 5)
    assert suggest_spacing(narrowest_width=10.0, window_nodes=250, anomalies_per_window=5,
                           typical_width=20.0) == pytest.approx(0.4)
    with pytest.raises(ValidationError, match="larger windows"):
        suggest_spacing(narrowest_width=1.0, window_nodes=10, anomalies_per_window=20)


def _smooth_field(x, y):
    return 50 * np.sin(x / 7000.0) * np.cos(y / 9000.0) + 0.001 * x


@pytest.mark.parametrize("method", ["spline", "cubic", "linear", "surface"])
def test_regrid_recovers_smooth_field(method):
    if method == "surface":
        pytest.importorskip("pygmt", exc_type=ImportError)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 50_000, 1500), rng.uniform(0, 40_000, 1500)
    points = xr.Dataset({"anomaly": ("point", _smooth_field(x, y))},
                        coords={"easting": ("point", x), "northing": ("point", y)})
    grid = regrid(points, spacing=2000.0, region=(0, 50_000, 0, 40_000), method=method)
    assert grid.dims == ("northing", "easting")
    assert grid.shape == (21, 26)
    yy, xx = np.meshgrid(grid.northing, grid.easting, indexing="ij")
    err = np.abs(grid.values - _smooth_field(xx, yy))
    assert np.nanmedian(err) < 1.0  # nT, on a 100 nT field
    assert grid.attrs["regrid_method"] == method


def test_regrid_masks_far_nodes_and_rejects_bad_input():
    x = np.r_[np.linspace(0, 10_000, 50), np.linspace(0, 10_000, 50)]
    y = np.r_[np.zeros(50), np.full(50, 1000.0)]
    points = xr.Dataset({"anomaly": ("point", x * 0 + 1.0)},
                        coords={"easting": ("point", x), "northing": ("point", y)})
    grid = regrid(points, spacing=500.0, region=(0, 10_000, 0, 10_000), method="linear")
    assert np.isnan(grid.sel(northing=8000.0).values).all()
    with pytest.raises(ValidationError, match="method"):
        regrid(points, spacing=500.0, method="kriging")
    with pytest.raises(ValidationError, match="spacing"):
        regrid(points, spacing=-1.0)
    with pytest.raises(ValidationError, match="max_points"):
        regrid(points, spacing=10.0, method="spline", max_points=20)


def test_fill_gaps_keeps_valid_nodes():
    yy, xx = np.mgrid[0:40, 0:50] * 1000.0
    truth = _smooth_field(xx, yy)
    holed = truth.copy()
    holed[15:20, 20:26] = np.nan
    filled = fill_gaps(_grid(holed), method="spline")
    assert filled.attrs["filled_nodes"] == 30
    np.testing.assert_array_equal(filled.values[~np.isnan(holed)], truth[~np.isnan(holed)])
    assert np.abs(filled.values[15:20, 20:26] - truth[15:20, 20:26]).max() < 2.0


@pytest.mark.parametrize("randomized", [False, True])
def test_svd_recovers_low_rank_signal(randomized):
    rng = np.random.default_rng(2)
    low = rng.standard_normal((120, 3)) @ rng.standard_normal((3, 90)) * 50
    noisy = low + rng.standard_normal(low.shape)
    out = svd_denoise(_grid(noisy), rank=3, randomized=randomized)
    assert out.attrs["svd_rank"] == 3
    # the noise is reduced by about sqrt(rank * (m + n) / (m n)) ~ 0.24
    assert np.std(out.values - low) < 0.4 * np.std(noisy - low)
    auto = svd_denoise(_grid(noisy), energy=0.98, randomized=randomized)
    assert auto.attrs["svd_rank"] <= 3
    assert auto.attrs["svd_energy"] >= 0.98


def test_svd_energy_rule_matches_singular_values():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((60, 40))
    s = np.linalg.svd(a, compute_uv=False)
    expected = int(np.argmax(np.cumsum(s**2) / np.sum(s**2) >= 0.9) + 1)
    assert svd_denoise(_grid(a), energy=0.9).attrs["svd_rank"] == expected


def test_svd_with_holes_keeps_them():
    rng = np.random.default_rng(4)
    low = rng.standard_normal((50, 2)) @ rng.standard_normal((2, 40))
    holed = low.copy()
    holed[5:8, 5:8] = np.nan
    out = svd_denoise(_grid(holed), rank=2)
    assert np.isnan(out.values[5:8, 5:8]).all()
    np.testing.assert_allclose(out.values[~np.isnan(holed)], low[~np.isnan(holed)], atol=1e-6)


def test_local_iqr_keeps_a_regional_anomaly_and_removes_the_spike():
    # a strong regional high over a third of the grid plus small texture and one spike:
    # one global fence cuts into the regional high; local quartiles keep it all
    rng = np.random.default_rng(0)
    values = rng.normal(0, 5, (90, 90))
    values[:, 77:] += 400.0  # 14 % of the nodes: above the global third quartile
    values[20, 20] = 200.0
    _, global_mask = iqr_outliers(_grid(values), c=1.5)
    cleaned, local_mask = iqr_outliers(_grid(values), c=1.5, window=15)
    assert global_mask.values[:, 77:].sum() > 1000
    assert local_mask.values[20, 20]
    assert local_mask.values[:, 77:].sum() < 0.01 * 90 * 13
    assert cleaned.attrs["outlier_window"] == 15
    with pytest.raises(ValidationError, match="outlier-window"):
        iqr_outliers(_grid(values), window=2)
