import dataclasses

import numpy as np
import pytest
import xarray as xr

from magnetar.errors import ValidationError
from magnetar.synthetic import inject_coincident, inject_interference, synthetic_observatories
from magnetar.workflows.cleaning import (
    CleaningConfig,
    StreamingCleaner,
    clean_observatories,
    restore_original,
)


@pytest.fixture(name="case", scope="module")
def fixture_case():
    clean = synthetic_observatories(days=0.1, sampling_period=1.0, seed=3,
                                    components=("X", "Y", "Z"), noise_nT=0.1)
    starts = np.arange(700, clean.sizes["time"] - 700, 900)
    rng = np.random.default_rng(3)
    widths = rng.integers(1, 6, starts.size)
    bad, truth, _ = inject_interference(clean, station="BBB", starts=starts, widths=widths,
                                        amplitudes=20.0, components=["X", "Z"], seed=3)
    c_starts = starts[:4] + 400
    bad, _, _ = inject_coincident(bad, stations=["AAA", "BBB", "CCC", "DDD"], starts=c_starts,
                                  widths=3, amplitudes=5.0, gains=[1, 0.9, 0.8, 0.7],
                                  components=["X"], seed=4)
    return clean, bad, truth, c_starts


@pytest.mark.parametrize("rule", ["peer", "published", "sharp"])
def test_synthetic_ground_truth(case, rule):
    clean, bad, truth, c_starts = case
    # the fixture's spikes are 1-5 samples long; the peer rule tests widths up to max_width
    extra = {"max_width": 5} if rule == "peer" else {"k": 6.0}
    result = clean_observatories(bad, CleaningConfig(rule=rule, **extra))
    for comp in ("X", "Z"):
        flags = result.cleaned[f"{comp}_flag"].values
        t = truth[comp].values
        done = np.isin(flags[t], (1, 2))
        if rule in ("sharp", "peer"):  # these also repair spikes during natural activity
            assert done.all(), "every injected sample is replaced"
        else:  # the published rule misses spikes that coincide with natural activity
            assert done.mean() > 0.3
        err = result.cleaned[comp].values[t][done] - clean[comp].values[t][done]
        assert np.sqrt(np.mean(err**2)) < 1.0  # nT; spikes were 20 nT = 200 noise sigmas
    for a in c_starts:  # coincident disturbances are natural and untouched
        assert (result.cleaned["X_flag"].values[:, a:a + 3] == 0).all()
        np.testing.assert_array_equal(result.cleaned["X"].values[:, a:a + 3],
                                      bad["X"].values[:, a:a + 3])
    natural = result.events[result.events["class"] == "natural"]
    assert len(natural) >= 4 * len(c_starts)


def test_originals_kept_and_undo_restores(case):
    _, bad, _, _ = case
    result = clean_observatories(bad, CleaningConfig(k=6.0))
    restored = restore_original(result.cleaned)
    for comp in ("X", "Y", "Z"):
        np.testing.assert_array_equal(restored[comp].values, bad[comp].values)
    assert (result.cleaned["X_flag"].values == 1).any()
    assert result.cleaned["X_flag"].attrs["flag_meanings"].startswith("kept replaced")


def test_summary_counts_events(case):
    _, bad, _, _ = case
    result = clean_observatories(bad, CleaningConfig(k=6.0))
    table = result.summary
    assert table.loc["total", "events"] == len(result.events)
    shared = [c for c in table.columns if c.startswith("shared_by_")]
    assert (table[shared].sum(axis=1) == table["events"]).all()
    assert table.loc["BBB", "interference"] >= 12  # most of the 2 x 9 injected spikes


def test_input_is_not_modified(case):
    _, bad, _, _ = case
    before = bad.copy(deep=True)
    clean_observatories(bad, CleaningConfig(k=6.0))
    xr.testing.assert_identical(before, bad)


def test_bad_input_messages():
    with pytest.raises(ValidationError, match=r"expected dimensions \(station, time\)"):
        clean_observatories(xr.Dataset({"X": ("time", np.zeros(10))}))
    ds = synthetic_observatories(days=0.01, sampling_period=1.0, components=("X",))
    with pytest.raises(ValidationError, match="component.*'Q'"):
        clean_observatories(ds, CleaningConfig(components=("Q",)))
    for bad in (-1.0, float("nan")):  # refused when the config is made, not mid-run
        with pytest.raises(ValidationError, match="peer_shape must be >= 0"):
            CleaningConfig(peer_shape=bad)


def _stream(cleaner, data, sizes):
    outs, i = [], 0
    for size in sizes:
        if i >= data.sizes["time"]:
            break
        out = cleaner.push(data.isel(time=slice(i, i + size)))
        i += size
        if out is not None:
            outs.append(out)
    return outs, i


@pytest.mark.parametrize("rule", ["published", "sharp"])
def test_streaming_equals_batch(case, rule, rng, tmp_path):
    _, bad, _, _ = case
    cfg = CleaningConfig(k=6.0, rule=rule)
    reference = bad.isel(time=slice(0, 3000))
    cleaner = StreamingCleaner.from_reference(reference, cfg, start=bad["time"].values[0])
    batch = clean_observatories(bad, dataclasses.replace(cfg, zero_phase=False),
                                sigma=cleaner.sigma, gains=cleaner.gains,
                                sigma_sharp=cleaner.sigma_sharp)
    sizes = rng.integers(1, 700, 2000)
    half = bad.isel(time=slice(0, 4000))
    outs, _ = _stream(cleaner, half, sizes)
    # save mid-stream, restore into a fresh cleaner and carry on
    path = cleaner.save(tmp_path / "state.npz")
    resumed = StreamingCleaner.load(path)
    rest, _ = _stream(resumed, bad.isel(time=slice(4000, None)), sizes)
    outs += rest + [resumed.flush()]
    streamed = xr.concat([o for o in outs if o is not None], dim="time", data_vars="all")
    assert streamed.sizes["time"] == bad.sizes["time"]
    for var in ("X", "Z", "X_flag", "Z_flag"):
        np.testing.assert_allclose(streamed[var].values, batch.cleaned[var].values,
                                   rtol=0, atol=1e-9)
    assert (streamed["X_flag"].values == 1).any()


def test_streaming_rejects_out_of_order_chunk(case):
    _, bad, _, _ = case
    cleaner = StreamingCleaner.from_reference(bad.isel(time=slice(0, 2000)),
                                              start=bad["time"].values[0])
    cleaner.push(bad.isel(time=slice(0, 10)))
    with pytest.raises(ValidationError, match="chunk starts at .* expected"):
        cleaner.push(bad.isel(time=slice(20, 30)))


def test_streaming_stations_arrive_separately(case):
    _, bad, _, _ = case
    cleaner = StreamingCleaner.from_reference(bad.isel(time=slice(0, 2000)),
                                              start=bad["time"].values[0])
    first = bad.isel(time=slice(0, 100))
    assert cleaner.push(first.sel(station=["AAA", "BBB"])) is None  # others still missing
    out = cleaner.push(first.sel(station=["CCC", "DDD"]))
    assert out is not None
    assert out.sizes["time"] > 0


@pytest.mark.parametrize(("period", "expected"), [(1.0, 600.0), (60.0, 1800.0), (0.1, 600.0)])
def test_default_cutoff_follows_cadence(period, expected):
    # max(600 s, 30 samples): the published 1/600 Hz at 1 s, 30 samples at 1 min
    assert CleaningConfig().cutoff_for(period) == expected
    assert CleaningConfig(cutoff_period_s=900.0).cutoff_for(period) == 900.0


def test_default_cutoff_keeps_one_minute_spikes():
    # Quiet 1-minute data, instrument noise 0.5 nT: 3-sample spikes of 3 nT (6 sigma) must
    # mostly be caught; a 600 s (10-sample) cut-off takes much of their amplitude away.
    clean = synthetic_observatories(days=2.0, sampling_period=60.0, seed=5, components=("X",),
                                    noise_nT=0.5, storm=False, n_substorms=0)
    starts = np.arange(300, clean.sizes["time"] - 300, 160)
    bad, _, _ = inject_interference(clean, station="BBB", starts=starts, widths=3,
                                    amplitudes=3.0, components=["X"], seed=5)

    def recall(cutoff):
        result = clean_observatories(bad, CleaningConfig(k=3.0, cutoff_period_s=cutoff,
                                                         rule="published"))
        flags = result.cleaned["X_flag"].sel(station="BBB").values
        return np.mean([flags[s:s + 3].max() > 0 for s in starts])

    default, short = recall(None), recall(600.0)
    assert default >= 0.8
    assert default >= short + 0.15
