"""``lma predict`` chunk by chunk on Dask gives the in-memory map."""

import numpy as np
import pytest
import xarray as xr

from magnetar.io import write_grid
from magnetar.pretrained import pretrained_path
from magnetar.workflows.lma import run as lma

pytest.importorskip("dask")


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory):
    """A 560 x 610 grid of lineated and blobby structure with a hole (NaN).

    Marked as diffused already, so both paths classify the same values: the diffusion's own
    chunked path (reach 782 nodes with the shipped model's parameters, more than this grid)
    is tested against the in-memory one in tests/grids/test_diffusion.py.
    """
    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:560, 0:610].astype(float)
    stripes = 150 * np.sin(2 * np.pi * (x + 0.3 * y) / 37)
    blobs = 80 * np.sin(x / 23) * np.cos(y / 31)
    values = np.where(x < 300, stripes, blobs) + rng.normal(0, 10, x.shape)
    values[200:260, 100:180] = np.nan
    grid = xr.DataArray(values, dims=("northing", "easting"),
                        coords={"northing": np.arange(560) * 2e3,
                                "easting": np.arange(610) * 2e3},
                        attrs={"units": "nT", "diffusion": "as given (test)"})
    path = tmp_path_factory.mktemp("lma_grid") / "grid.nc"
    write_grid(grid, path)
    return path


def test_chunked_prediction_gives_the_in_memory_map(grid_file, tmp_path):
    model = pretrained_path("lma_coherence.pt")
    whole = lma.run_predict(grid_file, model, tmp_path / "whole.nc", stride=25, figure=False)
    parts = lma.run_predict(grid_file, model, tmp_path / "parts.nc", stride=25, chunks=200,
                            figure=False)
    a, b = xr.load_dataset(tmp_path / "whole.nc"), xr.load_dataset(tmp_path / "parts.nc")
    np.testing.assert_array_equal(a["linear"].values, b["linear"].values)
    np.testing.assert_allclose(b["probability"].values, a["probability"].values, atol=1e-5)
    np.testing.assert_allclose(b["probability_calibrated"].values,
                               a["probability_calibrated"].values, atol=1e-5)
    assert parts["linear_percentage"] == pytest.approx(whole["linear_percentage"])
    assert (a["linear"].values >= 0).sum() > 1000  # a real map, not an empty one
