import numpy as np
import xarray as xr

from magnetar.processing import apply_shifts, sync_check


def test_detects_and_removes_a_clock_offset(rng):
    n = 4000
    common = np.cumsum(rng.normal(0, 1, n + 10))
    a = common[5:5 + n] + rng.normal(0, 0.05, n)
    b = common[2:2 + n] + rng.normal(0, 0.05, n)  # b is 3 samples late
    t = np.datetime64("2024-01-01", "ns") + np.arange(n) * np.timedelta64(1, "s")
    ds = xr.Dataset({"X": (("station", "time"), np.stack([a, b]))},
                    coords={"station": ["AAA", "BBB"], "time": t},
                    attrs={"sampling_period_s": 1.0})
    table = sync_check(ds, max_lag=5)
    assert table.loc[0, "lag"] == 3
    assert table.loc[0, "lag_seconds"] == 3.0
    assert bool(table.loc[0, "significant"])
    fixed = apply_shifts(ds, table)
    assert sync_check(fixed, max_lag=5).loc[0, "lag"] == 0

