import numpy as np
import pandas as pd
import pytest
import xarray as xr

from magnetar.errors import ValidationError
from magnetar.processing import (
    crustal_anomaly,
    external_disturbance,
    igrf_field,
    noise_level,
    screen_points,
)

pytest.importorskip("ppigrf")


def test_igrf_total_matches_published_value():
    # README of the shared data: F at Prudhoe Bay on 2022-03-09 is near 57,270 nT
    e, n, u = igrf_field([-148.38], [70.23], [np.datetime64("2022-03-09T12:00")])
    assert abs(np.sqrt(e**2 + n**2 + u**2)[0] - 57_270) < 15
    assert u[0] < 0
    assert n[0] > 0


def _observatory(dz):
    t = pd.date_range("2022-03-09", periods=600, freq="1min").values
    ds = xr.Dataset({c: ("time", np.full(t.size, base)) for c, base in
                     (("X", 9000.0), ("Y", 1000.0), ("Z", 57000.0))}, coords={"time": t},
                    attrs={"geodetic_longitude": "211.2", "geodetic_latitude": "70.36",
                           "iaga_code": "DED"})
    ds["Z"].values[300:] += dz
    return ds


def test_external_disturbance_projects_on_the_field():
    obs = _observatory(100.0)
    df = external_disturbance(obs, obs["time"].values[[10, 400]])
    e, n, u = igrf_field([211.2], [70.36], [obs["time"].values[300]])
    cos_z = -u[0] / np.sqrt(e[0] ** 2 + n[0] ** 2 + u[0] ** 2)
    # median of Z is at the step (half the samples moved): the quiet level is the lower one
    np.testing.assert_allclose(df[1] - df[0], 100.0 * cos_z, rtol=1e-6)
    with pytest.raises(ValidationError, match="X, Y, Z"):
        external_disturbance(obs.drop_vars("Y"), obs["time"].values[:2])


def test_anomaly_removes_core_field_disturbance_and_offset():
    obs = _observatory(0.0)
    t = obs["time"].values[::10]
    lon = np.full(t.size, -148.38)
    lat = np.linspace(70.20, 70.26, t.size)
    e, n, u = igrf_field(lon, lat, t)
    crust = 30 * np.sin(np.linspace(0, 6, t.size))
    points = xr.Dataset({"total": ("point", np.sqrt(e**2 + n**2 + u**2) + crust + 5000.0)},
                        coords={"time": ("point", t), "longitude": ("point", lon),
                                "latitude": ("point", lat)})
    out = crustal_anomaly(points, observatories=[obs])
    np.testing.assert_allclose(out["anomaly"], crust - np.median(crust), atol=1e-6)
    assert abs(out.attrs["device_offset_nT"] - 5000.0 - np.median(crust)) < 1e-6
    assert out.attrs["observatory"] == "DED"
    assert out.attrs["external_coverage"] == 1.0


def test_an_observatory_that_does_not_cover_the_recording_is_not_named():
    obs = _observatory(0.0)
    t = obs["time"].values[::10] + np.timedelta64(30, "D")  # a month after its data end
    lon, lat = np.full(t.size, -148.38), np.linspace(70.20, 70.26, t.size)
    e, n, u = igrf_field(lon, lat, t)
    points = xr.Dataset({"total": ("point", np.sqrt(e**2 + n**2 + u**2))},
                        coords={"time": ("point", t), "longitude": ("point", lon),
                                "latitude": ("point", lat)})
    out = crustal_anomaly(points, observatories=[obs])
    assert out.attrs["observatory"] == "none"
    assert "DED" in out.attrs["observatory_note"]
    assert "do not cover" in out.attrs["observatory_note"]
    assert out.attrs["external_coverage"] == 0.0


def test_screening_removes_impossible_values_then_outliers():
    rng = np.random.default_rng(0)
    n = 400
    anomaly = rng.normal(0, 10, n)
    anomaly[5] = 200.0  # 20 sigma: an outlier within the physical range
    anomaly[7] = 1.0e6  # a phone on a steel table
    total = 50_000 + anomaly
    points = xr.Dataset({"total": ("point", total),
                         "core_field": ("point", np.full(n, 50_000.0)),
                         "anomaly": ("point", anomaly)},
                        attrs={"device_offset_nT": 0.0})
    out = screen_points(points)
    assert out.attrs["screened_range"] == 1
    assert out.attrs["screened_mad"] == 1
    assert out.sizes["point"] == n - 2
    assert np.abs(out["anomaly"]).max() < 6 * 1.5 * 10  # every kept value is typical


def test_noise_level_ignores_drift():
    rng = np.random.default_rng(0)
    values = 5.0 * rng.standard_normal(20_000) + np.linspace(0, 1e4, 20_000)
    assert abs(noise_level(values) - 5.0) < 0.2
    with pytest.raises(ValidationError, match="at least 3"):
        noise_level([1.0, np.nan])
