"""EMAG2v3 tile georeferencing and isochron-pick reading."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from magnetar import datasets
from magnetar.errors import FileFormatError
from magnetar.io import grid_agreement, pick_agreement, read_emag2v3_tile, read_picks

pytestmark = pytest.mark.realdata


def test_tile_georeference_from_centre_table():
    from magnetar.io import read_png_tile

    path = datasets.fetch("grids/emag2v3_tiles/gts/example_1299.png")
    tile = read_emag2v3_tile(path)
    # centre row 3893, column 6333, half side 128 -> 512 nodes of 2 arc-minutes; row 0 is
    # latitude 90, column 0 is Greenwich: the central South Pacific
    assert tile.shape == (512, 512)
    assert float(tile.latitude.mean()) == pytest.approx(90 - 3893 / 30, abs=1e-9)
    assert float(tile.longitude.mean()) == pytest.approx(6333 / 30 - 360, abs=1e-9)
    assert float(tile.latitude[1] - tile.latitude[0]) == pytest.approx(1 / 30)
    # image row 0 is the northern edge: the same pixels as a north-up image
    mask = datasets.fetch("grids/emag2v3_tiles/gt_keep_masks/example_1299.png")
    np.testing.assert_array_equal(tile.values, read_png_tile(path, keep_mask=mask).values)


def test_grid_agreement_of_a_tile_cut_from_the_reference_is_one():
    lat = np.arange(-10.0, 11.0)
    lon = np.arange(20.0, 41.0)
    rng = np.random.default_rng(0)
    reference = xr.DataArray(rng.normal(0, 50, (lat.size, lon.size)), dims=("latitude", "longitude"),
                             coords={"latitude": lat, "longitude": lon})
    fine_lat = np.arange(-5, 5, 1 / 30) + 1 / 60  # 2 arc-minute nodes inside whole-degree cells
    fine_lon = np.arange(25, 35, 1 / 30) + 1 / 60
    cell = reference.sel(latitude=np.floor(fine_lat) + 0.5, longitude=np.floor(fine_lon) + 0.5,
                         method="nearest")
    tile = xr.DataArray(cell.values, dims=("latitude", "longitude"),
                        coords={"latitude": fine_lat, "longitude": fine_lon})
    assert grid_agreement(tile, reference) == pytest.approx(1.0)
    flipped = tile.assign_coords(latitude=fine_lat[::-1])
    assert abs(grid_agreement(flipped, reference)) < 0.5


@pytest.mark.parametrize("label", [675, 1164, 1299])
def test_tile_geometry_agrees_with_emag2_v2(label):
    """Independent evidence for the geometry: the tile's long wavelengths match the 1-degree
    EMAG2 v2 grid where the tile is placed, and not where the old reading put it."""
    from magnetar.io import read_grid

    v2 = read_grid(datasets.fetch("grids/EMAG2_V2_1x1.grd"))
    tile = read_emag2v3_tile(datasets.fetch(f"grids/emag2v3_tiles/gts/example_{label}.png"))
    assert grid_agreement(tile, v2) > 0.12  # random places: 95th percentile <= 0.09
    # the reading before session 14: south-up (latitude mirrored) and 180 degrees of longitude
    old = tile.assign_coords(latitude=-tile.latitude.values[::-1],
                             longitude=tile.longitude.values + 180)
    assert abs(grid_agreement(old, v2)) < 0.1


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

    picks = pd.DataFrame({"chron": ["C1"] * 4, "lat": [5.0, 5.0, 5.0, 50.0],
                          "lon": [1.0, 2.0, 8.0, 1.0]})
    out = pick_agreement(res, picks)
    assert out["picks_in_area"] == 3
    assert out["picks_mapped"] == 3
    assert out["fraction_picks_linear"] == pytest.approx(2 / 3)
    assert out["fraction_area_linear"] == pytest.approx(0.5)


def test_saturated_pixels_are_kept_as_the_clip_where_the_keep_mask_has_data():
    from PIL import Image

    tile_path = datasets.fetch("grids/emag2v3_tiles/gts/example_675.png")
    mask_path = datasets.fetch("grids/emag2v3_tiles/gt_keep_masks/example_675.png")
    image = np.asarray(Image.open(tile_path).convert("L"))
    keep = np.asarray(Image.open(mask_path).convert("L")) >= 128
    tile = read_emag2v3_tile(tile_path)
    values = tile.values[::-1]  # back to image rows (row 0 north)
    saturated = (image == 255) & keep
    assert tile.attrs["clipped_pixels"] == int(saturated.sum()) > 1000  # about 1.4 %
    np.testing.assert_array_equal(values[saturated], 200.0)
    np.testing.assert_array_equal(np.isnan(values), ~keep)
