"""``iar catalogue``: daily raw files -> one row per night, resumable, same on any cluster."""

import numpy as np
import pandas as pd
import pytest

from magnetar.errors import ValidationError
from magnetar.synthetic import IARConfig, synthetic_iar_archive
from magnetar.workflows.iar.catalogue import CatalogueConfig, _nights_of, run_catalogue

pytest.importorskip("obspy")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("iar_archive")
    paths, truth = synthetic_iar_archive(folder / "raw", 2, IARConfig(gaps=(0, 0)), seed=5)
    table = run_catalogue(paths, folder / "out")
    return folder, paths, truth, table


def test_every_night_is_joined_from_its_two_daily_files(archive):
    _, paths, truth, table = archive
    assert len(paths) == 3  # two nights cross midnight: three daily files
    assert list(table["night"]) == list(truth["night"])
    assert (table["status"] == "ok").all()
    # a night has 12 h of data (no gaps drawn): with only one of its two files it would
    # cover half or less
    assert (table["coverage"] > 0.9).all()


def test_nights_of_lists_the_files_a_night_needs():
    spans = [{"spectrum": "a", "first": "2020-01-01T00:00", "last": "2020-01-01T23:59"},
             {"spectrum": "b", "first": "2020-01-02T00:00", "last": "2020-01-02T23:59"}]
    nights = _nights_of(spans, CatalogueConfig())
    assert nights == {"2019-12-31": ["a"], "2020-01-01": ["a", "b"], "2020-01-02": ["b"]}


def test_a_second_run_resumes_instead_of_recomputing(archive):
    folder, paths, _, table = archive
    rows = sorted((folder / "out" / "nights").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in rows]
    again = run_catalogue(paths, folder / "out")
    assert [p.stat().st_mtime_ns for p in rows] == stamps
    pd.testing.assert_frame_equal(again, table)


def test_two_workers_write_the_same_catalogue(archive, tmp_path):
    pytest.importorskip("distributed")
    folder, paths, _, _ = archive
    run_catalogue(paths, tmp_path / "two", workers=2)
    assert ((tmp_path / "two" / "catalogue.csv").read_bytes()
            == (folder / "out" / "catalogue.csv").read_bytes())


def test_per_night_files_hold_the_parameters(archive):
    import xarray as xr

    folder, _, _, table = archive
    with xr.open_dataset(folder / "out" / "nights" / f"{table['night'][0]}.nc") as ds:
        assert {"spectrogram", "probability", "mask", "delta_f", "fringe_frequency"} <= set(
            ds.data_vars)
        measured = ds["delta_f"].values
    hours = np.isfinite(measured).sum() * 100 / 3600
    assert table["iar_hours"][0] == pytest.approx(hours)


def test_files_without_a_time_fail_clearly(tmp_path):
    np.save(tmp_path / "series.npy", np.zeros(1000))
    with pytest.raises(ValidationError, match="every file failed"):
        run_catalogue([tmp_path / "series.npy"], tmp_path / "out",
                      CatalogueConfig(sampling_rate=100.0))
    status = pd.read_csv(tmp_path / "out" / "files.csv")["status"][0]
    assert "date in the file name" in status


def test_catalogue_options_are_checked():
    with pytest.raises(ValidationError, match="min_columns"):
        CatalogueConfig(min_columns=0)
    with pytest.raises(ValidationError, match="night_start"):
        CatalogueConfig(night_start="25:00")
