import numpy as np
import pytest
import xarray as xr

from magnetar.errors import FileFormatError, ValidationError
from magnetar.io import read_spectrogram


def _table(tmp_path, values, **kw):
    ds = xr.Dataset({"psd": (("freq", "spectrum"), values)},
                    coords={"freq": np.linspace(5.0, 0.5, values.shape[0]),  # descending
                            "spectrum": np.arange(values.shape[1]) * 60.0})
    path = tmp_path / "spectra.nc"
    ds.to_netcdf(path, **kw)
    return path


def test_a_table_of_power_is_mapped_to_log10_frequency_time(tmp_path):
    power = np.outer(np.arange(1, 11), np.ones(4)) * 1e-6
    path = _table(tmp_path, power)
    spec = read_spectrogram(path, variable="psd", dims=("freq", "spectrum"), scale="power")
    assert spec.dims == ("frequency", "time")
    assert np.all(np.diff(spec.frequency) > 0)  # sorted ascending, values follow
    np.testing.assert_allclose(spec.isel(time=0).values, np.log10(power[::-1, 0]))
    amp = read_spectrogram(path, variable="psd", dims=("freq", "spectrum"), scale="amplitude")
    np.testing.assert_allclose(amp.values, 2 * spec.values)  # amplitude squared


def test_a_table_whose_mapping_is_wrong_is_refused_with_the_names(tmp_path):
    path = _table(tmp_path, np.ones((5, 3)))
    with pytest.raises(FileFormatError, match="no variable 'spectrogram'.*psd.*--variable"):
        read_spectrogram(path)
    with pytest.raises(FileFormatError, match=r"dims \('freq', 'spectrum'\).*--dims"):
        read_spectrogram(path, variable="psd")
    with pytest.raises(FileFormatError, match="negative power"):
        read_spectrogram(_table(tmp_path, -np.ones((5, 3))), variable="psd",
                         dims=("freq", "spectrum"), scale="power")
    with pytest.raises(ValidationError, match="scale"):
        read_spectrogram(path, variable="psd", dims=("freq", "spectrum"), scale="dB")
    (tmp_path / "bad.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(FileFormatError, match="bad.h5.*not a readable"):
        read_spectrogram(tmp_path / "bad.h5")


def test_the_mikhnevo_hdf5_spectra_read_as_a_spectrogram(registered):
    spec = read_spectrogram(registered("timeseries/mikhnevo_schumann_spectra.h5"))
    assert spec.dims == ("frequency", "time")
    assert spec.sizes == {"frequency": 280, "time": 120}
    # 5-40 Hz in 280 bins, 12-minute accumulations over a day
    assert float(spec.frequency[0]) == pytest.approx(5.0)
    assert float(spec.frequency[-1]) == pytest.approx(40.0)
    assert float(spec.time[1] - spec.time[0]) == 720.0
    # the first Schumann mode near 7.8 Hz stands above the 5 Hz level (log10 power)
    median = spec.median("time")
    assert float(median.sel(frequency=7.8, method="nearest")) > float(median.isel(frequency=0))
