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


def _lone_fringe(**kw):
    """A night with one straight fringe at 2.002 Hz on a flat background and nothing else."""
    quiet = dict(alpha=(0.0, 0.0), background=(-6.0, -6.0), drift_db=0.0, p_iar=1.0,
                 delta_f=(1.0, 1.0), delta_f_swing=(0.0, 0.0), delta_f_jitter=0.0,
                 f0_fraction=(1.0, 1.0),
                 f0_offset=(1.001953125, 1.001953125),  # centre on bin 82
                 n_fringes=(1, 1), f_top=(7.0, 7.0), snr_db=(10.0, 10.0),
                 onset_h=(0.0, 0.0), end_h=(12.0, 12.0), flicker_db=(0.0, 0.0),
                 p_fringe_fade=0.0, families=(0, 0), schumann_snr_db=(-200.0, -200.0),
                 pc1_events=(0, 0), p_lines=0.0, drift_lines=(0, 0),
                 impulses_per_hour=(0.0, 0.0), bursts=(0, 0), gaps=(0, 0))
    return synthetic_iar_night(IARConfig(**{**quiet, **kw}), seed=3)


def test_the_label_is_as_wide_as_the_fringe_stands_label_db_above_its_background():
    # a Lorentzian of peak ratio s over a flat background B stands r = 10**(label_db/10)
    # above it where s / (1 + (f - c)**2 / h**2) > r: |f - c| < h sqrt(s / r - 1)
    ds = _lone_fringe(width_fraction=(0.5, 0.5), label_db=3.0)  # h = 0.25 Hz, s = 10
    column = ds.mask.isel(time=216).values.astype(bool)
    f = ds.frequency.values[column]
    half = 0.25 * np.sqrt(10 / 2 - 1)  # label_db = 3 dB: r = 1.995
    bin_hz = 100 / 4096
    assert f.min() == pytest.approx(2.0 - half, abs=2 * bin_hz)
    assert f.max() == pytest.approx(2.0 + half, abs=2 * bin_hz)
    assert column.sum() == pytest.approx(2 * half / bin_hz, abs=3)
    wider = _lone_fringe(width_fraction=(0.5, 0.5))  # the default 0 dB: |f - c| < 3 h
    assert wider.mask.isel(time=216).sum() == pytest.approx(2 * 0.75 / bin_hz, abs=3)


def test_a_narrow_fringe_is_broadened_by_the_window_as_welch_predicts():
    # FWHM 2e-5 Hz, far below a bin: the Welch estimate sees its power pi h s B as a
    # line, spread over the Hann window's equivalent noise bandwidth, 1.5 bins
    ds = _lone_fringe(width_fraction=(2e-5, 2e-5), snr_db=(30.0, 30.0))
    bin_hz = 100 / 4096
    peak = 10 ** ds.expected.sel(frequency=2.001953125, method="nearest").isel(time=216)
    ratio = float(peak) / 1e-6 - 1
    assert ratio == pytest.approx(np.pi * 1e-5 * 1000 / (1.5 * bin_hz), rel=0.01)
    # the fringe is 0.86 of the background: it does not double the power, no label
    assert int(ds.mask.sum()) == 0
    loud = _lone_fringe(width_fraction=(2e-5, 2e-5), snr_db=(36.0, 36.0))  # ratio 3.4
    # labelled only where the window's main lobe keeps it above the rest: a row or two
    assert 1 <= int(loud.mask.isel(time=216).sum()) <= 3


def test_dense_fringes_stay_apart_and_families_and_tones_come_with_the_night():
    ds = _lone_fringe(n_fringes=(30, 30), delta_f=(0.15, 0.15), f0_offset=(0.0, 0.0),
                      width_fraction=(0.2, 0.2), decay=(1000.0, 1000.0))
    column = ds.mask.isel(time=216).values.astype(np.int8)
    runs = int((np.diff(np.pad(column, 1)) == 1).sum())
    # fringes at (n + 1) 0.15 Hz, n = 0..29: those within 0.5-4.5 Hz inside the band
    assert runs == pytest.approx(np.sum(((np.arange(30) + 1) * 0.15 >= 0.5)
                                        & ((np.arange(30) + 1) * 0.15 <= 4.5)), abs=1)
    assert np.nanmedian(ds.delta_f.values) == pytest.approx(0.15)
    busy = synthetic_iar_night(IARConfig(families=(2, 2), drift_lines=(2, 2)), seed=11)
    assert busy.attrs["n_families"] == 2
    assert busy.attrs["n_lines"] >= 2


def test_a_wandering_line_is_interference_of_its_width_and_changes_nothing_else():
    # a Gaussian narrow-band line of sigma 0.04 Hz (FWHM 2.355 sigma = 0.094 Hz, several
    # rows, wider than the Hann window's 1.44-bin main lobe) on a flat background; drawn
    # from a spawned generator, so the night's other draws and its noise stay the same
    sigma = 0.04
    plain = _lone_fringe(line_snr_db=(20.0, 20.0))
    ds = _lone_fringe(line_snr_db=(20.0, 20.0), broad_lines=(1, 1),
                      line_width_hz=(sigma, sigma))
    assert ds.attrs["n_lines"] == plain.attrs["n_lines"] + 1
    np.testing.assert_array_equal(ds.mask.values, plain.mask.values)  # never labelled
    excess = 10 ** ds.expected.values - 10 ** plain.expected.values  # (frequency, time)
    on = excess.max(axis=0) > 0
    assert on.any()  # on for part of the night
    assert not on.all()
    column = excess[:, np.flatnonzero(on)[len(np.flatnonzero(on)) // 2]]
    bin_hz = 100 / 4096
    fwhm = np.sum(column > column.max() / 2) * bin_hz
    main_lobe = 1.44 * bin_hz
    assert fwhm == pytest.approx(np.hypot(2.355 * sigma, main_lobe), abs=1.5 * bin_hz)
    # its peak: 20 dB over the background, slightly lowered by the window's smoothing
    assert 10 * np.log10(column.max() / 1e-6) == pytest.approx(20.0, abs=0.5)
    away = np.abs(excess) < 1e-12
    np.testing.assert_allclose(ds.spectrogram.values[away], plain.spectrogram.values[away])
    with pytest.raises(ValidationError, match="broad_lines"):
        IARConfig(broad_lines=(2, 1))


@pytest.mark.parametrize(("duty", "run"), [(0.3, 5.0), (0.7, 12.0)])
def test_a_switching_source_is_on_its_duty_in_runs_of_its_mean_length(duty, run):
    from magnetar.synthetic._iar import _switching

    on = _switching(np.random.default_rng(0), 200_000, duty=duty, run=run)
    edges = np.diff(np.r_[0, on.astype(np.int8), 0])
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert on.mean() == pytest.approx(duty, abs=0.02)
    assert runs.mean() == pytest.approx(run, rel=0.05)  # geometric runs of mean 1 / p_off
