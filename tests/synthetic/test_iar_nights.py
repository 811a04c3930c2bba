import numpy as np
import pytest
from scipy import stats

from magnetar.errors import ValidationError
from magnetar.synthetic import IARConfig, synthetic_iar_night, synthetic_iar_nights, welch_dof


def test_fast_and_time_series_renderings_agree_with_the_welch_statistics():
    fast = synthetic_iar_night(seed=4)
    slow, series = synthetic_iar_night(seed=4, timeseries=True)
    assert series.attrs["sampling_rate"] == 100.0
    assert series.sizes["time"] == 432 * 10_000
    dof = welch_dof(4096, 2048, 3)
    assert 5.5 < dof < 6.0  # 3 half-overlapping Hann windows
    # log10 of a Gamma(dof/2, 2/dof) scatter: its median and spread, analytically
    expected_median = np.log10(stats.gamma(dof / 2, scale=2 / dof).median())
    for ds in (fast, slow):
        r = (ds.spectrogram - fast.expected).values
        r = r[np.isfinite(r)]
        assert np.median(r) == pytest.approx(expected_median, abs=0.01)
    a = (fast.spectrogram - fast.expected).values
    b = (slow.spectrogram - fast.expected).values
    assert np.nanstd(a) == pytest.approx(np.nanstd(b), rel=0.05)
    # same draw: same labels
    np.testing.assert_array_equal(fast.mask, slow.mask)


def test_labels_follow_the_true_fringe_frequencies():
    ds = synthetic_iar_night(seed=1)
    assert ds.attrs["has_iar"] == 1
    assert ds.mask.sum() > 1000
    f = ds.frequency.values[:, None]
    fn = ds.fringe_frequency.values  # (fringe, time)
    fn_inf = np.where(np.isfinite(fn), fn, np.inf)
    dist = np.min(np.abs(f[None] - fn_inf[:, None, :]), axis=0)  # (frequency, time)
    labelled = ds.mask.values.astype(bool)
    # every labelled pixel is within half a fringe spacing of a visible fringe centre
    half_spacing = np.nanmax(ds.delta_f.values) / 2
    assert np.all(dist[labelled] <= half_spacing)
    # spacing is the difference of consecutive fringes
    d = np.diff(fn, axis=0)
    ok = np.isfinite(d[0]) & np.isfinite(ds.delta_f.values)
    np.testing.assert_allclose(d[0][ok], ds.delta_f.values[ok], rtol=1e-9)
    # the spacing rises from dusk to its maximum and falls towards dawn
    df = ds.delta_f.values
    finite = np.flatnonzero(np.isfinite(df))
    top = np.nanargmax(df)
    assert df[finite[0]] < df[top]
    assert df[finite[-1]] < df[top]


def test_nights_without_iar_have_empty_masks_and_ranges_widen():
    cfg = IARConfig(p_iar=0.0)
    nights = synthetic_iar_nights(3, cfg, seed=5)
    assert nights.mask.sum() == 0
    assert nights.has_iar.sum() == 0
    assert np.isnan(nights.delta_f).all()
    wide = IARConfig().wider(1.5)
    lo, hi = IARConfig().delta_f
    assert wide.delta_f[0] < lo
    assert wide.delta_f[1] > hi
    with pytest.raises(ValidationError, match="delta_f"):
        IARConfig(delta_f=(1.0, 0.5))
