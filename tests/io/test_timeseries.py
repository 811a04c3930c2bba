import numpy as np
import pytest

from magnetar import datasets
from magnetar.errors import FileFormatError, ValidationError
from magnetar.io import (
    read_label_mask,
    read_spectrogram_png,
    read_timeseries,
    write_spectrogram_png,
)


def test_miniseed_is_read_with_channels_and_rate():
    series = read_timeseries(datasets.fetch("timeseries/LLO_10Hz_20200106.mseed"))
    assert series.dims == ("time", "channel")
    assert list(series.channel.values) == ["U", "V", "W"]
    assert series.attrs["sampling_rate"] == 10.0
    assert series.sizes["time"] == 144_123
    step = np.diff(series.time.values[:3]) / np.timedelta64(1, "ms")
    np.testing.assert_array_equal(step, [100, 100])


def test_text_and_npy_need_a_rate_and_bad_rows_name_the_line(tmp_path):
    good = tmp_path / "a.txt"
    good.write_text("# x y\nx y\n1 2\n3 4\n5 6\n")
    series = read_timeseries(good, sampling_rate=4.0)
    assert series.shape == (3, 2)
    assert series.attrs["sampling_rate"] == 4.0
    bad = tmp_path / "b.csv"
    bad.write_text("1,2\n3,oops\n")
    with pytest.raises(FileFormatError, match="line 2"):
        read_timeseries(bad, sampling_rate=1.0)
    np.save(tmp_path / "c.npy", np.arange(10.0))
    with pytest.raises(ValidationError, match="sampling_rate"):
        read_timeseries(tmp_path / "c.npy")
    assert read_timeseries(tmp_path / "c.npy", sampling_rate=2.0).shape == (10, 1)


def test_spectrogram_png_round_trip_and_label_resize(tmp_path):
    import xarray as xr

    rng = np.random.default_rng(0)
    spec = xr.DataArray(rng.uniform(-7, -5, (40, 60)), dims=("frequency", "time"),
                        coords={"frequency": np.linspace(0.5, 10, 40), "time": np.arange(60)})
    write_spectrogram_png(spec, tmp_path / "s.png", vmin=-7, vmax=-5)
    back = read_spectrogram_png(tmp_path / "s.png")
    np.testing.assert_allclose(back.values, spec.values, atol=2 / 255 / 2 + 1e-9)
    np.testing.assert_allclose(back.frequency, spec.frequency)
    mask = spec.copy(data=(np.arange(40)[:, None] < 10) * np.ones((1, 60)))
    write_spectrogram_png(mask, tmp_path / "m.png", vmin=0, vmax=1)
    big = read_label_mask(tmp_path / "m.png", shape=(80, 120))
    assert big.shape == (80, 120)
    assert big[:20].all()
    assert not big[20:].any()
    with pytest.raises(FileFormatError):
        read_label_mask(tmp_path / "missing.png")


def test_mseed_round_trip_keeps_gaps(tmp_path):
    pytest.importorskip("obspy")
    from magnetar.io import timeseries_from_array, write_mseed

    values = np.sin(np.arange(30_000) / 10.0)
    values[10_000:10_500] = np.nan  # a gap: written as two traces, read back as NaN
    series = timeseries_from_array(values, sampling_rate=100.0, start="2020-01-01",
                                   channels=["H"])
    back = read_timeseries(write_mseed(series, tmp_path / "x.mseed"))
    np.testing.assert_array_equal(np.isnan(back.values[:, 0]), np.isnan(values))
    np.testing.assert_allclose(back.values[:, 0], values, equal_nan=True)


@pytest.mark.parametrize("cut", [0.5, 0.999])
def test_truncated_mseed_is_refused_not_read_short(tmp_path, cut):
    pytest.importorskip("obspy")
    from magnetar.io import timeseries_from_array, write_mseed

    series = timeseries_from_array(np.sin(np.arange(100_000) / 10.0), sampling_rate=100.0,
                                   start="2020-01-01", channels=["H"])
    whole = write_mseed(series, tmp_path / "whole.mseed").read_bytes()
    cut_file = tmp_path / "cut.mseed"
    cut_file.write_bytes(whole[:int(len(whole) * cut)])  # an interrupted copy
    with pytest.raises(FileFormatError, match="truncated") as err:
        read_timeseries(cut_file)
    assert "cut.mseed" in str(err.value)
