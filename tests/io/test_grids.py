import netCDF4
import numpy as np
import pytest
import xarray as xr

from magnetar.errors import FileFormatError, ValidationError
from magnetar.io import (
    check_grid,
    grid_from_table,
    read_grid,
    read_mgd77,
    read_png_tile,
    read_points,
    write_grid,
    write_png_tile,
)


def _grid(ny=6, nx=8):
    values = np.arange(ny * nx, dtype=float).reshape(ny, nx) - 20
    values[2, 3] = np.nan
    return xr.DataArray(values, dims=("latitude", "longitude"),
                        coords={"latitude": np.linspace(-5, 5, ny),
                                "longitude": np.linspace(10, 24, nx)},
                        attrs={"units": "nT"})


def test_netcdf_round_trip(tmp_path):
    grid = _grid()
    path = write_grid(grid, tmp_path / "g.nc")
    back = read_grid(path)
    xr.testing.assert_allclose(back, grid.rename("anomaly"))
    assert back.attrs["units"] == "nT"
    with xr.open_dataset(path) as ds:
        assert ds.attrs["Conventions"] == "CF-1.8"
        assert ds["latitude"].attrs["units"] == "degrees_north"


def test_geotiff_is_read_with_nodata_as_nan(tmp_path):
    pytest.importorskip("rioxarray")
    grid = _grid().rename(latitude="y", longitude="x")
    grid = grid.sortby("y", ascending=False)  # GeoTIFF rows run from the north
    raster = grid.fillna(-9999.0).rio.write_crs("EPSG:4326").rio.write_nodata(-9999.0)
    raster.rio.to_raster(tmp_path / "g.tif")
    back = read_grid(tmp_path / "g.tif")
    assert back.dims == ("latitude", "longitude")
    np.testing.assert_allclose(back["latitude"], _grid()["latitude"])
    np.testing.assert_allclose(back.values, _grid().values)  # NaN where nodata


def test_descending_axis_and_xy_names_are_standardised(tmp_path):
    ds = xr.Dataset({"z": (("y", "x"), np.arange(12.0).reshape(3, 4))},
                    coords={"y": [30.0, 20.0, 10.0], "x": [0.0, 1.0, 2.0, 3.0]})
    ds.to_netcdf(tmp_path / "d.nc")
    grid = read_grid(tmp_path / "d.nc")
    assert grid.dims == ("northing", "easting")
    assert grid["northing"].values.tolist() == [10.0, 20.0, 30.0]
    assert grid.values[0].tolist() == [8.0, 9.0, 10.0, 11.0]


def test_gmt_legacy_layout(tmp_path):
    # GMT's netCDF-3 layout: rows from the north, 1-D z, x_range/y_range/dimension
    path = tmp_path / "legacy.grd"
    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as nc:
        nc.createDimension("side", 2)
        nc.createDimension("xysize", 12)
        for name, values in (("x_range", [0.0, 3.0]), ("y_range", [10.0, 12.0]),
                             ("spacing", [1.0, 1.0]), ("dimension", [4, 3])):
            var = nc.createVariable(name, "f8" if name != "dimension" else "i4", ("side",))
            var[:] = values
        nc["x_range"].units = "longitude [degrees_east]"
        z = nc.createVariable("z", "f4", ("xysize",))
        z.node_offset = 0
        z[:] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, -99999]
    grid = read_grid(path)
    assert grid.dims == ("latitude", "longitude")
    assert grid["latitude"].values.tolist() == [10.0, 11.0, 12.0]
    # the first row in the file is the northernmost (latitude 12)
    assert grid.sel(latitude=12.0).values.tolist() == [1, 2, 3, 4]
    assert np.isnan(grid.sel(latitude=10.0, longitude=3.0))


def test_png_round_trip_within_half_a_grey_level(tmp_path):
    pytest.importorskip("PIL")
    grid = _grid().rename({"latitude": "northing", "longitude": "easting"})
    grid = grid.assign_coords(northing=np.arange(6.0), easting=np.arange(8.0))
    path = write_png_tile(grid, tmp_path / "t.png", vmin=-50, vmax=50)
    back = read_png_tile(path, vmin=-50, vmax=50)
    ok = np.isfinite(grid.values)
    assert np.isnan(back.values[~ok]).all()
    assert np.abs(back.values[ok] - grid.values[ok]).max() <= 0.5 * 100 / 255 + 1e-9


@pytest.mark.parametrize(("grid", "match"), [
    (xr.DataArray(np.ones((3, 3)), dims=("a", "b")), "dimensions"),
    (xr.DataArray(np.ones((3, 3)), dims=("northing", "easting")), "no coordinate"),
    (xr.DataArray(np.ones((3, 3)), dims=("northing", "easting"),
                  coords={"northing": [0.0, 2.0, 1.0], "easting": [0.0, 1.0, 2.0]}),
     "not strictly increasing"),
    (xr.DataArray(np.full((3, 3), np.nan), dims=("northing", "easting"),
                  coords={"northing": [0.0, 1.0, 2.0], "easting": [0.0, 1.0, 2.0]}), "all NaN"),
    (xr.DataArray(np.ones(3), dims=("northing",)), "2-D"),
])
def test_bad_grids(grid, match):
    with pytest.raises(ValidationError, match=match):
        check_grid(grid)


def test_unreadable_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.nc"
    bad.write_text("not netcdf")
    with pytest.raises(FileFormatError, match="bad.nc"):
        read_grid(bad)
    table = tmp_path / "pts.csv"
    table.write_text("longitude,latitude,anomaly\n1,2,3\n1,x,4\n")
    with pytest.raises(FileFormatError, match="line 3"):
        read_points(table)


def test_real_emag2_v2(registered):
    grid = read_grid(registered("grids/EMAG2_V2_1x1.grd"))
    assert grid.shape == (181, 361)
    assert grid.dims == ("latitude", "longitude")
    assert grid["latitude"].values[[0, -1]].tolist() == [-90.0, 90.0]
    valid = grid.values[np.isfinite(grid.values)]
    # no sentinel (or sentinel mixed by resampling) survives; anomalies are within +-5000 nT
    assert np.abs(valid).max() < 5000
    assert np.isnan(grid.values).sum() > 0


def test_real_brazil_xyz_is_a_regular_grid(registered):
    points = read_points(registered("grids/emag2_v2_ne_brazil_xyz.txt"))
    grid = grid_from_table(points)
    assert grid.shape == (71, 101)
    np.testing.assert_allclose(np.diff(grid["longitude"].values), 0.05, atol=1e-6)
    assert np.isfinite(grid.values).all()


def test_real_mgd77_cruise(registered):
    cruise = read_mgd77(registered("grids/01010006.nc"))
    # the file's own actual_range of 'mag' is -469.7 .. 2288.3 nT
    assert float(cruise["anomaly"].min()) == pytest.approx(-469.7)
    assert float(cruise["anomaly"].max()) == pytest.approx(2288.3)
    assert cruise.sizes["point"] + cruise.attrs["dropped"] == 866


def test_real_png_tile_with_keep_mask(registered):
    pytest.importorskip("PIL")
    tile = read_png_tile(registered("grids/emag2v3_tiles/gts/example_675.png"),
                         keep_mask=registered("grids/emag2v3_tiles/gt_keep_masks/example_675.png"))
    assert tile.shape == (512, 512)
    assert float(np.nanmin(tile)) >= -200
    assert float(np.nanmax(tile)) <= 200
    assert 0 < np.isnan(tile.values).mean() < 0.5
