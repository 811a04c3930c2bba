import numpy as np
import pytest
import xarray as xr

from magnetar.processing import peak_detection_mask, resonance_parameters
from magnetar.synthetic import IARConfig, synthetic_iar_night
from magnetar.training import segmentation_metrics


def _comb(delta_f=0.4, phi=0.7, n_time=60, snr=8.0):
    f = np.arange(0.5, 10, 0.0244)
    centres = (np.arange(8)[:, None] + phi) * delta_f
    expected = np.log10(1 + snr * np.sum(1 / (1 + ((f[None, :] - centres) / 0.05) ** 2),
                                         axis=0))
    values = np.tile(expected[:, None], (1, n_time)) - 6
    truth = np.min(np.abs(f[None, :] - centres), axis=0)[:, None] <= 0.05
    coords = {"frequency": f, "time": np.arange(n_time)}
    return (xr.DataArray(values, dims=("frequency", "time"), coords=coords),
            xr.DataArray(np.tile(truth, (1, n_time)).astype(np.uint8),
                         dims=("frequency", "time"), coords=coords))


def test_baseline_finds_a_clean_comb():
    spec, truth = _comb()
    found = peak_detection_mask(spec, peak_halfwidth_hz=0.05)
    assert segmentation_metrics(truth.values, found.values)["iou"] > 0.7


def test_spacing_from_masks_matches_the_truth():
    spec, truth = _comb(delta_f=0.37)
    params = resonance_parameters(truth)
    np.testing.assert_allclose(params.delta_f.values, 0.37, atol=0.005)
    np.testing.assert_allclose(params.fringe_frequency.values[:3, 0],
                               (np.arange(1, 4) + 0.7) * 0.37, atol=0.02)  # f_0 < 0.5 Hz
    night = synthetic_iar_night(IARConfig(families=(0, 0)), seed=3)  # one comb
    p = resonance_parameters(night.mask)
    ok = np.isfinite(p.delta_f.values) & np.isfinite(night.delta_f.values)
    assert ok.sum() > 100
    assert np.median(np.abs(p.delta_f.values[ok] - night.delta_f.values[ok])) < 0.01


def test_segmentation_metrics_by_hand():
    t = np.array([1, 1, 0, 0, 1], bool)
    p = np.array([1, 0, 1, 0, 1], bool)
    m = segmentation_metrics(t, p)
    assert m["iou"] == 2 / 4
    assert m["dice"] == 4 / 6
    assert m["precision"] == 2 / 3
    assert m["recall"] == 2 / 3
    assert m["false_positive_fraction"] == 0.2
    assert segmentation_metrics(np.zeros(4), np.zeros(4))["iou"] == 1.0


def test_comb_spacing_needs_only_some_teeth_of_the_comb():
    from magnetar.processing import comb_spacing

    d, f0 = 0.3137, 0.71
    teeth = f0 + d * np.array([0, 1, 3, 4, 7])  # orders 2, 5 and 6 faded
    assert comb_spacing(teeth) == pytest.approx(d, abs=1e-9)  # least squares: exact
    assert comb_spacing(teeth[:2]) == pytest.approx(d, abs=1e-9)
    # the old autocorrelation estimator's failure: a comb seen through two far teeth
    # is that far apart, by construction: neighbours are needed to see the spacing
    assert comb_spacing(teeth[[0, 2]]) == pytest.approx(3 * d, abs=1e-9)
    assert np.isnan(comb_spacing([1.0]))
    assert np.isnan(comb_spacing([1.0, 1.05]))  # closer than any spacing searched
