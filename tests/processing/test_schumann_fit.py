import numpy as np
import pytest
import xarray as xr

from magnetar.errors import ValidationError
from magnetar.processing import fit_schumann, schumann_model

MODES = [(7.9, 2.0, 10.0), (14.2, 3.0, 6.0), (20.5, 4.0, 4.0)]
FREQUENCY = np.arange(5.0, 24.0, 0.125)


def _spectra(modes=MODES, background=-6.0, alpha=1.3, f=FREQUENCY):
    psd = schumann_model(f, background, alpha, modes)
    return xr.DataArray(np.stack([psd, 2 * psd]), dims=("interval", "frequency"),
                        coords={"frequency": f})


def test_model_peaks_snr_db_above_the_background_at_each_centre():
    f = np.array([7.9])
    one = schumann_model(f, -6.0, 1.3, [MODES[0]])
    background = 10**-6.0 * 7.9**-1.3
    assert 10 * np.log10(one[0] / background - 1) == pytest.approx(10.0)


def test_fit_recovers_the_parameters_of_an_exact_spectrum():
    fit = fit_schumann(_spectra())
    assert fit["schumann_hz"].values == pytest.approx([7.9, 7.9], abs=1e-3)
    assert fit["schumann_fwhm"].values == pytest.approx([2.0, 2.0], abs=1e-3)
    assert fit["schumann_snr_db"].values == pytest.approx([10.0, 10.0], abs=0.01)
    assert fit["alpha"].values == pytest.approx([1.3, 1.3], abs=1e-3)
    # the second spectrum is twice the first: log10(2) more background, same shape
    assert fit["background"].values == pytest.approx([-6.0, -6.0 + np.log10(2)], abs=1e-3)
    np.testing.assert_allclose(fit["mode_hz"].values[0], [7.9, 14.2, 20.5], atol=1e-3)
    assert float(fit["residual_db"].max()) < 1e-3
    # model-free contrast: highest PSD in 6.5-9.5 Hz over the PSD at 5 Hz
    f = np.arange(5.0, 24.0, 0.125)
    psd = schumann_model(f, -6.0, 1.3, MODES)
    first = (f >= 6.5) & (f <= 9.5)
    assert float(fit["contrast_db"][0]) == pytest.approx(10 * np.log10(psd[first].max() / psd[0]))


def test_one_mode_fit_and_bad_options():
    f = np.arange(5.0, 12.0, 0.05)
    fit = fit_schumann(_spectra([MODES[0]], f=f), band=(5.0, 12.0), modes=1)
    assert fit["schumann_hz"].values == pytest.approx([7.9, 7.9], abs=1e-3)
    assert fit.sizes["mode"] == 1
    with pytest.raises(ValidationError, match="modes"):
        fit_schumann(_spectra(), modes=4)
    with pytest.raises(ValidationError, match="too few"):
        fit_schumann(_spectra(), band=(5.0, 5.5))
    with pytest.raises(ValidationError, match="frequency"):
        fit_schumann(np.ones(10))


def test_real_mikhnevo_spectra_show_the_known_modes(registered):
    from magnetar.io import read_schumann_spectra

    psd = read_schumann_spectra(registered("timeseries/mikhnevo_schumann_spectra.h5"))
    assert psd.sizes == {"interval": 120, "frequency": 280}
    fit = fit_schumann(psd)
    modes = np.nanmedian(fit["mode_hz"].values, axis=0)
    # the Earth-ionosphere cavity's first three modes: about 7.8, 14 and 20 Hz
    assert 7.6 < modes[0] < 8.2
    assert 13.5 < modes[1] < 14.8
    assert 19.5 < modes[2] < 21.5
    assert 1.0 < float(fit["schumann_fwhm"].median()) < 3.0
    assert float(fit["residual_db"].median()) < 1.0
