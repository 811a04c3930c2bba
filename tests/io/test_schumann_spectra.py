import numpy as np
import pytest

from magnetar.errors import FileFormatError
from magnetar.io import read_schumann_spectra

netCDF4 = pytest.importorskip("netCDF4")

ATTRS = {"min frequency [Hz]": 5, "delta frequency [Hz]": 0.125,
         "accumulation interval [min]": 12.0, "Amplitude": "pT/sqrt(Hz)"}


def _write(path, values, attrs=ATTRS, name="fourier spectrum"):
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("spectrum", values.shape[0])
        ds.createDimension("bin", values.shape[1])
        var = ds.createVariable(name, "f8", ("spectrum", "bin"))
        var[:] = values
        for k, v in attrs.items():
            var.setncattr(k, v)
    return path


def test_amplitudes_become_psd_in_nt2_per_hz(tmp_path):
    amplitude = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])  # pT/sqrt(Hz)
    psd = read_schumann_spectra(_write(tmp_path / "s.h5", amplitude))
    np.testing.assert_allclose(psd.values, (amplitude * 1e-3) ** 2)
    np.testing.assert_allclose(psd["frequency"], [5.0, 5.125, 5.25])
    np.testing.assert_allclose(psd["interval"], [0.0, 12.0])
    assert psd.attrs["units"] == "nT^2/Hz"


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "other"}, "no dataset 'fourier spectrum'"),
    ({"attrs": {k: v for k, v in ATTRS.items() if k != "delta frequency [Hz]"}},
     "lacks the attributes"),
    ({"attrs": {**ATTRS, "Amplitude": "furlongs"}}, "unknown amplitude unit"),
    ({"attrs": {**ATTRS, "delta frequency [Hz]": 0.0}}, "must be positive"),
    ({"values": -np.ones((2, 3))}, "negative"),
])
def test_malformed_files_are_rejected_by_name(tmp_path, change, message):
    values = change.pop("values", np.ones((2, 3)))
    path = _write(tmp_path / "bad.h5", values, **change)
    with pytest.raises(FileFormatError, match=message) as err:
        read_schumann_spectra(path)
    assert "bad.h5" in str(err.value)
    not_hdf = tmp_path / "text.h5"
    not_hdf.write_text("no")
    with pytest.raises(FileFormatError, match="not a readable"):
        read_schumann_spectra(not_hdf)
    with pytest.raises(FileFormatError, match="no such file") as err:
        read_schumann_spectra(tmp_path / "missing.h5")
    assert "missing.h5" in str(err.value)
