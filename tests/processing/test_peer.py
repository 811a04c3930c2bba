"""The peer rule's kernels against analytic answers and synthetic ground truth."""

import numpy as np
import pytest

from magnetar.errors import ValidationError
from magnetar.processing._peer import (
    Periods,
    choose_peers,
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


def test_spike_under_a_peers_unshaped_activity_is_flagged_not_replaced_nor_kept():
    # two stations with independent noise (an incoherent, auroral-like network): the peer
    # predicts nothing, so the decision rests on what the peer shows at the spike's time
    rng = np.random.default_rng(4)
    n, t0, t1 = 3000, 1200, 2200
    hp = rng.normal(0, 0.2, (1, 2, n))
    hp[0, 0, t0] += 15.0  # station 0: a one-sample spike while the peer is active ...
    hp[0, 0, t1] += 15.0  # ... and one while the peer is quiet
    apex = 20.0 * (1 - np.abs(np.arange(-6, 7)) / 6)  # the peer: a turning point, no spike
    hp[0, 1, t0 - 6:t0 + 7] += apex
    # the premise, from the statistic itself: the peer's feature is as strong as a quarter
    # of the spike but not spike-shaped (|D| < 3 E at every width)
    d, e = spike_statistic(hp[0, 1][None], max_width=3, flank=3)
    assert np.abs(d[0, 0, t0]) > 15.0 / 4
    assert (np.abs(d[:, 0, t0 - 1:t0 + 2]) < 3.0 * e[:, 0, t0 - 1:t0 + 2]).all()
    found = peer_events(hp, block=1000)
    assert found["replace"][0, 0, t1]
    assert not found["flagged"][0, 0, t1]
    assert found["flagged"][0, 0, t0]
    assert not found["replace"][0, 0, t0]
    # without the shape test on the peer, its activity "confirms" the spike: kept as natural
    found = peer_events(hp, block=1000, peer_shape=0.0)
    assert not found["replace"][0, 0, t0]
    assert not found["flagged"][0, 0, t0]
    assert found["replace"][0, 0, t1]
    with pytest.raises(ValidationError, match="peer_shape"):
        peer_events(hp, peer_shape=float("nan"))


def test_review_flags_a_spike_on_local_activity_the_shape_test_misses():
    # station 0 carries a burst of fast local activity (a 6.3-sample oscillation, absent
    # at the peer) with a 2-sample spike on it: the flanks oscillate, so the spike fails the
    # flank shape test; its departure from the station's learnt interpolation does not.
    # Reviewed, it is flagged, never replaced; no replacement changes.
    rng = np.random.default_rng(5)
    n, t0 = 4000, 2000
    common = np.convolve(rng.normal(0, 3, n), np.ones(15) / 15, mode="same")
    hp = np.stack([np.stack([common, 0.9 * common])]) + rng.normal(0, 0.2, (1, 2, n))
    burst = slice(t0 - 150, t0 + 150)
    hp[0, 0, burst] += 12 * np.sin(2 * np.pi * np.arange(300) / 6.3) * np.hanning(300)
    hp[0, 0, t0:t0 + 2] += 20.0
    d, e = spike_statistic(hp[0, 0], max_width=2, flank=3)
    assert abs(d[1, t0]) < 5 * e[1, t0]  # the premise: the shape test cannot see it
    plain = peer_events(hp, block=1000, review=False)
    assert not (plain["replace"] | plain["flagged"])[0, 0, t0 - 1:t0 + 3].any()
    found = peer_events(hp, block=1000)
    assert found["flagged"][0, 0, t0:t0 + 2].any()
    np.testing.assert_array_equal(found["replace"], plain["replace"])
    events = found["events"]
    at_spike = (events.station == 0) & (events.start <= t0 + 1) & (events.stop > t0)
    assert set(events.klass[at_spike]) == {"undetermined"}


def test_peer_events_refuses_nan_threshold():
    with pytest.raises(ValidationError, match="k must be a positive finite number"):
        peer_events(np.zeros((1, 2, 100)), k=float("nan"))


def test_periods_follow_utc_days_and_blocks_restart_at_each():
    times = np.datetime64("2024-03-01T12:00") + np.arange(36) * np.timedelta64(1, "h")
    periods = Periods.from_times(times, 86400)
    np.testing.assert_array_equal(periods.starts, [0, 12])  # 12:00 .. 23:00, then day 2
    assert periods.labels[1] - periods.labels[0] == 1
    bounds, period, offset = periods.blocks(36, 5)
    # day 1: 12 samples in blocks of 5 (5, 5, 2); day 2: 24 samples (5, 5, 5, 5, 4)
    np.testing.assert_array_equal(bounds[:, 1] - bounds[:, 0], [5, 5, 2, 5, 5, 5, 5, 4])
    np.testing.assert_array_equal(period, [0, 0, 0, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(offset, [0, 5, 10, 0, 5, 10, 15, 20])
    # a period that began before the array keeps its blocks aligned to its true start
    late = Periods(np.array([-7, 10]), np.array([0, 1]))
    bounds, _, offset = late.blocks(20, 5)
    np.testing.assert_array_equal(bounds[:2], [[0, 3], [3, 8]])
    np.testing.assert_array_equal(offset[:2], [5, 10])


def test_per_period_sigma_follows_each_days_noise():
    rng = np.random.default_rng(0)
    day = 20000
    x = np.r_[rng.normal(0, 1.0, day), rng.normal(0, 3.0, day)][None, None]
    times = np.datetime64("2024-03-01") + np.arange(2 * day) * np.timedelta64(4320, "ms")
    found = peer_events(np.repeat(x, 2, axis=1), periods=Periods.from_times(times, 86400),
                        block=5000)
    sigma = found["stats"]["sigma_own"]
    first, second = sorted(sigma)
    # the spike statistic's sigma scales with the noise: three times larger on day two
    assert np.all(np.abs(sigma[second] / sigma[first] - 3.0) < 0.2)  # seeds 0-5: within 0.14


def test_choose_peers_keeps_the_stations_that_share_the_signal():
    rng = np.random.default_rng(1)
    common = rng.normal(0, 5, 3000)
    series = [common + rng.normal(0, 1, 3000) for _ in range(4)]
    series += [rng.normal(0, 5, 3000) for _ in range(2)]  # two unrelated stations
    hp = np.array(series)[None]
    peers = choose_peers(hp, max_peers=3)[0]
    for s in range(4):
        assert set(peers[s]) == set(range(4)) - {s}


def test_prediction_from_stored_coefficients_is_identical():
    rng = np.random.default_rng(2)
    hp = rng.normal(0, 1, (2, 3, 1200))
    hp[:, 1] += 0.8 * hp[:, 0]
    cache = {}
    first = peer_prediction(hp, block=400, coefficients=cache)
    assert len(cache) == 3 * 3 * 2  # blocks x stations x components
    stored = {key: value.copy() for key, value in cache.items()}
    # with every coefficient stored nothing is refitted: scrambling the targets changes nothing
    again = peer_prediction(hp, block=400, coefficients=stored, n_iter=0)
    np.testing.assert_array_equal(first, again)
    only_near = peer_prediction(hp, block=400, fit_range=(0, 300))
    assert np.isnan(only_near[:, :, 400:]).all()
    assert np.isfinite(only_near[:, :, :400]).all()


def test_sparse_flank_misfit_equals_the_filtered_one():
    from magnetar.processing._peer import _misfit_at

    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (2, 3, 400)).cumsum(axis=-1)
    x[1, 2, 150:153] = np.nan  # a gap: E is NaN wherever the kernel reaches it
    d, e = spike_statistic(x, max_width=3, flank=3, degree=1)
    index = tuple(a.ravel() for a in np.indices(e.shape))  # every entry, edges included
    got = _misfit_at(x, index, flank=3, degree=1).reshape(e.shape)
    np.testing.assert_allclose(got, e, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(e))


def test_lazy_own_statistic_equals_the_filtered_one_per_period():
    from magnetar.processing._peer import Periods, _OwnStatistic

    rng = np.random.default_rng(11)
    x = rng.normal(0, 1, (2, 3, 400)).cumsum(axis=-1)
    x[1, 2, 150:153] = np.nan  # a gap: D is NaN there, z reads 0
    d, _ = spike_statistic(x, max_width=3, flank=3, degree=1)
    periods = Periods(np.array([0, 250]), np.array([7, 8]))  # two periods, own sigmas
    sigma = rng.uniform(0.5, 2.0, (3, 2, 3, 2))  # (width, component, station, period)
    expected = np.abs(d) / np.where(np.arange(400) < 250, sigma[..., :1], sigma[..., 1:])
    own = _OwnStatistic(x, sigma, periods, {"max_width": 3, "flank": 3, "degree": 1})
    index = np.ix_(np.arange(3), np.arange(2), np.arange(3), np.arange(400))
    np.testing.assert_allclose(own[index], np.nan_to_num(expected), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(own.departure(index), np.abs(d), rtol=1e-10, atol=1e-12,
                               equal_nan=True)


def test_tukey_fits_of_several_series_equal_one_at_a_time():
    from magnetar.processing._peer import _tukey_fits

    rng = np.random.default_rng(8)
    design = np.column_stack([rng.normal(size=(3000, 4)), np.ones(3000)])
    truth = rng.normal(size=(3, 5))
    ys = truth @ design.T + rng.normal(0, 0.1, (3, 3000))
    ys[0, ::50] += 40.0  # outliers the biweight must ignore
    ys[2, 100:140] = np.nan  # another missing pattern: fitted in its own group
    rows = design.__getitem__
    together = _tukey_fits(rows, 5, ys, 3, 1000)
    for i in range(3):
        np.testing.assert_allclose(together[i], _tukey_fits(rows, 5, ys[i:i + 1], 3, 1000)[0],
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(together[i], truth[i], atol=0.02)


def test_lag_design_and_prediction_shift_the_peers_with_zeros_beyond_the_record():
    from magnetar.processing._peer import _lag_design, _lag_predict, _padded_regressors

    rng = np.random.default_rng(10)
    source = rng.normal(size=(2, 4, 50))  # (component, station, time)
    mine, lags, reach = [0, 2, 3], [-2, -1, 0, 1, 2], 2
    for lo, hi in ((0, 20), (20, 40), (40, 50)):  # first, inner and last block
        padded = _padded_regressors(source, mine, lo, hi, reach)
        series = source[:, mine].reshape(6, 50)
        direct = np.zeros((hi - lo, 6 * 5 + 1))  # column (lag, r): series r at t - lag
        for i, t in enumerate(range(lo, hi)):
            for j, lag in enumerate(lags):
                if 0 <= t - lag < 50:
                    direct[i, j * 6:(j + 1) * 6] = series[:, t - lag]
        direct[:, -1] = 1.0
        rows = np.arange(hi - lo)
        np.testing.assert_array_equal(_lag_design(padded, lags, rows, reach=reach), direct)
        coefs = rng.normal(size=(3, 31))
        np.testing.assert_allclose(_lag_predict(padded, lags, coefs, hi - lo, reach),
                                   coefs @ direct.T, rtol=1e-12, atol=1e-12)


def test_block_mad_of_consecutive_blocks_equals_the_gathered_one():
    from magnetar.processing._peer import _block_mad_sigma

    rng = np.random.default_rng(9)
    x = rng.standard_t(3, (2, 1000))
    x[0, 500] = np.nan
    window = 121
    regular, _, _ = Periods.single().blocks(1000, window)
    shifted, _, _ = Periods(np.array([-5, 600]), np.array([0, 1])).blocks(1000, window)
    for bounds in (regular, shifted):  # the view path, and blocks that restart mid-record
        expected = np.array([[np.nan if not np.isfinite(row[lo:hi]).all() else
                              1.482602218505602 * np.median(np.abs(row[lo:hi]
                                                                   - np.median(row[lo:hi])))
                              for lo, hi in bounds] for row in x.astype(np.float32)])
        got = _block_mad_sigma(x, bounds, window)
        finite = np.isfinite(expected)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-6)
        # a block with a gap: the MAD of its finite samples
        assert np.isfinite(got[~finite]).all()


def test_median_at_masked_samples_equals_the_running_median_there():
    from scipy import ndimage

    from magnetar.processing._peer import _median_at

    rng = np.random.default_rng(10)
    x = rng.normal(0, 1, (2, 3, 300))
    x[0, 1, 40:43] = np.nan
    mask = rng.random(x.shape) < 0.1
    mask[:, :, :3] = True  # the ends: extended, as mode="nearest"
    got = _median_at(x, mask, 7)
    full = ndimage.median_filter(np.nan_to_num(x), size=(1, 1, 7), mode="nearest")
    expected = np.where(mask, np.where(np.isfinite(x), full, np.nan), x)
    np.testing.assert_array_equal(got, expected)


def test_period_slices_and_positions_of_periods_starting_before_and_inside_the_array():
    cases = {  # starts -> expected (period, lo, hi) in an array of 250 samples
        (0,): [(0, 0, 250)],
        (-50, 30, 200): [(0, 0, 30), (1, 30, 200), (2, 200, 250)],
        (-500, -100, 10): [(1, 0, 10), (2, 10, 250)],  # period 0 ended before the array
        (0, 250): [(0, 0, 250)],  # period 1 begins after it
    }
    for starts, expected in cases.items():
        periods = Periods(np.array(starts), np.arange(len(starts)))
        assert periods.slices(250) == expected
        pos = periods.position(250)
        for p, lo, hi in expected:
            assert (pos[lo:hi] == p).all()


def test_periods_within_a_slice_keep_labels_and_true_block_alignment():
    periods = Periods(np.array([-50, 30, 200]), np.array([7, 8, 9]))
    cut = periods.within(40, 180)  # inside period 8 only
    np.testing.assert_array_equal(cut.labels, [8])
    np.testing.assert_array_equal(cut.starts, [-10])
    both = periods.within(20, 220)  # the end of 7, all of 8, the start of 9
    np.testing.assert_array_equal(both.labels, [7, 8, 9])
    np.testing.assert_array_equal(both.starts, [-70, 10, 180])
    # the blocks of period 8 seen in the slice are its blocks in the whole array, shifted
    whole, period, offset = periods.blocks(250, 25)
    part, p_part, o_part = both.blocks(200, 25)
    np.testing.assert_array_equal(part[p_part == 1] + 20, whole[period == 1])
    np.testing.assert_array_equal(o_part[p_part == 1], offset[period == 1])


def _spiky(seed, shape=(2, 5, 3000)):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, shape).cumsum(axis=-1) * 0.1 + rng.normal(0, 1, shape)
    where = rng.integers(10, shape[-1] - 10, 40)
    x[rng.integers(0, shape[0], 40), rng.integers(0, shape[1], 40), where] += 12.0
    x[1, 3, 500:520] = np.nan  # a gap
    return x


def test_spike_scan_in_station_chunks_equals_the_whole_arrays_rule(monkeypatch):
    from magnetar.processing import _peer

    x = _spiky(3)
    periods = Periods(np.array([-100, 1700]), np.array([4, 5]))
    opts = {"k": 6.0, "shape_factor": 5.0, "max_width": 3, "flank": 3, "degree": 1,
            "window": 121, "trim": 0.3}
    d, e = spike_statistic(x, max_width=3, flank=3, degree=1)  # whole arrays
    sigma = _peer._period_sigma(d, 121, 0.3, periods, local=False)[0]
    per_sample = np.where(np.arange(3000) < 1700, sigma[..., :1], sigma[..., 1:])
    with np.errstate(invalid="ignore"):
        expected = (np.abs(d) > 6.0 * per_sample) & (np.abs(d) > 5.0 * e)
    assert expected.sum() > 30  # most of the 40 spikes, at one width or more
    monkeypatch.setattr(_peer, "_CHUNK", 2 * 3000)  # two stations a chunk, then one
    found_sigma, hits = _peer._scan_spikes(x, periods, opts)
    np.testing.assert_array_equal(found_sigma, sigma)
    np.testing.assert_array_equal(hits, expected)


def test_spikes_use_known_sigmas_where_given_and_estimate_the_others():
    from magnetar.processing._peer import _spikes

    x = _spiky(4)
    periods = Periods(np.array([0, 1500]), np.array([1, 2]))
    opts = {"k": 6.0, "shape_factor": 5.0, "max_width": 3, "flank": 3, "degree": 1,
            "window": 121, "trim": 0.3}
    estimated = {}
    free = _spikes(x, estimated, "s", periods, None, opts)
    assert free[..., :1500].any()
    assert free[..., 1500:].any()
    known = {"s": {1: np.full((3, 2, 5), 1e9)}}  # period 1 silenced, period 2 estimated
    mixed = _spikes(x, known, "s", periods, {2}, opts)
    assert not mixed[..., :1500].any()
    np.testing.assert_array_equal(mixed[..., 1500:], free[..., 1500:])
    np.testing.assert_array_equal(known["s"][2], estimated["s"][2])


def test_is_peak_keeps_the_largest_entry_within_reach():
    from magnetar.processing._peer import _is_peak

    d = np.zeros((2, 30))
    d[0, 10:15] = [1.0, 3.0, 7.0, 4.0, 2.0]  # one feature: 7 at t = 12 is its peak
    d[0, 20] = 5.0  # an isolated entry is its own peak
    d[1, 5:8] = [2.0, 1.0, 6.0]  # 2 at t = 5 lies within 2 samples of 6 at t = 7
    d[1, 25] = np.nan  # a NaN neighbour does not hide a peak
    d[1, 26] = 1.0
    rows = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1])
    t = np.array([10, 11, 12, 13, 14, 20, 5, 7, 26])
    np.testing.assert_array_equal(_is_peak(d, (rows, t), 2),
                                  [False, False, True, False, False, True, False, True, True])


def test_scan_lists_the_peak_of_each_rough_feature_above_k():
    from scipy import ndimage

    from magnetar.processing import _peer

    rng = np.random.default_rng(8)
    n = 3000
    x = rng.normal(0, 1.0, (1, 1, n))
    x[0, 0, 1000:1300] += 15 * np.sin(2 * np.pi * np.arange(300) / 6.3) * np.hanning(300)
    x[0, 0, 2000:2002] += 30.0  # a clean spike: a hit, not rough
    opts = {"k": 6.0, "shape_factor": 5.0, "max_width": 3, "flank": 3, "degree": 1,
            "window": 121, "trim": 0.3}
    rough = []
    sigma, hits = _peer._scan_spikes(x, Periods.single(), opts, rough=rough)
    d, e = spike_statistic(x, max_width=3, flank=3, degree=1)
    a = np.abs(d)
    with np.errstate(invalid="ignore"):
        above = a > 6.0 * sigma[..., :1]
        largest = a >= ndimage.maximum_filter1d(np.nan_to_num(a), 7, axis=-1, mode="nearest")
        expected = above & ~(a > 5.0 * e) & largest
    found = np.zeros_like(expected)
    for part in rough:
        found[part] = True
    assert expected[..., 1000:1300].sum() >= 3  # the premise: the burst has rough features
    np.testing.assert_array_equal(found, expected)
    # the spike's own entry is a hit, not rough (a width-1 entry on its second sample,
    # whose flank holds the first, is rough: the review skips it once the spike is covered)
    assert hits[1, 0, 0, 2000]
    assert not found[1, 0, 0, 2000]


def test_review_skips_candidates_touching_what_is_already_replaced_or_flagged():
    from magnetar.processing._peer import _reviewed

    rng = np.random.default_rng(9)
    n, t0, t1 = 2000, 800, 1200
    resid = rng.normal(0, 1.0, (1, 1, n))
    resid[0, 0, t0:t0 + 2] += 30.0  # far beyond its interpolation
    opts = {"k": 6.0, "max_width": 3, "flank": 3, "window": 121}
    rough = [(np.array([1, 1]), np.array([0, 0]), np.array([0, 0]), np.array([t0, t1]))]
    shape = (3, 1, 1, n)
    covered = np.zeros((1, 1, n), dtype=bool)
    free = _reviewed(resid, rough, shape, opts, covered=covered)
    assert free[1, 0, 0, t0]
    assert free.sum() == 1  # the plain noise at t1 stays under k
    covered[0, 0, t0 + 2] = True  # next to the candidate's two samples, not on them
    np.testing.assert_array_equal(_reviewed(resid, rough, shape, opts, covered=covered), free)
    covered[0, 0, t0 + 1] = True  # on its second sample
    assert _reviewed(resid, rough, shape, opts, covered=covered) is None


def test_peers_shape_is_asked_only_where_it_can_change_the_class():
    from magnetar.processing._peer import _peer_evidence

    rng = np.random.default_rng(10)
    z_own = rng.exponential(3.0, (3, 2, 4, 500))  # (width, component, station, time)
    asked = []

    def shaped_at(index):  # any deterministic shape verdict; records what is asked
        asked.append(index[0].size)
        return (index[-1] + index[2]) % 3 == 0

    hits = tuple(a[:60] for a in np.nonzero(z_own > 9.0))
    own = z_own[hits]
    ratio = 4.0
    every = _peer_evidence(z_own, shaped_at, hits, 1, np.zeros(own.size))
    n_every = asked.pop()
    lazy = _peer_evidence(z_own, shaped_at, hits, 1, own / ratio)
    np.testing.assert_array_equal(lazy[0], every[0])  # the strongest peer: unchanged
    # the verdict that uses the shape, a shaped peer strong enough, is unchanged too
    np.testing.assert_array_equal(lazy[1] * ratio < own, every[1] * ratio < own)
    assert asked.pop() < n_every / 2  # and the shape was asked far less often
