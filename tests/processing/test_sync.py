import numpy as np
import pytest
import xarray as xr

from magnetar.processing import apply_shifts, lagged_correlation, sync_check


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



def test_every_pair_gets_its_own_lag_and_the_pairwise_correlations(rng):
    # four stations of one signal, late by 0, 2, 0 and -1 samples; station 2 has a gap
    n, lates = 3000, (0, 2, 0, -1)
    common = np.cumsum(rng.normal(0, 1, n + 10))
    rows = np.stack([common[5 - d:5 - d + n] + rng.normal(0, 0.05, n) for d in lates])
    rows[2, 100:140] = np.nan
    t = np.datetime64("2024-01-01", "ns") + np.arange(n) * np.timedelta64(1, "s")
    ds = xr.Dataset({"X": (("station", "time"), rows)},
                    coords={"station": ["A", "B", "C", "D"], "time": t},
                    attrs={"sampling_period_s": 1.0})
    table = sync_check(ds, max_lag=4, interval=(t[0], t[-1]))
    assert len(table) == 6
    diffs = np.diff(rows, axis=-1)
    med = np.nanmedian(diffs, axis=-1, keepdims=True)
    mad = 1.4826 * np.nanmedian(np.abs(diffs - med), axis=-1, keepdims=True)
    diffs = np.clip(diffs, med - 5 * mad, med + 5 * mad)
    for row in table.itertuples():
        i, j = "ABCD".index(row.station_a), "ABCD".index(row.station_b)
        assert row.lag == lates[j] - lates[i]  # b late by its delay less a's
        lags, corr = lagged_correlation(diffs[i], diffs[j], max_lag=4)
        assert row.correlation == pytest.approx(np.nanmax(corr), abs=1e-10)
        assert row.correlation_zero == pytest.approx(corr[lags == 0][0], abs=1e-10)
