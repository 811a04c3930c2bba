import numpy as np
import pytest
import xarray as xr

from magnetar.errors import ValidationError
from magnetar.grids import DiffusionConfig, coherence_diffusion, diffusion_reach
from magnetar.grids._diffusion import _run_numpy
from magnetar.grids._diffusion_reference import coherence_diffusion_reference


def _grid(values):
    ny, nx = values.shape
    return xr.DataArray(values, dims=("northing", "easting"),
                        coords={"northing": np.arange(ny) * 1000.0,
                                "easting": np.arange(nx) * 1000.0},
                        attrs={"units": "nT"})


def _stripes(shape=(96, 96), period=12.0, angle=0.0, seed=0, noise=0.0):
    y, x = np.mgrid[0:shape[0], 0:shape[1]]
    phase = 2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period
    rng = np.random.default_rng(seed)
    return 100 * np.sin(phase) + noise * rng.standard_normal(shape)


@pytest.mark.parametrize(("sigma", "rho", "shape"), [(1.0, 2.0, (31, 44)), (0.8, 6.0, (40, 29))])
def test_agrees_with_explicit_reference(sigma, rho, shape):
    rng = np.random.default_rng(1)
    u = rng.random(shape)
    cfg = DiffusionConfig(sigma=sigma, rho=rho, time=1.2, time_step=0.2)
    ref = coherence_diffusion_reference(u, cfg)
    np.testing.assert_allclose(_run_numpy(u, None, cfg, np.float64, False), ref, atol=1e-12)
    np.testing.assert_allclose(_run_numpy(u, None, cfg, np.float32, False), ref, atol=2e-5)


def test_conserves_mean_and_keeps_coordinates():
    grid = _grid(_stripes(noise=30.0))
    out = coherence_diffusion(grid, rho=4.0, time=3.0)
    assert out.dims == grid.dims
    np.testing.assert_array_equal(out.easting, grid.easting)
    assert out.attrs["units"] == "nT"
    assert "diffusion" in out.attrs
    assert float(out.mean()) == pytest.approx(float(grid.mean()), abs=1e-6 * 100)
    # smoothing: noise energy goes down
    assert float(out.std()) < float(grid.std())


def test_rotation_consistent():
    u = _stripes(shape=(64, 64), angle=0.5, noise=20.0, seed=3)
    grid, rotated = _grid(u), _grid(np.rot90(u).copy())
    a = coherence_diffusion(grid, rho=3.0, time=2.0, dtype="float64").values
    b = coherence_diffusion(rotated, rho=3.0, time=2.0, dtype="float64").values
    # Scharr's filters are exactly 90-degree symmetric, so this holds to rounding
    np.testing.assert_allclose(np.rot90(a), b, atol=1e-9)


def _gapped_stripes():
    """Vertical stripes (constant along northing) interrupted by a band of zeros."""
    u = _stripes(shape=(96, 96), period=16.0, angle=0.0)
    truth = u.copy()
    gap = slice(42, 54)
    u[gap, :] = 0.0
    return u, truth, gap


def _continuity(values, truth, gap):
    """Projection of the gap rows onto the true stripe pattern (1 = fully restored)."""
    g, t = values[gap], truth[gap]
    return float(np.sum(g * t) / np.sum(t * t))


def test_joins_gapped_stripes_without_smearing_across():
    u, truth, gap = _gapped_stripes()
    grid = _grid(u)
    ced = coherence_diffusion(grid, sigma=1.0, rho=6.0, time=40.0, time_step=0.5).values
    before, after = _continuity(u, truth, gap), _continuity(ced, truth, gap)
    assert before == 0.0
    assert after >= 0.5  # the gap is half restored or better
    # outside the gap the stripes keep their contrast (no smearing across them)
    outside = np.r_[0:30, 66:96]
    contrast = np.std(ced[outside]) / np.std(truth[outside])
    assert contrast > 0.9
    # isotropic smoothing of the same strength smears: it loses contrast for less gain
    from scipy import ndimage

    iso = ndimage.gaussian_filter(u, np.sqrt(2 * 40.0), mode="nearest")
    assert np.std(iso[outside]) / np.std(truth[outside]) < 0.5


def test_nan_holes_stay_and_nothing_leaks():
    u = _stripes(noise=10.0)
    u[30:40, 50:70] = np.nan
    grid = _grid(u)
    out = coherence_diffusion(grid, rho=3.0, time=2.0, dtype="float64")
    assert np.array_equal(np.isnan(out.values), np.isnan(u))
    assert float(out.mean()) == pytest.approx(float(np.nanmean(u)), abs=1e-9)


def test_chunked_equals_in_memory():
    pytest.importorskip("dask")
    u = _stripes(shape=(120, 100), noise=15.0)
    u[10:14, 10:20] = np.nan
    grid = _grid(u)
    params = {"rho": 2.0, "time": 0.6, "time_step": 0.2, "dtype": "float64"}
    mem = coherence_diffusion(grid, **params)
    chunked = coherence_diffusion(grid, chunks=(50, 40), **params)
    assert diffusion_reach(DiffusionConfig(rho=2.0, time=0.6, time_step=0.2)) == 3 * (3 + 6 + 2)
    np.testing.assert_allclose(chunked.values, mem.values, atol=1e-10)


def test_torch_backend_matches_numpy():
    pytest.importorskip("torch")
    u = _stripes(shape=(50, 60), noise=15.0)
    u[5:9, 5:9] = np.nan
    grid = _grid(u)
    a = coherence_diffusion(grid, rho=3.0, time=1.0, dtype="float64")
    b = coherence_diffusion(grid, rho=3.0, time=1.0, dtype="float64", backend="torch",
                            device="cpu")
    np.testing.assert_allclose(a.values, b.values, atol=1e-9)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"time_step": 1.5}, "time_step"), ({"rho": 0}, "rho"), ({"alpha": 2}, "alpha"),
    ({"backend": "cuda"}, "backend"), ({"dtype": "int8"}, "dtype"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        coherence_diffusion(_grid(_stripes()), **kwargs)
