"""The archive path: day by day on Dask decides exactly as one in-memory run."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from magnetar.errors import ValidationError
from magnetar.io import read_stations, write_iaga2002
from magnetar.processing import align_stations
from magnetar.synthetic import inject_interference, synthetic_observatories
from magnetar.workflows.cleaning import CleaningConfig, clean_archive, clean_observatories
from magnetar.workflows.cleaning.archive import _halos, archive_halo

STATIONS = ("AAA", "BBB", "CCC", "DDD")


def _archive(folder, *, days=4, period=60.0):
    """Daily IAGA-2002 files of four stations with one-station spikes at BBB."""
    data = synthetic_observatories(stations=STATIONS, distances_km=(0, 150, 300, 450),
                                   days=days, sampling_period=period, components=("X", "Y", "Z"),
                                   start="2024-03-01T00:00:00", seed=1)
    rng = np.random.default_rng(3)
    n = data.sizes["time"]
    data = inject_interference(data, station="BBB", starts=rng.integers(50, n - 50, 50),
                               widths=rng.integers(1, 4, 50), amplitudes=rng.uniform(3, 20, 50),
                               seed=2)[0]
    per_day = int(86400 / period)
    files = []
    for name in STATIONS:
        for d in range(days):
            ds = data.sel(station=name, drop=True).isel(time=slice(d * per_day,
                                                                   (d + 1) * per_day))
            ds.attrs = {"iaga_code": name, "sampling_period_s": period}
            files.append(write_iaga2002(ds, folder / f"{name.lower()}2024030{d + 1}.min"))
    return files


@pytest.fixture(scope="module")
def archive_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archive")
    files = _archive(folder)
    config = CleaningConfig(period_s=86400.0)
    reference = clean_observatories(align_stations(read_stations(files)), config)
    out = clean_archive(files, folder / "out", config, formats=("iaga2002",))
    return files, folder, reference, out


def test_archive_decides_exactly_as_one_in_memory_run(archive_run):
    _, folder, reference, out = archive_run
    days = [xr.open_dataset(p) for p in sorted((folder / "out" / "days").glob("*.nc"))]
    assert len(days) == 4
    merged = xr.concat(days, dim="time", data_vars="all")
    assert reference.events["class"].eq("interference").sum() > 20  # the spikes were found
    for comp in ("X", "Y", "Z"):
        np.testing.assert_array_equal(merged[f"{comp}_flag"].values,
                                      reference.cleaned[f"{comp}_flag"].values)
        np.testing.assert_allclose(merged[comp].values, reference.cleaned[comp].values,
                                   rtol=0, atol=1e-6)
        np.testing.assert_array_equal(merged[f"{comp}_original"].values,
                                      reference.cleaned[f"{comp}_original"].values)
    keys = ["time", "station", "component", "start", "end", "class", "n_stations"]
    expected = reference.events.sort_values(["time", "station", "component"], kind="stable",
                                            ignore_index=True)[keys]
    pd.testing.assert_frame_equal(out["events"][keys], expected)


def test_archive_writes_the_catalogue_and_per_day_tables(archive_run):
    _, folder, reference, out = archive_run
    events = pd.read_csv(folder / "out" / "events.csv")
    assert len(events) == len(reference.events)
    sigma = pd.read_csv(folder / "out" / "sigma_daily.csv")
    assert len(sigma) == 4 * 3 * len(STATIONS)
    assert (sigma["sigma_nT"] > 0).all()
    assert sorted(pd.read_csv(folder / "out" / "sync.csv")["day"].unique()) == [
        "2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]
    assert len(list((folder / "out" / "iaga").glob("*.min"))) == 4 * len(STATIONS)
    assert not (folder / "out" / "work").exists()  # the ingested arrays are removed


def test_two_workers_write_the_same_catalogue_as_one(archive_run, tmp_path):
    pytest.importorskip("distributed")
    files, folder, _, _ = archive_run
    clean_archive(files, tmp_path / "two", CleaningConfig(), workers=2, formats=())
    one = (folder / "out" / "events.csv").read_bytes()
    assert (tmp_path / "two" / "events.csv").read_bytes() == one


def test_halos_cover_the_filter_settling_and_one_prediction_block():
    config = CleaningConfig()
    # 1-second data: 600 s cut-off, 4th order -> slowest pole tau = 600 / (2 pi sin(pi/8))
    settle = 30 * 600 / (2 * np.pi * np.sin(np.pi / 8))
    halos = _halos(config, 1.0)
    assert halos["own"] >= settle  # the high-pass of the day's samples has settled
    assert halos["residual"] >= 10800  # the neighbours' 3-hour blocks are fitted whole
    assert halos["decide"] >= settle  # the slow part is refiltered around the day
    assert archive_halo(config, 1.0) == max(halos.values()) < 86400 / 2


@pytest.mark.parametrize(("options", "needle"), [
    ({"rule": "published"}, "peer rule only"),
    ({"apply_sync": True}, "apply_sync"),
    ({"zero_phase": False}, "zero-phase"),
])
def test_archive_refuses_what_it_does_not_implement(tmp_path, options, needle):
    with pytest.raises(ValidationError, match=needle):
        clean_archive([tmp_path / "x.min"], tmp_path / "out", CleaningConfig(**options))


def test_archive_refuses_one_station_and_mixed_cadences(archive_run, tmp_path):
    files = archive_run[0]
    with pytest.raises(ValidationError, match="at least two stations"):
        clean_archive([f for f in files if f.name.startswith("aaa")], tmp_path / "one")
    data = synthetic_observatories(stations=("EEE",), distances_km=(0,), days=0.1,
                                   sampling_period=1.0, components=("X", "Y", "Z"))
    ds = data.sel(station="EEE", drop=True)
    ds.attrs = {"iaga_code": "EEE", "sampling_period_s": 1.0}
    sec = write_iaga2002(ds, tmp_path / "eee20240301.sec")
    with pytest.raises(ValidationError, match="different sampling periods"):
        clean_archive([*files[:4], sec], tmp_path / "mixed")


def test_archive_refuses_inputs_inside_its_outputs(tmp_path):
    out = tmp_path / "out"
    (out / "days").mkdir(parents=True)
    inside = out / "days" / "aaa20240301.min"
    inside.write_text("x")
    with pytest.raises(ValidationError, match="lies where this run writes"):
        clean_archive([inside], out)


def test_saved_hits_read_back_over_any_window(tmp_path):
    from magnetar.workflows.cleaning.archive import (
        ArchiveLayout,
        _day_span,
        _load_hits,
        _save_hits,
        _window,
    )

    step = 3600 * 10**9  # hourly samples; the archive starts at 18:00 of its first day
    first = np.datetime64("2024-05-01T18:00", "ns").astype(np.int64)
    layout = ArchiveLayout(work=str(tmp_path), stations=("A", "B"), components=("X", "Y"),
                           step_ns=step, first_ns=first, last_ns=first + 53 * step, headers=())
    rng = np.random.default_rng(5)
    truth = rng.random((3, 2, 2, layout.n_samples)) < 0.05
    for day in layout.days:
        c0, c1 = _day_span(layout, day)
        padded = np.zeros((3, 2, 2, c1 - c0 + 7), dtype=bool)  # the saved core sits at 4..
        padded[..., 4:4 + c1 - c0] = truth[..., c0:c1]
        _save_hits(layout, day, (4, 4 + c1 - c0), padded)
    for day in layout.days:
        for halo in (0, 5, 30):
            win = _window(layout, day, halo)
            np.testing.assert_array_equal(_load_hits(layout, win, 3),
                                          truth[..., win.g0:win.g1])


def test_derived_series_are_removed_once_read_and_raw_kept_on_request(tmp_path):
    files = _archive(tmp_path, days=3)
    clean_archive(files, tmp_path / "out", CleaningConfig(), formats=(), keep_work=True)
    work = tmp_path / "out" / "work"
    assert len(list((work / "raw").rglob("*.npy"))) == 3 * len(STATIONS) * 3  # days x elements
    for kind in ("hp", "prediction", "hits"):
        assert not list((work / kind).glob("*.npy"))
