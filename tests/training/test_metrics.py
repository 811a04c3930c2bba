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


def test_tolerant_scores_forgive_a_one_row_shift_and_find_the_crest():
    from magnetar.training import tolerant_segmentation_metrics

    truth = np.zeros((2, 40, 30), bool)  # (night, frequency, time)
    truth[:, 10:15] = True  # a 5-row fringe, centre row 12
    shifted = np.roll(truth, 1, axis=1)
    m = tolerant_segmentation_metrics(truth, shifted, rows=(1, 2), axis=1)
    # pixel precision/recall are 4/5; one row of tolerance forgives the shift entirely
    assert m["precision_rows1"] == 1.0
    assert m["recall_rows1"] == 1.0
    assert m["f1_rows2"] == 1.0
    crest = np.zeros_like(truth)
    crest[:, 12] = True
    m = tolerant_segmentation_metrics(truth, crest, rows=(1, 2), axis=1)
    assert m["centre_line_recall"] == 1.0
    assert m["precision_rows1"] == 1.0
    assert m["recall_rows1"] == pytest.approx(3 / 5)  # rows 11-13 lie within one row
    assert m["recall_rows2"] == 1.0
    far = np.roll(truth, 3, axis=1)  # rows 13-17: the crest (12) is missed
    m = tolerant_segmentation_metrics(truth, far, rows=(2,), axis=1)
    assert m["centre_line_recall"] == 0.0
    assert m["precision_rows2"] == pytest.approx(4 / 5)  # row 17 is 3 rows from row 14
    assert tolerant_segmentation_metrics(truth[:0], far[:0])["f1_rows2"] == 1.0
