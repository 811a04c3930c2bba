import numpy as np
import pytest

from magnetar.processing import rolling_std
from magnetar.processing._noise import noise_sigma_array


def test_rolling_std_matches_brute_force(rng):
    x = rng.normal(5, 2, 500)
    x[100] = np.nan
    out = rolling_std(x, 20)
    for i in (19, 50, 99, 130, 499):
        window = x[i - 19:i + 1]
        expected = np.std(window) if np.isfinite(window).all() else np.nan
        np.testing.assert_allclose(out[i], expected, rtol=1e-9)
    assert np.isnan(out[:19]).all()


def test_sigma_of_gaussian_noise(rng):
    x = rng.normal(0, 0.3, (2, 50000))
    sigma = noise_sigma_array(x, window=200, trim=0.3)
    # median of window standard deviations of N(0, s) is s within a fraction of a percent
    np.testing.assert_allclose(sigma, 0.3, rtol=0.02)


def test_sigma_ignores_sparse_spikes(rng):
    x = rng.normal(0, 1.0, 50000)
    x[::5000] += 500.0  # 10 huge spikes: 4 % of windows touched
    assert noise_sigma_array(x) == pytest.approx(1.0, rel=0.03)


def test_trimmed_mean_option(rng):
    x = rng.normal(0, 2.0, 30000)
    assert noise_sigma_array(x, statistic="mean") == pytest.approx(2.0, rel=0.03)
