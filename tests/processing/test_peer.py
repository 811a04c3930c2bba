"""The peer rule's kernels against analytic answers and synthetic ground truth."""

import numpy as np
import pytest

from magnetar.errors import ValidationError
from magnetar.processing._peer import (
    peer_events,
    peer_prediction,
    robust_sigma,
    spike_statistic,
)
from magnetar.workflows.cleaning import CleaningConfig


@pytest.mark.parametrize("width", [1, 2, 3])
def test_spike_on_a_line_is_measured_exactly(width):
    t = np.arange(200, dtype=float)
    x = 3.0 + 0.7 * t
    x[100:100 + width] += 25.0
    d, e = spike_statistic(x[None], max_width=3, flank=3, degree=1)
    assert d[width - 1, 0, 100] == pytest.approx(25.0, abs=1e-9)
    assert e[width - 1, 0, 100] == pytest.approx(0.0, abs=1e-9)
    # far from the spike a line has no departure and no misfit
    np.testing.assert_allclose(d[:, 0, 10:90], 0.0, atol=1e-9)
    np.testing.assert_allclose(e[:, 0, 10:90], 0.0, atol=1e-9)


def test_a_step_is_not_a_spike():
    x = np.r_[np.zeros(100), np.full(100, 50.0)]  # a sudden level change (natural, SSC-like)
    d, e = spike_statistic(x[None], max_width=3, flank=3)
    ratio = np.abs(d[:, 0, 90:110]) / np.maximum(e[:, 0, 90:110], 1e-12)
    # the flanks disagree, so |D| stays well under the default shape_factor (5) times E
    assert np.nanmax(ratio) < 0.7 * CleaningConfig().shape_factor


def test_spike_statistic_refuses_bad_options():
    with pytest.raises(ValidationError, match="2 \\* flank > degree \\+ 1"):
        spike_statistic(np.zeros((1, 10)), flank=1, degree=1)


def test_mad_sigma_is_robust_to_dense_spikes():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 2.0, (1, 20000))
    spiky = x.copy()
    spiky[0, ::20] += 200.0  # a spike every 20 samples
    spiky[0, 1::20] -= 150.0
    sigma, local = robust_sigma(spiky, window=121)
    assert sigma[0] == pytest.approx(2.0, rel=0.2)
    assert np.std(spiky) > 10 * 2.0  # a plain std is ruined
    assert np.nanmedian(local) == pytest.approx(2.0, rel=0.2)
    with pytest.raises(ValidationError, match="at least 3"):
        robust_sigma(x, window=1)


def test_peer_prediction_recovers_a_lagged_gain():
    rng = np.random.default_rng(2)
    n = 3000
    common = np.convolve(rng.normal(0, 5, n + 20), np.ones(9) / 9, mode="same")
    a = common[10:10 + n]
    b = 0.8 * common[9:9 + n]  # b sees the same field one sample later at 0.8 of the amplitude
    hp = np.stack([np.stack([a, b])]) + rng.normal(0, 0.05, (1, 2, n))
    pred = peer_prediction(hp, lags=2, block=1000)
    resid = hp - pred
    assert np.std(resid[0, 1]) < 0.1 * np.std(hp[0, 1])
    assert np.std(resid[0, 0]) < 0.1 * np.std(hp[0, 0])


def test_one_station_spike_replaced_common_pulse_kept():
    rng = np.random.default_rng(3)
    n = 4000
    common = np.convolve(rng.normal(0, 3, n), np.ones(15) / 15, mode="same")
    hp = np.stack([np.stack([common, 0.9 * common, 1.1 * common])])
    hp = hp + rng.normal(0, 0.2, hp.shape)
    spikes = [500, 1300, 2100, 2900]
    for t in spikes:
        hp[0, 1, t:t + 2] += 15.0  # one station: interference
    hp[0, :, 3500:3502] += np.array([12.0, 10.0, 13.0])[:, None]  # all stations: natural
    found = peer_events(hp, block=1000)
    for t in spikes:
        assert found["replace"][0, 1, t:t + 2].all()
    assert not found["replace"][0, :, 3495:3510].any()
    assert not found["replace"][0, 0].any()
    assert not found["replace"][0, 2].any()
    classes = found["events"].klass
    assert (classes == "interference").sum() == len(spikes)
    assert "natural" in set(classes)


def test_peer_events_refuses_nan_threshold():
    with pytest.raises(ValidationError, match="k must be a positive finite number"):
        peer_events(np.zeros((1, 2, 100)), k=float("nan"))
