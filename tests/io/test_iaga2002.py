import gzip
import zipfile

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from magnetar import datasets
from magnetar.errors import FileFormatError, ValidationError
from magnetar.io import read_iaga2002, read_stations, write_iaga2002

HEADER = """\
 Format                 IAGA-2002                                    |
 Source of Data         Test                                         |
 Station Name           Testville                                    |
 IAGA CODE              TST                                          |
 Geodetic Latitude      50.000                                       |
 Geodetic Longitude     10.000                                       |
 Elevation              100                                          |
 Reported               XYZF                                         |
 Sensor Orientation     HDZF                                         |
 Digital Sampling       1 second                                     |
 Data Interval Type     1-minute                                     |
 Data Type              variation                                    |
 # a comment line                                                    |
DATE       TIME         DOY     TSTX      TSTY      TSTZ      TSTF   |
"""
ROWS = [
    "2024-01-01 00:00:00.000 001     20000.00   -100.00  45000.00  49000.00",
    "2024-01-01 00:01:00.000 001     20000.50   -100.25  45000.75  88888.00",
    "2024-01-01 00:02:00.000 001     99999.00   -100.50  45001.00  49001.00",
]


def _write(tmp_path, rows, header=HEADER, name="tst.min"):
    path = tmp_path / name
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def test_reads_values_header_and_missing(tmp_path):
    ds = read_iaga2002(_write(tmp_path, ROWS))
    assert list(ds.data_vars) == ["X", "Y", "Z", "F"]
    np.testing.assert_array_equal(ds["Y"].values, [-100.0, -100.25, -100.5])
    assert np.isnan(ds["X"].values[2])
    assert np.isnan(ds["F"].values[1])
    assert ds["F"].attrs["iaga_fill_value"] == 88888.0
    assert ds.attrs["iaga_code"] == "TST"
    assert ds.attrs["comments"] == "a comment line"
    assert ds.attrs["sampling_period_s"] == 60.0
    assert ds["X"].attrs["units"] == "nT"


def test_round_trip_is_exact(tmp_path):
    path = _write(tmp_path, ROWS)
    ds = read_iaga2002(path)
    out = write_iaga2002(ds, tmp_path / "out.min")
    assert out.read_text() == path.read_text()
    back = read_iaga2002(out)
    xr.testing.assert_identical(ds.drop_attrs(deep=False), back.drop_attrs(deep=False))


def test_gzip_and_zip_are_transparent(tmp_path):
    path = _write(tmp_path, ROWS)
    gz = tmp_path / "tst.min.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    zp = tmp_path / "tst.zip"
    with zipfile.ZipFile(zp, "w") as zf:
        zf.write(path, "tst.min")
    for other in (gz, zp):
        np.testing.assert_array_equal(read_iaga2002(other)["Z"].values,
                                      read_iaga2002(path)["Z"].values)


def test_missing_rows_become_nan(tmp_path):
    rows = [ROWS[0], "2024-01-01 00:03:00.000 001     20001.00   -101.00  45002.00  49002.00"]
    ds = read_iaga2002(_write(tmp_path, rows))
    assert ds.sizes["time"] == 4
    assert np.isnan(ds["X"].values[1:3]).all()


@pytest.mark.parametrize(
    ("rows", "line", "match"),
    [
        ([ROWS[0], ROWS[1][:30]], 16, "truncated data record"),
        ([ROWS[0], ROWS[0]], 16, "duplicate time"),
        ([ROWS[1], ROWS[0]], 16, "non-monotonic"),
        ([ROWS[0], "2024-01-01 00:01:30.000 001     20000.00   -100.00  45000.00  49000.00",
          "2024-01-01 00:02:00.000 001     20000.00   -100.00  45000.00  49000.00"], 17,
         "mixed cadences|header contradicts"),
        ([ROWS[0], ROWS[1].replace("20000.50", "2000O.50")], 16, "malformed number"),
        ([ROWS[0], ROWS[1].replace(" 001 ", " 002 ")], 16, "day of year 2"),
        ([ROWS[0], ROWS[1].replace("2024-01-01 00:01", "2024-13-01 00:01")], 16, "date/time"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path, rows, line, match):
    path = _write(tmp_path, rows)
    with pytest.raises(FileFormatError, match=match) as info:
        read_iaga2002(path)
    assert info.value.path == str(path)
    assert info.value.line == line


def test_header_contradicting_columns(tmp_path):
    header = HEADER.replace("Reported               XYZF", "Reported               HDZF")
    with pytest.raises(FileFormatError, match="header contradicts data.*TSTX"):
        read_iaga2002(_write(tmp_path, ROWS, header=header))


def test_header_interval_contradicting_data(tmp_path):
    rows = [r.replace(":01:00", ":00:01").replace(":02:00", ":00:02") for r in ROWS]
    with pytest.raises(FileFormatError, match="1-minute.*1 s apart"):
        read_iaga2002(_write(tmp_path, rows))


def test_no_data_and_no_header(tmp_path):
    with pytest.raises(FileFormatError, match="no data lines"):
        read_iaga2002(_write(tmp_path, []))
    empty = tmp_path / "empty.min"
    empty.write_text("")
    with pytest.raises(FileFormatError, match="no 'DATE TIME DOY"):
        read_iaga2002(empty)


def test_writer_refuses_to_overwrite(tmp_path):
    path = _write(tmp_path, ROWS)
    with pytest.raises(ValidationError, match="refusing to overwrite"):
        write_iaga2002(read_iaga2002(path), path)


def test_one_element_files_merge_per_station(tmp_path):
    h = HEADER.replace("Reported               XYZF", "Reported               XNULNULNUL")
    hx = h.replace("TSTY      TSTZ      TSTF", "TSTNUL    TSTNUL    TSTNUL")
    hz = hx.replace("XNULNULNUL", "ZNULNULNUL").replace("TSTX ", "TSTZ ")
    rx = [r[:40] + "  99999.00  99999.00  99999.00" for r in ROWS]
    rz = [r[:30] + r[50:60] + "  99999.00  99999.00  99999.00" for r in ROWS]
    px = _write(tmp_path, rx, header=hx, name="x.min")
    pz = _write(tmp_path, rz, header=hz, name="z.min")
    stations = read_stations([pz, px])
    ds = stations["TST"]
    assert list(ds.data_vars) == ["X", "Z"]
    np.testing.assert_array_equal(ds["Z"].values, [45000.0, 45000.75, 45001.0])
    assert ds.attrs["reported"] == "XZ"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-60000, 60000, allow_nan=False), min_size=2, max_size=30))
def test_round_trip_property(tmp_path_factory, values):
    tmp = tmp_path_factory.mktemp("rt")
    values = np.round(np.asarray(values), 2)
    times = np.datetime64("2024-01-01", "ns") + np.arange(values.size) * np.timedelta64(1, "s")
    ds = xr.Dataset({"X": ("time", values), "Y": ("time", -values), "Z": ("time", values / 2),
                     "F": ("time", np.abs(values))}, coords={"time": times},
                    attrs={"iaga_code": "ABC", "reported": "XYZF",
                           "data_interval_type": "1-second"})
    back = read_iaga2002(write_iaga2002(ds, tmp / "a.sec"))
    for var in "XYZF":
        np.testing.assert_allclose(back[var].values, np.round(ds[var].values, 2), atol=0.0101)


@pytest.mark.realdata
def test_every_real_file_reads_and_round_trips(registered, tmp_path):
    names = [n for n in datasets.list_files("observatory/") if not n.endswith(".cdf")]
    assert len(names) >= 50
    for i, name in enumerate(names):
        if name.endswith(".zip") and "example1" not in name:
            continue  # the other 1-second zips are exercised by the benchmark
        ds = read_iaga2002(registered(name))
        assert ds.sizes["time"] > 0
        back = read_iaga2002(write_iaga2002(ds, tmp_path / f"{i}.out"))
        for var in ds.data_vars:
            np.testing.assert_array_equal(ds[var].values, back[var].values)
        keep = {k: v for k, v in ds.attrs.items() if k != "source_file"}
        assert keep == {k: v for k, v in back.attrs.items() if k != "source_file"}


@pytest.mark.realdata
def test_brw_ded_merge_per_station(registered):
    names = datasets.list_files("observatory/brw_ded/geomag")
    paths = [registered(n) for n in names if "2021-12-17" in n]
    stations = read_stations(paths)
    assert sorted(stations) == ["BRW", "DED"]
    assert list(stations["BRW"].data_vars) == ["X", "Y", "Z", "H"]
    assert stations["BRW"].sizes["time"] == 1843


def test_far_future_last_row_refused_naming_line(tmp_path):
    # one row dated 2200 would have filled a 176-year axis (92 M rows)
    rows = [ROWS[0], ROWS[1], "2200-01-01 00:00:00.000 001     20001.00   -101.00  45002.00  49002.00"]
    path = _write(tmp_path, rows)
    with pytest.raises(FileFormatError, match=r"days after the previous sample.*rows from 3") as info:
        read_iaga2002(path)
    assert "tst.min" in str(info.value)
    assert "line 17" in str(info.value)


def _record(t, values):
    stamp = np.datetime_as_string(np.datetime64(t, "ms"), unit="ms").replace("T", " ")
    doy = (np.datetime64(t, "D") - np.datetime64(t, "Y").astype("datetime64[D]")).astype(int) + 1
    return f"{stamp} {doy:03d}   " + "".join(f"{v:10.2f}" for v in values)


@settings(max_examples=40, deadline=None)
@given(st.integers(-2_208_988_800_000, 4_102_444_799_000),  # 1900-01-01 .. 2099-12-31 (ms)
       st.lists(st.integers(1, 10**7), min_size=1, max_size=5),
       st.lists(st.floats(-60000, 60000, allow_nan=False), min_size=4, max_size=4))
def test_fixed_column_records_parse_as_the_general_parser_does(first_ms, gaps_ms, values):
    from magnetar.io._iaga2002 import _parse_fast, _parse_fixed

    ms = np.cumsum([first_ms, *gaps_ms])
    rows = [_record(np.datetime64(int(t), "ms"), np.round(values, 2) + i)
            for i, t in enumerate(ms)]
    text = HEADER + "\n".join(rows) + "\n"
    col_line = HEADER.count("\n")
    fixed = _parse_fixed(text, col_line, 7)
    general = _parse_fast(list(enumerate(rows, start=col_line + 1)), 7)
    np.testing.assert_array_equal(fixed[0], ms.astype("datetime64[ms]").astype("datetime64[ns]"))
    np.testing.assert_array_equal(fixed[0], general[0])
    np.testing.assert_array_equal(fixed[2], general[2])
    np.testing.assert_array_equal(fixed[3], general[3])
    assert [fixed[1][i] for i in range(len(rows))] == list(general[1])


@pytest.mark.parametrize("change", [
    lambda r: r[:5] + "02-30" + r[10:],  # 30 February
    lambda r: r[:11] + "24" + r[13:],  # hour 24
    lambda r: r.replace("45000.00", "  inf   "),  # not finite
    lambda r: r.replace("45000.00", "45000.0x"),  # not a number
    lambda r: r + " ",  # another length
])
def test_unusual_records_leave_the_fixed_column_parser(change):
    from magnetar.io._iaga2002 import _parse_fixed

    rows = [ROWS[0], change(ROWS[0].replace("00:00:00", "00:01:00"))]
    assert _parse_fixed(HEADER + "\n".join(rows) + "\n", HEADER.count("\n"), 7) is None


def test_carriage_returns_and_blank_lines_read_as_plain_records(tmp_path):
    plain = read_iaga2002(_write(tmp_path, ROWS))
    crlf = tmp_path / "crlf.min"
    crlf.write_bytes((HEADER + "\n".join(ROWS) + "\n").replace("\n", "\r\n").encode())
    blank = _write(tmp_path, [ROWS[0], "", ROWS[1], ROWS[2]], name="blank.min")
    for other in (crlf, blank):
        ds = read_iaga2002(other)
        xr.testing.assert_identical(ds.drop_attrs(), plain.drop_attrs())
