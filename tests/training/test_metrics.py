import numpy as np
import pytest
from scipy import stats

from magnetar.errors import ValidationError
from magnetar.training import kl_divergence, mae, psnr, rmse, ssim, wasserstein


def test_analytic_values():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    e = t + np.array([1.0, -1.0, 1.0, -1.0])
    assert mae(t, e) == 1.0
    assert rmse(t, e) == 1.0
    assert psnr(t, e) == pytest.approx(10 * np.log10(9.0))
    # a shifted distribution: Wasserstein is the shift; identical ones: KL = 0
    assert wasserstein(t, t + 5.0) == pytest.approx(5.0)
    assert kl_divergence(t, t) == pytest.approx(0.0, abs=1e-8)
    assert mae([1.0, np.nan], [2.0, 5.0]) == 1.0  # NaN pairs ignored


def test_kl_of_two_gaussians_matches_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 400_000)
    b = rng.normal(0.5, 1, 400_000)
    # KL(N(0,1) || N(0.5,1)) = 0.125
    assert kl_divergence(a, b, bins=80) == pytest.approx(0.125, abs=0.01)
    assert wasserstein(a, b) == pytest.approx(stats.wasserstein_distance(a, b))


def test_ssim_is_one_for_identical_tiles_and_lower_for_noise():
    pytest.importorskip("skimage")
    rng = np.random.default_rng(1)
    tile = np.add.outer(np.sin(np.linspace(0, 6, 32)), np.cos(np.linspace(0, 4, 32)))
    assert ssim(tile, tile) == pytest.approx(1.0)
    assert ssim(tile, tile + rng.normal(0, 0.5, tile.shape)) < 0.8
    with pytest.raises(ValidationError, match="shape"):
        mae(np.zeros(3), np.zeros(4))
