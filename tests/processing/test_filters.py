import numpy as np
import pytest
import xarray as xr

from magnetar.errors import ValidationError
from magnetar.processing import CausalHighpass, butter_highpass, highpass


def _series(values, period=1.0):
    t = np.datetime64("2024-01-01", "ns") + np.arange(values.size) * np.timedelta64(
        int(period * 1e9), "ns")
    return xr.DataArray(values, dims="time", coords={"time": t},
                        attrs={"sampling_period_s": period})


def test_zero_phase_response_matches_butterworth_magnitude():
    n = 20000
    t = np.arange(n, dtype=float)
    fc = 1 / 600
    for f in (fc / 4, fc, 4 * fc):
        out = highpass(_series(np.sin(2 * np.pi * f * t)), cutoff=fc).values
        amp = np.sqrt(2) * np.std(out[3000:-3000])
        # forward-backward: |H|^2 with |H| = 1 / sqrt(1 + (fc/f)^(2n)), n = 4
        expected = 1 / (1 + (fc / f) ** 8)
        assert amp == pytest.approx(expected, rel=0.03, abs=2e-3)


def test_constant_and_trend_removed_and_dtype_kept():
    x = 50000 + 0.01 * np.arange(5000.0)
    out = highpass(_series(x), cutoff=1 / 600)
    assert np.max(np.abs(out.values[1000:-1000])) < 1e-3
    assert out.dtype == np.float64
    assert out.attrs["sampling_period_s"] == 1.0


def test_gap_is_not_smeared():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 6000)
    x[3000:3500] = np.nan  # long gap: two segments
    x[1000:1004] = np.nan  # short gap: bridged
    out = highpass(_series(x), cutoff=1 / 600, max_gap=10).values
    assert np.isnan(out[3000:3500]).all()
    assert np.isnan(out[1000:1004]).all()
    assert np.isfinite(out[:1000]).all()
    assert np.isfinite(out[3500:]).all()
    assert np.isfinite(out[1004:3000]).all()


def test_causal_chunks_equal_whole_record(rng):
    x = rng.normal(0, 1, (3, 5000)).cumsum(axis=1)
    x[1, 100:150] = np.nan
    sos = butter_highpass(cutoff=1 / 600, sampling_period=1.0)
    whole = CausalHighpass(sos, n_series=3)(x)
    chunked = CausalHighpass(sos, n_series=3)
    parts, i = [], 0
    for size in rng.integers(1, 400, 100):
        if i >= x.shape[1]:
            break
        parts.append(chunked(x[:, i:i + size]))
        i += size
    np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, rtol=0, atol=1e-9)
    assert np.isnan(whole[1, 100:150]).all()


def test_causal_starts_in_steady_state():
    sos = butter_highpass(cutoff=1 / 600, sampling_period=1.0)
    out = CausalHighpass(sos, n_series=1)(np.full((1, 100), 48000.0))
    assert np.max(np.abs(out)) < 1e-6


def test_bad_cutoff_message():
    with pytest.raises(ValidationError, match="Nyquist"):
        butter_highpass(cutoff=1.0, sampling_period=60.0)
