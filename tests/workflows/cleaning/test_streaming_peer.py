"""The streaming peer rule: chunk-invariant, resumable, and it finds what the batch rule finds."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from magnetar.errors import ValidationError
from magnetar.processing._filters import CausalHighpass, butter_highpass
from magnetar.processing._peer import _spike_options
from magnetar.synthetic import inject_coincident, inject_interference, synthetic_observatories
from magnetar.workflows.cleaning import (
    CleaningConfig,
    StreamingCleaner,
    StreamingPeerCleaner,
    clean_observatories,
)
from magnetar.workflows.cleaning.streaming_peer import _DespikedHighpass

CONFIG = CleaningConfig(fit_block_s=900.0)  # 15-minute blocks: a short test record
REFERENCE = 3000  # samples the statistics are learned on


@pytest.fixture(name="case", scope="module")
def fixture_case():
    clean = synthetic_observatories(days=0.15, sampling_period=1.0, seed=7,
                                    components=("X", "Y", "Z"), noise_nT=0.1)
    n = clean.sizes["time"]
    starts = np.arange(REFERENCE + 200, n - 300, 250)
    widths = np.random.default_rng(7).integers(1, 4, starts.size)
    bad, _, _ = inject_interference(clean, station="BBB", starts=starts, widths=widths,
                                    amplitudes=20.0, components=["X", "Z"], seed=7)
    natural = starts[::4] + 120
    bad, _, _ = inject_coincident(bad, stations=["AAA", "BBB", "CCC", "DDD"], starts=natural,
                                  widths=2, amplitudes=20.0, gains=[1.0, 0.9, 0.8, 0.7],
                                  components=["X"], seed=8)
    return bad, starts, widths, natural


def _cleaner(bad):
    return StreamingPeerCleaner.from_reference(bad.isel(time=slice(0, REFERENCE)), CONFIG,
                                               start=bad["time"].values[REFERENCE])


def _stream(cleaner, data, sizes):
    outs, i = [], 0
    for size in sizes:
        if i >= data.sizes["time"]:
            break
        outs.append(cleaner.push(data.isel(time=slice(i, i + int(size)))))
        i += int(size)
    return [o for o in outs if o is not None]


@pytest.fixture(name="whole", scope="module")
def fixture_whole(case):
    """The stream pushed as one chunk."""
    bad = case[0]
    cleaner = _cleaner(bad)
    stream = bad.isel(time=slice(REFERENCE, None))
    outs = _stream(cleaner, stream, [stream.sizes["time"]]) + [cleaner.flush()]
    return xr.concat([o for o in outs if o is not None], dim="time", data_vars="all"), cleaner


def test_output_does_not_depend_on_chunking_and_resumes_exactly(case, whole, tmp_path):
    bad = case[0]
    expected, one = whole
    stream = bad.isel(time=slice(REFERENCE, None))
    sizes = np.random.default_rng(2).integers(1, 400, 5000)
    cleaner = _cleaner(bad)
    half = stream.sizes["time"] // 2
    outs = _stream(cleaner, stream.isel(time=slice(0, half)), sizes)
    resumed = StreamingPeerCleaner.load(cleaner.save(tmp_path / "state.npz"))
    outs += _stream(resumed, stream.isel(time=slice(half, None)), sizes) + [resumed.flush()]
    got = xr.concat([o for o in outs if o is not None], dim="time", data_vars="all")
    assert got.sizes["time"] == stream.sizes["time"]
    for var in ("X", "Y", "Z", "X_flag", "Z_flag", "X_sigma_local"):
        np.testing.assert_array_equal(got[var].values, expected[var].values)
    keys = ["start", "station", "component"]
    events = pd.concat([cleaner.events, resumed.events]).sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(events, one.events.sort_values(keys, ignore_index=True))


def _replaced(ds, comp, station):
    return np.isin(ds[f"{comp}_flag"].sel(station=station).values, (1, 2))


def test_streaming_finds_the_one_station_spikes_and_keeps_natural_events(case, whole):
    bad, starts, widths, natural = case
    got = whole[0]
    offset = REFERENCE
    for comp in ("X", "Z"):
        replaced = _replaced(got, comp, "BBB")
        found = [replaced[s - offset:s - offset + w].all()
                 for s, w in zip(starts, widths, strict=True)]
        assert np.mean(found) == 1.0
        for other in ("AAA", "CCC", "DDD"):
            assert not _replaced(got, comp, other).any()
    for t in natural:  # seen at all four stations: kept everywhere
        for station in ("AAA", "BBB", "CCC", "DDD"):
            assert not _replaced(got, "X", station)[t - offset:t - offset + 2].any()
    # the batch rule on the same record finds the same spikes
    batch = clean_observatories(bad, CONFIG).cleaned.isel(time=slice(offset, None))
    for comp in ("X", "Z"):
        np.testing.assert_array_equal(_replaced(got, comp, "BBB")[starts - offset],
                                      _replaced(batch, comp, "BBB")[starts - offset])


def test_replaced_samples_carry_the_peers_prediction(case, whole):
    bad, starts, widths, _ = case
    got = whole[0]
    clean = synthetic_observatories(days=0.15, sampling_period=1.0, seed=7,
                                    components=("X", "Y", "Z"), noise_nT=0.1)
    truth = clean["X"].sel(station="BBB").values[REFERENCE:]
    value = got["X"].sel(station="BBB").values
    at = np.concatenate([np.arange(s, s + w)
                         for s, w in zip(starts, widths, strict=True)]) - REFERENCE
    # 20 nT spikes replaced to within a few noise sigmas of the uncorrupted signal
    assert np.median(np.abs(value[at] - truth[at])) < 0.5
    assert np.max(np.abs(bad["X"].sel(station="BBB").values[REFERENCE:][at] - truth[at])) > 15


def test_despiked_highpass_passes_a_spike_without_its_tail():
    t = np.arange(4000.0)
    background = 30 * np.sin(2 * np.pi * t / 3000) + 0.01 * t  # smooth: linear over a spike
    spike = np.zeros_like(t)
    spike[2000:2003] = 20.0
    x = np.stack([background, background + spike])[:, None, :]  # (component, station, time)
    sos = butter_highpass(cutoff=1 / 600, sampling_period=1.0, order=4)
    opts = _spike_options({"k": 6.0, "shape_factor": 5.0, "max_width": 3, "flank": 3,
                           "sigma_window": 121, "sigma_trim": 0.3})
    sigma_own = np.full((3, 2, 1), 0.1)
    out = _DespikedHighpass(sos, (2, 1), sigma_own, opts).run(x)
    plain = CausalHighpass(sos, n_series=1)(background[None])[0]
    np.testing.assert_allclose(out[0, 0], plain, atol=1e-9)  # nothing to despike
    np.testing.assert_allclose(out[1, 0], plain + spike, atol=2e-3)  # the spike, no tail
    tail = CausalHighpass(sos, n_series=1)((background + spike)[None])[0] - plain
    assert np.abs(tail[2003:2300]).max() > 0.3  # what a plain causal filter leaves


def test_refuses_what_it_cannot_stream(case):
    bad = case[0]
    with pytest.raises(ValidationError, match="needs two fit blocks"):
        StreamingPeerCleaner.from_reference(bad.isel(time=slice(0, 500)), CONFIG)
    with pytest.raises(ValidationError, match="StreamingCleaner"):
        StreamingPeerCleaner.from_reference(bad.isel(time=slice(0, REFERENCE)),
                                            CleaningConfig(rule="published"))
    with pytest.raises(ValidationError, match="StreamingPeerCleaner"):
        StreamingCleaner.from_reference(bad.isel(time=slice(0, REFERENCE)), CONFIG)
