import numpy as np
import pytest

from magnetar.errors import FileFormatError
from magnetar.io import read_crowdmag

XYZ = ("Time (UTC),Latitude (deg),Longitude (deg), X (nT), Y (nT), Z (nT), Tempature (°F)\n"
       "2022-03-09 22:16:30,70.2,-148.3,3.0,4.0,12.0,999.00\n"
       "2022-03-09 22:14:30,70.2,-148.3,0.0,3.0,4.0,55.00\n"
       "2022-03-09 22:15:30,70.2,-148.3,abc,3.0,4.0,999.00\n"
       "not a time,70.2,-148.3,1.0,3.0,4.0,999.00\n"
       "2022-03-09 22:17:30,0,0,1.0,3.0,4.0,999.00\n")


def test_xyz_layout_total_sorting_and_dropped_rows(tmp_path):
    path = tmp_path / "crowdmag_walk_iPhone12,1_2022-03-09 221630.csv"
    path.write_text(XYZ, encoding="utf-8")
    ds = read_crowdmag(path)
    assert ds.sizes["point"] == 2
    np.testing.assert_allclose(ds["total"], [5.0, 13.0])  # oldest first; |(0,3,4)| = 5
    assert np.isnan(ds["temperature"].values[1])
    assert ds["temperature"].values[0] == 55.0
    assert ds.attrs["rows_dropped"] == 3
    assert ds.attrs["device"] == "iPhone12,1"
    assert "unreadable time" in ds.attrs["dropped_reasons"]


def test_total_layout_us_times_and_week_year_bug(tmp_path):
    text = ("Time (UTC),Latitude (deg),Longitude (deg), Total Field (nT), "
            "Horizontal Component (nT), Vertical Component (nT)\n"
            "12/31/2022 23:58,40.0,-105.0,52000.0,20000.0,48000.0\n"
            "1/1/2022 00:01,40.0,-105.0,52010.0,20000.0,48010.0\n")
    path = tmp_path / "crowdmag_x_iPhone13,1_2022-01-01 000534.csv"
    path.write_text(text, encoding="utf-8")
    ds = read_crowdmag(path)
    # the app's week-based year stamped 2021-12-31 as 2022-12-31
    assert str(ds["time"].values[0])[:16] == "2021-12-31T23:58"
    assert ds.attrs["week_year_corrected"] == 1
    np.testing.assert_allclose(ds["total"], [52000.0, 52010.0])


def test_a_recording_only_in_late_december_is_flagged_not_changed(tmp_path):
    text = ("Time (UTC),Latitude (deg),Longitude (deg), Total Field (nT), "
            "Horizontal Component (nT), Vertical Component (nT)\n"
            "12/28/2022 3:11,70.2,-148.4,52000.0,20000.0,48000.0\n"
            "12/31/2022 4:09,70.2,-148.4,52010.0,20000.0,48010.0\n")
    path = tmp_path / "crowdmag_bishop_iPhone12,1_2022-12-31 041124.csv"
    path.write_text(text, encoding="utf-8")
    ds = read_crowdmag(path)
    assert str(ds["time"].values[0])[:10] == "2022-12-28"  # nothing decides it: kept
    assert "one too late" in ds.attrs["date_note"]
    assert ds.attrs["week_year_corrected"] == 0
    # an ordinary recording carries no note
    ordinary = tmp_path / "crowdmag_walk_iPhone12,1_2022-03-09 221630.csv"
    ordinary.write_text(XYZ, encoding="utf-8")
    assert read_crowdmag(ordinary).attrs["date_note"] == ""


@pytest.mark.parametrize(("text", "match"), [
    ("Time (UTC),Latitude (deg),Longitude (deg),Speed\n", "unknown column"),
    ("Time (UTC),Latitude (deg), X (nT), Y (nT), Z (nT)\n2022-01-01 00:00:00,1,2,3,4\n",
     "missing column"),
    ("Time (UTC),Latitude (deg),Longitude (deg), X (nT), Y (nT), Z (nT)\nx,y,z,1,2,3\n",
     "no usable row"),
])
def test_bad_files_name_the_file(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileFormatError, match=match) as err:
        read_crowdmag(path)
    assert "bad.csv" in str(err.value)
    with pytest.raises(FileFormatError, match="no such file"):
        read_crowdmag(tmp_path / "missing.csv")


def test_every_real_export_reads(registered):
    from magnetar import datasets

    names = datasets.list_files("crowdmag/")
    assert len(names) == 30
    layouts = set()
    for name in names:
        ds = read_crowdmag(registered(name))
        assert ds.sizes["point"] > 20
        assert np.all(np.diff(ds["time"].values).astype(float) >= 0)
        assert 20_000 < float(ds["total"].median()) < 250_000  # phones carry large offsets
        layouts.add(ds.attrs["layout"])
    assert layouts == {"xyz", "total/horizontal/vertical"}
