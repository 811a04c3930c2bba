import numpy as np
import pytest
import xarray as xr

from magnetar.errors import ValidationError
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


@pytest.mark.parametrize("extra", [0.5, 0.37, 0.81])
def test_comb_spacing_ignores_a_fringe_on_no_tooth(extra):
    from magnetar.processing import comb_spacing

    d, f0 = 0.93, 1.45
    teeth = f0 + d * np.arange(6)
    # a false fringe or another family's, here between the first two teeth: every
    # fringe is a whole multiple of d / 2 (or of a smaller fraction), yet the comb is d
    seen = np.r_[f0 + extra * d, teeth]
    assert comb_spacing(seen) == pytest.approx(d, abs=1e-9)  # least squares on its teeth


def test_comb_spacing_keeps_every_fringe_when_a_tooth_fades():
    from magnetar.processing import comb_spacing

    # orders 0, 1, 2 and 4 seen: twice the spacing would explain three of the four and
    # leave one out; the spacing explains all four with one tooth faded
    d = 0.5
    assert comb_spacing(1.0 + d * np.array([0, 1, 2, 4])) == pytest.approx(d, abs=1e-9)
    # jittered centres within the tolerance still give the least-squares spacing
    rng = np.random.default_rng(3)
    orders = np.arange(8)
    centres = 0.6 + 0.31 * orders + rng.uniform(-0.01, 0.01, 8)
    assert comb_spacing(centres) == pytest.approx(np.polyfit(orders, centres, 1)[0], abs=1e-12)


def test_comb_spacing_refuses_probabilities_outside_zero_one():
    from magnetar.processing import comb_spacing

    with pytest.raises(ValidationError, match="seen must lie strictly between 0 and 1"):
        comb_spacing([1.0, 2.0], seen=1.0)
    with pytest.raises(ValidationError, match="outlier"):
        comb_spacing([1.0, 2.0], outlier=0.0)


def test_comb_spacing_of_two_families_is_the_larger_familys():
    from magnetar.processing import comb_spacing

    main = 1.0 + 0.5 * np.arange(8)  # eight teeth
    family = 1.2 + 0.73 * np.arange(3)  # a sporadic second family, off the main teeth
    assert comb_spacing(np.r_[main, family]) == pytest.approx(0.5, abs=1e-9)
    assert comb_spacing(family) == pytest.approx(0.73, abs=1e-9)  # alone, its own spacing
