import numpy as np
import pytest

from magnetar import datasets
from magnetar.errors import ValidationError
from magnetar.io import read_timeseries, timeseries_from_array
from magnetar.processing import bandpass, crop_band, select_night, split_nights, welch_spectrogram


def test_welch_of_white_noise_has_the_analytic_level_and_day_shape():
    fs, sigma = 100.0, 2.0
    x = np.random.default_rng(0).normal(0, sigma, 86_400 * 100 // 10)  # 2.4 h
    spec = welch_spectrogram(timeseries_from_array(x, sampling_rate=fs))
    assert spec.sizes["time"] == len(x) // 10_000
    assert spec.sizes["frequency"] == 2049
    # one-sided PSD of white noise: 2 sigma^2 / fs
    mean_psd = np.mean(10 ** spec.sel(frequency=slice(1, 40)).values)
    assert mean_psd == pytest.approx(2 * sigma**2 / fs, rel=0.02)
    assert spec.attrs["units"] == "log10(nT^2/Hz)"
    # 864 columns per day at the defaults
    assert 86_400 / spec.attrs["segment_s"] == 864


def test_sinusoid_injected_in_real_data_is_found_with_its_power():
    series = read_timeseries(datasets.fetch("timeseries/LLO_10Hz_20200106.mseed"))
    u = series.isel(channel=[0])
    fs = u.attrs["sampling_rate"]
    t = np.arange(u.sizes["time"]) / fs
    f0, amp = 2.0, 0.2  # nT: power amp^2/2
    injected = u.copy(data=u.values + amp * np.sin(2 * np.pi * f0 * t)[:, None])
    before = welch_spectrogram(bandpass(u, low=0.5, high=4.0))
    after = welch_spectrogram(bandpass(injected, low=0.5, high=4.0))
    extra = (10 ** after - 10 ** before).median("time")
    peak = float(extra["frequency"][int(np.argmax(extra.values))])
    step = float(extra.frequency[1] - extra.frequency[0])
    assert abs(peak - f0) <= step
    band = extra.sel(frequency=slice(f0 - 0.05, f0 + 0.05))
    power = float(band.sum()) * step
    assert power == pytest.approx(amp**2 / 2, rel=0.05)


def test_bandpass_is_zero_phase_and_keeps_gaps():
    fs = 100.0
    t = np.arange(60_000) / fs
    x = np.sin(2 * np.pi * 2.0 * t) + np.sin(2 * np.pi * 0.05 * t) + np.sin(2 * np.pi * 30 * t)
    x[20_000:20_500] = np.nan
    out = bandpass(timeseries_from_array(x, sampling_rate=fs)).values[:, 0]
    assert np.isnan(out[20_000:20_500]).all()
    inner = slice(25_000, 55_000)
    # the 2 Hz line passes without delay (zero phase); 0.05 Hz and 30 Hz are removed
    np.testing.assert_allclose(out[inner], np.sin(2 * np.pi * 2.0 * t[inner]), atol=0.02)
    with pytest.raises(ValidationError, match="Nyquist"):
        bandpass(timeseries_from_array(x, sampling_rate=fs), high=60)


def test_missing_segments_become_nan_columns_and_nights_split():
    fs = 10.0
    x = np.random.default_rng(1).normal(size=int(2 * 86_400 * fs))
    x[: int(500 * fs)] = np.nan
    spec = welch_spectrogram(timeseries_from_array(x, sampling_rate=fs, start="2020-01-01"))
    assert np.isnan(spec.isel(time=slice(0, 5))).all()
    assert np.isfinite(spec.isel(time=6)).all()
    night = select_night(spec, "2020-01-01")
    hours = (night.time.values[[0, -1]] - np.datetime64("2020-01-01T18:00")) / np.timedelta64(1, "h")
    assert hours[0] >= 0
    assert hours[1] <= 12
    assert night.sizes["time"] == 432
    assert list(split_nights(spec)) == ["2020-01-01", "2020-01-02"]  # 6 of 12 h
    assert list(split_nights(spec, min_fraction=0.6)) == ["2020-01-01"]
    nights = split_nights(spec)
    # the data end at 00:00 on Jan 3: the second night has 6 of its 12 hours, the first all
    assert nights["2020-01-02"].attrs["night_coverage"] == pytest.approx(0.5, abs=0.01)
    assert nights["2020-01-02"].attrs["partial_night"] == 1
    assert nights["2020-01-01"].attrs["partial_night"] == 0
    assert crop_band(spec, fmin=0.5, fmax=2.0).frequency.max() <= 2.0


@pytest.mark.parametrize(("nfft", "overlap", "window"), [(256, 0.5, "hann"), (301, 0.25, "hamming"),
                                                         (512, 0.0, "hann")])
def test_the_welch_average_is_scipys_for_every_segment(nfft, overlap, window):
    from scipy import signal

    fs, seg = 10.0, 400
    x = np.random.default_rng(7).normal(3.0, 1.0, size=(seg * 6, 2))
    spec = welch_spectrogram(timeseries_from_array(x, sampling_rate=fs, channels=["a", "b"]),
                             segment_s=seg / fs, nfft=nfft, overlap=overlap, window=window,
                             combine="none")
    blocks = x.reshape(6, seg, 2)
    blocks = blocks - blocks.mean(axis=1, keepdims=True)  # each segment de-meaned
    nperseg = min(nfft, seg)
    _, psd = signal.welch(blocks, fs=fs, window=window, nperseg=nperseg,
                          noverlap=int(overlap * nperseg), nfft=nfft, detrend=False, axis=1)
    np.testing.assert_allclose(10 ** spec.values, psd.transpose(2, 1, 0), rtol=1e-10)
    # a gap: zero-filled, the mean of the samples present removed, power rescaled
    y = x[:, 0].copy()
    y[50:90] = np.nan
    one = welch_spectrogram(timeseries_from_array(y, sampling_rate=fs), segment_s=seg / fs,
                            nfft=nfft, overlap=overlap, window=window)
    first = y[:seg].copy()
    present = np.isfinite(first)
    first = np.where(present, first - np.nanmean(first), 0.0)
    _, ref = signal.welch(first, fs=fs, window=window, nperseg=nperseg,
                          noverlap=int(overlap * nperseg), nfft=nfft, detrend=False)
    np.testing.assert_allclose(10 ** one.values[:, 0], ref / present.mean(), rtol=1e-10)
