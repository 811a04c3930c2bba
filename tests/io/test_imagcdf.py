"""ImagCDF: round trip, the specification's attributes, MagPy cross-check, clear refusals."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from magnetar.errors import FileFormatError, ValidationError
from magnetar.io import read_iaga2002, read_imagcdf, write_iaga2002, write_imagcdf

pytest.importorskip("cdflib", reason="ImagCDF needs magnetar[cdf]")


def _station(n=120, freq="min", elements=("X", "Y", "Z", "F")):
    time = pd.date_range("2022-03-09", periods=n, freq=freq)
    rng = np.random.default_rng(1)
    base = {"X": 9000.0, "Y": 500.0, "Z": 57000.0, "F": 57700.0, "H": 9013.0, "D": 180.0}
    ds = xr.Dataset({e: ("time", base[e] + rng.normal(0, 2, n),
                         {"units": "arcmin" if e == "D" else "nT"}) for e in elements},
                    coords={"time": time})
    if "X" in ds:
        ds["X"].values[5] = np.nan  # a missing sample
    ds.attrs = {"iaga_code": "DED", "station_name": "Deadhorse", "geodetic_latitude": "70.355",
                "geodetic_longitude": "211.207", "elevation": "10",
                "source_of_data": "USGS"}
    return ds


def test_round_trip_values_times_and_missing(tmp_path):
    ds = _station()
    path = write_imagcdf(ds, tmp_path / "ded_20220309_0000_2.cdf")
    back = read_imagcdf(path)
    np.testing.assert_array_equal(back["time"].values, ds["time"].values)
    for e in ("X", "Y", "Z", "F"):
        np.testing.assert_array_equal(back[e].values, ds[e].values)  # doubles: exact
    assert np.isnan(back["X"].values[5])
    assert back.attrs["iaga_code"] == "DED"
    assert back.attrs["reported"] == "XYZF"
    assert back.attrs["sampling_period_s"] == 60.0
    assert float(back.attrs["geodetic_latitude"]) == pytest.approx(70.355)


def test_attributes_follow_the_specification(tmp_path):
    import cdflib

    path = write_imagcdf(_station(elements=("H", "D", "Z", "F")), tmp_path / "a.cdf",
                         publication_level=3)
    cdf = cdflib.CDF(str(path))
    g = {k: v[0] if isinstance(v, list) else v for k, v in cdf.globalattsget().items()}
    assert g["FormatDescription"] == "INTERMAGNET CDF Format"
    assert g["FormatVersion"] == "1.2"
    assert g["Title"] == "Geomagnetic time series data"
    assert g["ElementsRecorded"] == "HDZF"
    assert g["PublicationLevel"] == "3"
    d = cdf.varattsget("GeomagneticFieldD")
    assert d["UNITS"] == "Degrees of arc"
    assert d["FIELDNAM"] == "Geomagnetic Field Element D"
    assert d["DEPEND_0"] == "GeomagneticVectorTimes"
    assert float(np.ravel(d["FILLVAL"])[0]) == 99999.0
    assert float(np.ravel(d["VALIDMIN"])[0]) == -360.0
    # D was 180 arcmin in the dataset: 3 degrees in the file
    assert np.nanmedian(cdf.varget("GeomagneticFieldD")) == pytest.approx(3.0, abs=0.2)
    assert cdf.varinq("GeomagneticVectorTimes").Data_Type == 33  # CDF_TIME_TT2000


def test_one_second_day_times_exact(tmp_path):
    ds = _station(n=86400, freq="s", elements=("X",))
    back = read_imagcdf(write_imagcdf(ds, tmp_path / "s.cdf"))
    np.testing.assert_array_equal(back["time"].values, ds["time"].values)


def test_times_across_a_leap_second_exact(tmp_path):
    # 2016-12-31 23:59:60 UTC: the TT2000 stamps step 2 s there, the UTC stamps 1 s
    import cdflib

    ds = _station(n=120, freq="s", elements=("X",))
    ds = ds.assign_coords(time=pd.date_range("2016-12-31T23:59:00", periods=120, freq="s"))
    path = write_imagcdf(ds, tmp_path / "leap.cdf")
    raw = np.asarray(cdflib.CDF(str(path)).varget("GeomagneticVectorTimes"), dtype=np.int64)
    assert np.diff(raw).max() == 2 * 10**9  # the leap second lies inside the file
    np.testing.assert_array_equal(read_imagcdf(path)["time"].values, ds["time"].values)


def test_iaga_to_imagcdf_to_iaga(tmp_path):
    ds = _station(elements=("H", "D", "Z", "F"))
    first = read_iaga2002(write_iaga2002(ds, tmp_path / "a.min"))
    again = read_imagcdf(write_imagcdf(first, tmp_path / "a.cdf"))
    for e in ("H", "D", "Z", "F"):
        np.testing.assert_allclose(again[e].values, first[e].values, atol=1e-9)


def test_magpy_reads_our_file_and_we_read_magpys(tmp_path):
    pytest.importorskip("magpy", reason="MagPy cross-check needs magnetar[compare]")
    from magnetar._utils import import_quietly_configuring

    read = import_quietly_configuring("magpy.stream").read

    ds = _station()
    stream = read(str(write_imagcdf(ds, tmp_path / "ded_20220309_0000_2.cdf")))
    assert len(stream) == ds.sizes["time"]
    for key, e in (("x", "X"), ("z", "Z"), ("f", "F")):
        got = np.asarray(stream.ndarray[stream.KEYLIST.index(key)], dtype=float)
        np.testing.assert_allclose(got, ds[e].values, atol=1e-9)
    # MagPy's writer, our reader
    out = tmp_path / "magpy"
    out.mkdir()
    stream.write(str(out), format_type="IMAGCDF", coverage="all")
    written = sorted(out.glob("*.cdf"))
    assert len(written) == 1, "MagPy wrote one ImagCDF file"
    back = read_imagcdf(written[0])
    np.testing.assert_array_equal(back["time"].values, ds["time"].values)
    for e in ("X", "Z"):
        np.testing.assert_allclose(back[e].values, ds[e].values, atol=1e-9)
    # MagPy labels every scalar column S (independent scalar instrument), a valid code
    np.testing.assert_allclose(back["S"].values, ds["F"].values, atol=1e-9)
    assert back.attrs["iaga_code"] == "DED"


def test_refusals_name_the_file(tmp_path):
    junk = tmp_path / "junk.cdf"
    junk.write_bytes(b"not a cdf at all")
    with pytest.raises(FileFormatError, match="junk.cdf.*not a readable CDF"):
        read_imagcdf(junk)
    with pytest.raises(FileFormatError, match="no such file"):
        read_imagcdf(tmp_path / "missing.cdf")
    with pytest.raises(ValidationError, match="publication_level must be one of 1, 2, 3, 4"):
        write_imagcdf(_station(), tmp_path / "b.cdf", publication_level=7)
    no_code = _station()
    no_code.attrs = {}
    with pytest.raises(ValidationError, match="needs an IAGA code"):
        write_imagcdf(no_code, tmp_path / "c.cdf")
    path = write_imagcdf(_station(), tmp_path / "d.cdf")
    with pytest.raises(ValidationError, match="refusing to overwrite"):
        write_imagcdf(_station(), path)


@pytest.mark.realdata
def test_magpy_cdf_is_not_imagcdf(registered):
    path = registered("observatory/GP20S32022-08-10.cdf")
    with pytest.raises(FileFormatError, match="not an ImagCDF file.*MagPy"):
        read_imagcdf(path)
