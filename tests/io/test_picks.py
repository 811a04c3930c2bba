"""EMAG2v3 tile georeferencing and isochron-pick reading."""

import numpy as np
import pytest
import xarray as xr

from magnetar import datasets
from magnetar.errors import FileFormatError
from magnetar.io import pick_agreement, read_emag2v3_tile, read_picks

pytestmark = pytest.mark.realdata


def test_tile_georeference_from_centre_table():
    path = datasets.fetch("grids/emag2v3_tiles/gts/example_1299.png")
    tile = read_emag2v3_tile(path)
    # centre row 3893, column 6333, half side 128 -> 512 nodes of 2 arc-minutes
    assert tile.shape == (512, 512)
    assert float(tile.latitude.mean()) == pytest.approx(-90 + 3893 / 30, abs=1e-9)
    assert float(tile.longitude.mean()) == pytest.approx(-180 + 6333 / 30, abs=1e-9)
    assert float(tile.latitude[1] - tile.latitude[0]) == pytest.approx(1 / 30)
    north = read_emag2v3_tile(path, origin="north")
    assert float(north.latitude.mean()) == pytest.approx(90 - 3893 / 30, abs=1e-9)
    # same pixels, read the other way up: south-first row 0 is north-first's last row
    np.testing.assert_array_equal(tile.values, north.values[::-1])


def test_read_picks_real_file():
    picks = read_picks(datasets.fetch("gpts/PacificOcean/Wilder_2003_Thesis.gmt"))
    assert len(picks) == 273
    assert picks.lon.between(-134.3, -81.7).all()
    assert picks.lat.between(-34.9, -11.3).all()
    assert picks.chron.str.match(r"C\d").all()


def test_read_picks_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.gmt"
    bad.write_text("# @DC1n|o\n-15.4 abc\n")
    with pytest.raises(FileFormatError, match="line 2"):
        read_picks(bad)


def test_pick_agreement_counts():
    lat = np.arange(0.0, 10.0)
    lon = np.arange(0.0, 10.0)
    lin = np.zeros((10, 10), np.int8)
    lin[:, :5] = 1
    lin[0, :] = -1
    res = xr.Dataset({"linear": (("latitude", "longitude"), lin)},
                     coords={"latitude": lat, "longitude": lon})
    import pandas as pd

    picks = pd.DataFrame({"chron": ["C1"] * 4, "lat": [5.0, 5.0, 5.0, 50.0],
                          "lon": [1.0, 2.0, 8.0, 1.0]})
    out = pick_agreement(res, picks)
    assert out["picks_in_area"] == 3
    assert out["picks_mapped"] == 3
    assert out["fraction_picks_linear"] == pytest.approx(2 / 3)
    assert out["fraction_area_linear"] == pytest.approx(0.5)
