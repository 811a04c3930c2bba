"""The review test's statistic: departure from a learnt two-sided interpolation."""

import numpy as np
import pytest

from magnetar.errors import ValidationError
from magnetar.processing._interpolation import interpolation_z
from magnetar.processing._peer import spike_statistic


def _entries(width, times):
    times = np.asarray(times)
    zeros = np.zeros(times.size, dtype=np.int64)
    return (np.full(times.size, width - 1), zeros, zeros, times)


def _shrink(width, order=6, window=121):
    """sqrt((1 + p/n) / (1 - p/n)): an out-of-fit departure over the in-fit residuals' sigma.

    ``p`` coefficients fitted on ``n`` rows (the window less the rows touching the
    candidate): in-fit residuals have variance sigma^2 (1 - p/n), a new row's departure
    sigma^2 (1 + p/n).
    """
    p = 2 * order + 1
    n = window - (2 * (width - 1) + 2 * order + 1)
    return np.sqrt(1 + p / n), np.sqrt(1 - p / n)


def test_white_noise_departs_by_its_own_sigma():
    # the best interpolator of white noise is its mean: each departure is the sample's own
    # noise, so z is |N(0, 1)| (median 0.674) up to the fit's degrees of freedom
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 3.0, (1, 1, 20000))
    out_of_fit, in_fit = _shrink(1)
    z = interpolation_z(x, _entries(1, np.arange(200, 19800, 37)))
    assert np.median(z) == pytest.approx(0.674 * out_of_fit / in_fit, rel=0.1)
    assert np.mean(z > 4) < 0.005


@pytest.mark.parametrize("width", [1, 2, 3])
def test_a_spike_departs_by_its_amplitude(width):
    # a spike of amplitude A over exactly the candidate's samples departs by A; the
    # candidate's target (a mean of `width` samples) has noise sigma / sqrt(width); median
    # over 20 noise draws
    z = []
    for seed in range(20):
        x = np.random.default_rng(seed).normal(0.0, 1.0, (1, 1, 4000))
        x[..., 2000:2000 + width] += 10.0
        z.append(interpolation_z(x, _entries(width, [2000]))[0])
    expected = 10.0 * np.sqrt(width) / _shrink(width)[1]
    assert np.median(z) == pytest.approx(expected, rel=0.12)


def test_a_spike_on_an_oscillation_the_flank_test_cannot_see():
    # a fast oscillation (6.3-sample period, 30 nT) is predicted exactly by a two-sided
    # interpolator (x[t+1] + x[t-1] = 2 cos(w) x[t]) but not by a line through 3 samples a
    # side: the spike fails the flank shape test and stands out here
    rng = np.random.default_rng(3)
    t = np.arange(3000)
    x = 30 * np.sin(2 * np.pi * t / 6.3) + rng.normal(0.0, 0.3, t.size)
    x[1500:1502] += 20.0
    d, e = spike_statistic(x, max_width=2, flank=3)
    assert abs(d[1, 1500]) < 5 * e[1, 1500]  # the shape test fails
    z = interpolation_z(x[None, None], _entries(2, [1500, 700, 1100, 2200]))
    assert z[0] > 20
    assert (z[1:] < 4).all()


def test_incomplete_candidates_give_zero_and_bad_options_are_refused():
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 1.0, (1, 1, 1000))
    x[..., 500:502] += 50.0
    x[..., 501] = np.nan  # the candidate itself incomplete: no judgement
    assert interpolation_z(x, _entries(2, [500]))[0] == 0.0
    x = rng.normal(0.0, 1.0, (1, 1, 30))  # too few rows for 13 coefficients
    assert interpolation_z(x, _entries(1, [15]))[0] == 0.0
    with pytest.raises(ValidationError, match="order >= 1"):
        interpolation_z(x, _entries(1, [15]), order=0)
