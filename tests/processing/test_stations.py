import numpy as np
import pandas as pd
import pytest
import xarray as xr

from magnetar.errors import ValidationError
from magnetar.processing import align_stations, split_stations


def _station_ds(start, n, period_s=1.0):
    time = pd.date_range(start, periods=n, freq=f"{period_s}s")
    return xr.Dataset({"X": ("time", np.arange(n, dtype=float))}, coords={"time": time},
                      attrs={"sampling_period_s": period_s})


def test_align_on_common_span():
    a = _station_ds("2024-01-01T00:00:00", 600)
    b = _station_ds("2024-01-01T00:05:00", 600)  # starts 300 s later
    out = align_stations({"AAA": a, "BBB": b})
    assert str(out["time"].values[0])[:19] == "2024-01-01T00:05:00"
    assert str(out["time"].values[-1])[:19] == "2024-01-01T00:09:59"
    assert out.sizes["time"] == 300
    np.testing.assert_array_equal(out["X"].sel(station="AAA").values, np.arange(300, 600))
    np.testing.assert_array_equal(out["X"].sel(station="BBB").values, np.arange(300))
    back = split_stations(out)
    assert set(back) == {"AAA", "BBB"}


def test_no_overlap_refused_naming_spans():
    a = _station_ds("2024-01-01T00:00:00", 86400)
    b = _station_ds("2024-01-02T00:00:00", 86400)  # the next day: once a 20 GB union
    with pytest.raises(ValidationError, match=r"overlap by 0 samples.*AAA 2024-01-01T00:00:00 "
                       r"to 2024-01-01T23:59:59; BBB 2024-01-02"):
        align_stations({"AAA": a, "BBB": b})


def test_too_little_overlap_refused():
    a = _station_ds("2024-01-01T00:00:00", 100)
    b = _station_ds("2024-01-01T00:01:30", 100)  # 10 common samples
    with pytest.raises(ValidationError, match="overlap by 10 samples, fewer than the 60"):
        align_stations({"AAA": a, "BBB": b})
    assert align_stations({"AAA": a, "BBB": b}, min_overlap=10).sizes["time"] == 10


def test_all_missing_station_refused_and_unrecorded_element_skipped():
    a = _station_ds("2024-01-01T00:00:00", 100)
    b = _station_ds("2024-01-01T00:00:00", 100)
    a["F"] = ("time", np.full(100, np.nan))  # F "not recorded" (88888) everywhere
    b["F"] = ("time", np.full(100, np.nan))
    assert list(align_stations({"AAA": a, "BBB": b}).data_vars) == ["X"]
    b["X"] = ("time", np.full(100, np.nan))
    with pytest.raises(ValidationError, match="all missing.*BBB X"):
        align_stations({"AAA": a, "BBB": b})
