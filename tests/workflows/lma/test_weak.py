"""Weak labels from the age grid, and the block-bootstrap AUC: analytic answers."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from magnetar.errors import ValidationError
from magnetar.workflows.lma.weak import block_bootstrap_auc, lineated_ages, weak_labels


def _tile_and_age(ages_east):
    lat = np.arange(40) * 0.1
    lon = np.arange(60) * 0.1
    tile = xr.DataArray(np.ones((40, 60)), dims=("latitude", "longitude"),
                        coords={"latitude": lat, "longitude": lon})
    age = np.full((40, 60), np.nan)  # west: continent (no age)
    age[:, 30:] = ages_east
    grid = xr.DataArray(age, dims=("lat", "lon"), coords={"lat": lat, "lon": lon})
    return tile, grid


def test_lineated_ages_leave_out_the_superchron_and_jurassic_quiet_zone():
    ranges = lineated_ages(timescale="GTS2012")
    assert ranges[0] == (0.0, pytest.approx(83.64))
    assert ranges[1] == (pytest.approx(125.93), 157.0)


def test_windows_on_young_ocean_are_linear_on_continent_not_across_ambiguous():
    tile, age = _tile_and_age(20.0)
    table = weak_labels(tile, age, size=20, stride=10)
    by_col = table.groupby("col")["label"].unique()
    assert list(by_col[0]) == [0]  # columns 0-19: continent
    assert list(by_col[10]) == [0]
    assert list(by_col[20]) == [-1]  # half and half
    assert list(by_col[30]) == [1]  # all ocean of 20 Myr
    assert list(by_col[40]) == [1]


def test_superchron_ocean_is_not_called_linear():
    tile, age = _tile_and_age(100.0)  # Cretaceous Normal Superchron: no reversals
    table = weak_labels(tile, age, size=20, stride=10)
    assert set(table.loc[table["col"] >= 30, "label"]) == {-1}


def test_windows_without_data_are_not_labelled():
    tile, age = _tile_and_age(20.0)
    tile[:, 30:] = np.nan
    table = weak_labels(tile, age, size=20, stride=10)
    assert set(table.loc[table["col"] >= 30, "label"]) == {-1}
    with pytest.raises(ValidationError, match="exceeds"):
        weak_labels(tile, age, size=50, stride=10)


def test_block_bootstrap_perfect_and_identical_models():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"tile": np.repeat([1, 2], 50), "row": rng.integers(0, 200, 100),
                          "col": rng.integers(0, 200, 100),
                          "label": np.tile([0, 1], 50)})
    perfect = table["label"].to_numpy() * 0.8 + 0.1
    noise = rng.uniform(size=100)
    out = block_bootstrap_auc(table, {"a": perfect, "b": perfect.copy(), "c": noise},
                              size=50, n_boot=200)
    assert out["a"]["auc"] == 1.0
    assert out["a"]["ci95"] == [1.0, 1.0]
    assert out["a - b"]["ci95"] == [0.0, 0.0]
    lo, hi = out["a - c"]["ci95"]
    assert lo > 0  # the perfect model's win over noise excludes zero
    assert out["blocks"] <= 2 * 25  # 5 x 5 squares of 50 nodes per tile


def test_registered_tiles_weak_set_oceanic_1299_continental_others():
    from magnetar.workflows.lma.weak import weak_set

    windows, table = weak_set(size=250, stride=125)
    assert windows.shape[1:] == (250, 250)
    assert len(windows) == len(table)
    by_tile = table.groupby("tile")["label"].agg(["min", "max"])
    # 1299 (central South Pacific, crust of 56-83 Ma): oceanic; the others' 250-node
    # windows lie on continents (Tibet, West Africa, Argentina)
    assert by_tile.loc[1299].tolist() == [1, 1]
    assert (by_tile.drop(index=1299)["max"] == 0).all()
    assert ((windows >= 0) & (windows <= 1)).all()


def test_named_models_and_shipped_names():
    from magnetar.workflows.lma.cli import _named_model

    name, path = _named_model("lma_coherence.pt")
    assert name == "lma_coherence"
    assert path.is_file()
    name, path = _named_model("mine=runs/a/checkpoints/best.pt")
    assert name == "mine"
    assert _named_model("runs/a/checkpoints/best.pt")[0] == "a"


def test_weak_eval_refuses_too_few_replicates(capsys):
    from magnetar.cli import main

    assert main(["lma", "weak-eval", "--model", "lma_coherence.pt", "--out", "x",
                 "--boot", "2"]) == 2
    assert "--boot" in capsys.readouterr().err


def test_default_model_is_the_shipped_texture_classifier():
    from magnetar.pretrained import pretrained_path
    from magnetar.workflows.lma.run import resolve_model

    assert resolve_model(None) == pretrained_path("lma_texture.pt")
    assert resolve_model("lma_coherence.pt") == pretrained_path("lma_coherence.pt")


def test_preprocess_reads_an_emag2v3_png_tile_with_its_coordinates():
    from magnetar import datasets
    from magnetar.io import read_png_tile
    from magnetar.workflows.lma.preprocess import read_any

    path = datasets.fetch("grids/emag2v3_tiles/gts/example_1299.png")
    tile = read_any(path)
    assert tile.dims == ("latitude", "longitude")
    # the central South Pacific (session 14's proven placement), 2 arc-minute nodes
    assert -49 < float(tile.latitude.min()) < float(tile.latitude.max()) < -31
    assert -158 < float(tile.longitude.min()) < float(tile.longitude.max()) < -140
    assert tile.shape == read_png_tile(path).shape
