import numpy as np
import pytest

from magnetar.processing._coincidence import (
    FLAG_INTERPOLATED,
    FLAG_KEPT,
    FLAG_MISSING,
    FLAG_REPLACED,
    classify_events,
    detect_runs,
    replace_interference,
)


def test_detect_runs():
    mask = np.zeros((1, 2, 10), dtype=bool)
    mask[0, 0, [1, 2, 3, 7]] = True
    mask[0, 1, 9] = True
    c, s, a, b = detect_runs(mask)
    assert list(zip(s, a, b, strict=False)) == [(0, 1, 4), (0, 7, 8), (1, 9, 10)]


def _hp(n_st=3, n=100):
    return np.zeros((1, n_st, n)), np.ones((1, n_st))


def test_single_station_is_interference_shared_is_natural():
    hp, sigma = _hp()
    hp[0, 0, 10] = 10  # one station
    hp[0, 0, 50] = hp[0, 1, 51] = 10  # two stations, 1 sample apart
    exceed, ev = classify_events(hp, sigma, k=3, min_stations=2, tolerance=1)
    assert list(ev.klass) == ["interference", "natural", "natural"]
    assert list(ev.n_seen) == [1, 2, 2]
    assert ev.multiple[0] == pytest.approx(10)


def test_tolerance_and_min_stations():
    hp, sigma = _hp()
    hp[0, 0, 50] = hp[0, 1, 53] = 10
    _, ev = classify_events(hp, sigma, k=3, tolerance=1)
    assert set(ev.klass) == {"interference"}
    _, ev = classify_events(hp, sigma, k=3, tolerance=3)
    assert set(ev.klass) == {"natural"}
    _, ev = classify_events(hp, sigma, k=3, tolerance=3, min_stations=3)
    assert set(ev.klass) == {"interference"}


def test_undetermined_when_peers_have_no_data():
    hp, sigma = _hp(n_st=2)
    hp[0, 1, :] = np.nan
    hp[0, 0, 20] = 10
    _, ev = classify_events(hp, sigma, k=3)
    assert list(ev.klass) == ["undetermined"]


def test_amplitude_ratio_rejects_small_witness():
    hp, sigma = _hp(n_st=2)
    hp[0, 0, 30] = 100
    hp[0, 1, 30] = 4
    _, ev = classify_events(hp, sigma, k=3, amplitude_ratio=4)
    assert ev.klass[0] == "interference"


def test_replacement_is_own_slow_plus_peer_median():
    n = 20
    x = np.zeros((1, 4, n))
    hp = np.zeros((1, 4, n))
    hp[0, 1, 5], hp[0, 2, 5], hp[0, 3, 5] = 1.0, 2.0, 30.0
    slow = np.full((1, 4, n), 100.0)
    mask = np.zeros((1, 4, n), dtype=bool)
    mask[0, 0, 5] = True
    gains = np.ones((1, 4, 4))
    cleaned, flags = replace_interference(x, hp, slow, mask, gains)
    assert cleaned[0, 0, 5] == pytest.approx(102.0)  # 100 + median(1, 2, 30)
    assert flags[0, 0, 5] == FLAG_REPLACED
    assert (flags[0, 1:] == FLAG_KEPT).all()


def test_interpolation_when_no_clean_peer_and_missing_flag():
    x = np.array([[[0.0, 1.0, 50.0, 3.0, np.nan], [0.0, 0.0, 0.0, 0.0, 0.0]]])
    hp = x.copy()
    mask = np.zeros(x.shape, dtype=bool)
    mask[0, 0, 2] = True
    mask[0, 1, 2] = True  # the peer is itself being replaced
    cleaned, flags = replace_interference(x, hp, x.copy(), mask, np.ones((1, 2, 2)))
    assert cleaned[0, 0, 2] == pytest.approx(2.0)
    assert flags[0, 0, 2] == FLAG_INTERPOLATED
    assert flags[0, 0, 4] == FLAG_MISSING
