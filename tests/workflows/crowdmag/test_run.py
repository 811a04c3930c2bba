import json

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("torch")

from magnetar.errors import ValidationError  # noqa: E402
from magnetar.grids import inpaint  # noqa: E402
from magnetar.training import corrupt, mae  # noqa: E402
from magnetar.workflows.crowdmag.run import (  # noqa: E402
    AEConfig,
    build_tile_corpus,
    grid_points_to_tile,
    run_evaluate,
    run_train,
)


def _grids():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:80, 0:200] / 10.0
    return {"seafloor": [100 * np.sin(x + rng.uniform(0, 6)) * np.cos(0.7 * y) for _ in range(2)]}


def test_corpus_holds_out_separate_validation_and_test_regions():
    cfg = AEConfig(tile_px=16, tile_km=32, randomization=30, sources=("seafloor",))
    grids = {"seafloor": [np.tile(np.arange(200.0), (80, 1))]}  # value = column index
    corpus = build_tile_corpus(cfg, grids=grids)
    assert len(corpus["train"]) == 30
    # regions along the longer (column) axis, a tile width apart: test = the last 60
    # columns, validation before it, training before that
    assert corpus["train"].max() < corpus["val"].min() - 16
    assert corpus["val"].max() < corpus["test"].min() - 16
    assert corpus["test"].min() == 140
    # test and validation tiles do not overlap: 5 rows x 3 columns of 16-px tiles
    assert len(corpus["test"]) == 15
    starts = sorted(set(corpus["test"][:, 0, 0]))
    assert starts == [140.0, 156.0, 172.0]
    blocks = corpus["test_blocks_by_source"]["seafloor"]
    assert len(blocks) == 15
    assert len(set(blocks)) == 3 * 2  # 2 x 2 tiles a block: 3 block rows, 2 block columns
    # the validation region's tiles, per source, with their blocks, are those of "val"
    np.testing.assert_array_equal(corpus["val_by_source"]["seafloor"], corpus["val"])
    assert len(corpus["val_blocks_by_source"]["seafloor"]) == len(corpus["val"])
    with pytest.raises(ValidationError, match="sources"):
        AEConfig(sources=("moon",))
    with pytest.raises(ValidationError, match="validation tiles"):
        build_tile_corpus(cfg, grids={"seafloor": [np.zeros((80, 120))]})


def test_oversampling_multiplies_one_sources_tiles():
    grids = {"britain": [np.tile(np.arange(200.0), (80, 1))],
             "seafloor": [np.tile(-np.arange(200.0), (80, 1))]}
    cfg = AEConfig(tile_px=16, tile_km=32, randomization=30, oversample={"britain": 3},
                   sources=("britain", "seafloor"))
    corpus = build_tile_corpus(cfg, grids=grids)
    train = corpus["train"]
    # britain tiles hold values >= 0, seafloor tiles <= 0 (and a column-0 tile both)
    assert (train.max(axis=(1, 2)) > 0).sum() == 90
    assert (train.min(axis=(1, 2)) < 0).sum() == 30
    assert len(corpus["test_by_source"]["britain"]) == 15  # the region's own tiles
    assert len(corpus["test_by_source"]["seafloor"]) == 15
    with pytest.raises(ValidationError, match="oversample"):
        AEConfig(oversample={"britain": 0})
    with pytest.raises(ValidationError, match="oversample"):
        AEConfig(oversample={"mars": 2})


def test_block_bootstrap_is_wider_than_the_tile_bootstrap_for_correlated_tiles():
    import pandas as pd

    from magnetar.workflows.crowdmag.run import paired_comparison

    rng = np.random.default_rng(0)
    # 10 blocks of 4 tiles; the difference is shared within a block (neighbours agree)
    block_effect = np.repeat(rng.normal(-1.0, 2.0, 10), 4)
    per_tile = {(0.5, "autoencoder"): pd.DataFrame({"mae": 10 + block_effect}),
                (0.5, "spline"): pd.DataFrame({"mae": np.full(40, 10.0)})}
    blocks = np.repeat([f"b{i}" for i in range(10)], 4)
    by_tile = paired_comparison(per_tile, metrics=("mae",), n_boot=2000)["mae"]
    by_block = paired_comparison(per_tile, metrics=("mae",), n_boot=2000, blocks=blocks)["mae"]
    assert by_block["n_blocks"] == 10
    assert by_tile["mean_difference"] == pytest.approx(by_block["mean_difference"])
    width = lambda r: r["ci95"][1] - r["ci95"][0]  # noqa: E731
    assert width(by_block) > 1.5 * width(by_tile)  # ~sqrt(4): tiles of a block are one


def _nearest_mae_at_half(tiles):
    """MAE of the nearest-neighbour fill at the evaluation's 50 % corruption (seed 500)."""
    c, k = corrupt(tiles, mask_fraction=0.5, noise_nT=10.0, heavy_tail=0.1, seed=500)
    return np.mean([mae(t, e) for t, e in zip(tiles, inpaint(c, k, method="nearest"),
                                               strict=True)])


def test_train_then_evaluate_end_to_end(tmp_path):
    cfg = AEConfig(tile_px=16, tile_km=32, randomization=60, sources=("seafloor",),
                   eval_source="seafloor",
                   train={"model": "conv_masked_ae", "model_kwargs": {"base": 8, "depth": 2},
                          "epochs": 2, "device": "cpu"})
    corpus = build_tile_corpus(cfg, grids=_grids())
    _, history, written = run_train(tmp_path / "run", cfg, corpus=corpus)
    assert len(history) == 2
    assert written["checkpoint"].is_file()
    assert "[crowdmag]" in (tmp_path / "run" / "crowdmag.config.toml").read_text()
    table, files = run_evaluate(written["checkpoint"], tmp_path / "eval", cfg, corpus=corpus,
                                baselines=("nearest", "linear"))
    assert set(table.method) == {"autoencoder", "nearest", "linear"}
    assert len(table) == 3 * 6  # 25/50/75 % random masks and three track conditions
    assert np.isfinite(table[["mae", "wasserstein", "ssim"]]).all().all()
    # the baselines see the very corruption the model saw (seeded by the mask fraction)
    got = table[(table.method == "nearest") & (table.mask_fraction == 0.5)]["mae"].item()
    assert got == pytest.approx(_nearest_mae_at_half(corpus["test_by_source"]["seafloor"]))
    summary = json.loads(files["json"].read_text())
    assert set(summary["beats_all_baselines_at_50pct"]) == {"mae", "wasserstein"}
    assert set(summary["paired_differences"]) == {"0.25", "0.5", "0.75", "tracks 95 %",
                                                  "tracks 99 %", "tracks 99.9 %"}
    # the validation split scores the validation region's tiles, the same way
    val, _ = run_evaluate(written["checkpoint"], tmp_path / "val", cfg, corpus=corpus,
                          baselines=("nearest",), realistic=False, split="validation")
    got = val[(val.method == "nearest") & (val.mask_fraction == 0.5)]["mae"].item()
    assert got == pytest.approx(_nearest_mae_at_half(corpus["val_by_source"]["seafloor"]))
    assert json.loads((tmp_path / "val" / "evaluation.json").read_text())["split"] == "validation"
    with pytest.raises(ValidationError, match="split"):
        run_evaluate(written["checkpoint"], tmp_path / "x", cfg, corpus=corpus, split="train")
    assert summary["paired_differences"]["tracks 99 %"]["mae"]["n_blocks"] >= 2
    assert summary["tta"] is True
    paired = summary["paired_difference_at_50pct"]
    at_half = table[table.mask_fraction == 0.5].set_index("method")
    best = at_half.drop(index="autoencoder")["mae"].idxmin()
    assert paired["mae"]["baseline"] == best
    assert paired["mae"]["mean_difference"] == pytest.approx(
        at_half.loc["autoencoder", "mae"] - at_half.loc[best, "mae"])


def test_paired_comparison_against_the_best_baseline():
    import pandas as pd

    from magnetar.workflows.crowdmag.run import paired_comparison

    def frame(mae_values, w_values):
        return pd.DataFrame({"mae": mae_values, "wasserstein": w_values})

    per_tile = {(0.5, "autoencoder"): frame([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]),
                (0.5, "linear"): frame([2.0, 3.0, 4.0, 5.0], [0.5, 0.5, 0.5, 0.5]),
                (0.5, "nearest"): frame([5.0, 5.0, 5.0, 5.0], [2.0, 2.0, 2.0, 2.0]),
                (0.25, "linear"): frame([0.0] * 4, [0.0] * 4)}  # another fraction: ignored
    out = paired_comparison(per_tile, n_boot=200)
    assert out["mae"]["baseline"] == "linear"
    assert out["mae"]["mean_difference"] == pytest.approx(-1.0)
    assert out["mae"]["ci95"] == pytest.approx([-1.0, -1.0])
    assert out["mae"]["fraction_better"] == 1.0
    assert out["wasserstein"]["baseline"] == "linear"
    assert out["wasserstein"]["mean_difference"] == pytest.approx(0.5)
    assert out["wasserstein"]["fraction_better"] == 0.0
    # a spread of differences: the interval brackets their mean
    per_tile[0.5, "autoencoder"] = frame([1.0, 3.0, 2.0, 6.0], [1.0] * 4)
    mae_out = paired_comparison(per_tile, n_boot=500)["mae"]
    lo, hi = mae_out["ci95"]
    assert mae_out["mean_difference"] == pytest.approx(-0.5)
    assert lo < -0.5 < hi
    assert mae_out["fraction_better"] == 0.5


def test_points_are_binned_into_the_right_pixels():
    lat0, lon0 = 60.0, 10.0
    # 1 km east of the centre at 60 N is 1/(111.195 cos 60) degrees
    lon = np.array([lon0, lon0 + 2.5 / (111.195 * 0.5), lon0, lon0])
    lat = np.array([lat0, lat0, lat0 - 1.5 / 111.195, lat0])
    pts = xr.Dataset({"anomaly": ("point", [1.0, 2.0, 3.0, 5.0])},
                     coords={"longitude": ("point", lon), "latitude": ("point", lat)})
    values, samples, coords = grid_points_to_tile(pts, tile_km=8.0, tile_px=4)  # 2 km pixels
    # pixel edges at -4, -2, 0, 2, 4 km from the median position (lon0, lat0)
    assert samples.sum() == 4
    assert samples[2, 2] == 2  # the first and the fourth point: their mean
    assert samples[2, 3] == 1
    assert values[2, 2] == 3.0
    assert values[2, 3] == 2.0
    assert values[1, 2] == 3.0
    np.testing.assert_allclose(np.diff(coords["latitude"]), 2 / 111.195)


def test_denoise_a_recording_end_to_end(tmp_path):
    pytest.importorskip("ppigrf")
    from magnetar.processing import igrf_field
    from magnetar.training.reconstruction import TrainConfig, fit
    from magnetar.workflows.crowdmag.run import run_denoise

    tiles = np.random.default_rng(0).normal(size=(16, 32, 32))
    fit(tiles, tiles[:4], TrainConfig(model_kwargs={"base": 4, "depth": 2}, epochs=1,
                                      device="cpu"), out_dir=tmp_path / "ae")
    # a 1-km walk: IGRF + 3000 nT device offset + a 40 nT crustal step
    times = np.datetime64("2022-03-11T18:30") + np.arange(60) * np.timedelta64(10, "s")
    lat = 61.449 + np.linspace(0, 0.009, 60)
    lon = np.full(60, -149.37)
    e, n, u = igrf_field(lon, lat, times)
    total = np.sqrt(e**2 + n**2 + u**2) + 3000 + np.where(np.arange(60) < 30, 0.0, 40.0)
    total = np.r_[total, 1.05e6]  # a phone next to steel: 1 million nT, physically impossible
    times, lat, lon = np.r_[times, times[-1] + np.timedelta64(10, "s")], np.r_[lat, lat[-1]], \
        np.r_[lon, lon[-1]]
    lines = ["Time (UTC),Latitude (deg),Longitude (deg), Total Field (nT), "
             "Horizontal Component (nT), Vertical Component (nT)"]
    lines += [f"{str(t)[:19].replace('T', ' ')},{a:.6f},{o:.6f},{f:.2f},0,0"
              for t, a, o, f in zip(times, lat, lon, total, strict=True)]
    path = tmp_path / "crowdmag_walk_iPhone14,4_2022-03-24 171118.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = path.read_bytes()
    table = run_denoise([path], tmp_path / "out", checkpoint=tmp_path / "ae" / "best.pt",
                        tile_km=2.0)
    row = table.iloc[0]
    assert row["points"] == 60
    assert row["screened_range"] == 1  # the impossible value is screened out and counted
    assert row["screened_mad"] == 0
    assert row["device_offset_nT"] == pytest.approx(3020.0, abs=0.1)  # median of the step
    assert row["anomaly_std_nT"] == pytest.approx(20.0, abs=0.1)
    assert path.read_bytes() == before  # the input is never touched
    with xr.open_dataset(row["netcdf"]) as ds:
        assert ds["reconstruction"].shape == (32, 32)
        known = ds["known"].values > 0
        # the map is left empty farther than 2 pixels from a measured pixel (brute force)
        yy, xx = np.mgrid[0:32, 0:32]
        ky, kx = np.nonzero(known)
        near = np.min(np.hypot(yy[..., None] - ky, xx[..., None] - kx), axis=-1) <= 2
        np.testing.assert_array_equal(np.isfinite(ds["reconstruction"].values), near)
        np.testing.assert_array_equal(np.isfinite(ds["uncertainty"].values), near)
        assert (ds["uncertainty"].values[near] >= 0).all()
        assert near.sum() < 32 * 32 / 2  # a walk does not support a whole map
        assert ds.attrs["observatory"] == "none"
        assert ds.attrs["screened_range"] == 1
        assert "IGRF-14" in ds.attrs["core_field_model"]
        assert ds.attrs["time_coverage_start"].startswith("2022-03-11T18:30")
        assert 0 < int(ds["known"].sum()) <= 60
        assert int(ds["samples"].sum()) == 60  # every point lies in the tile
        np.testing.assert_array_equal(ds["known"] > 0, ds["samples"] > 0)
        samples = ds["samples"].values
    n = float(np.median(samples[samples > 0]))
    assert row["pixel_noise_nT"] == pytest.approx(row["noise_nT"] / np.sqrt(n))


def _stationary_recording(path, sigma, n=2000, seed=0):
    """A phone lying still: constant field plus white noise of ``sigma`` nT per sample."""
    rng = np.random.default_rng(seed)
    times = np.datetime64("2021-12-15T10:00") + np.arange(n) * np.timedelta64(1, "s")
    total = 55_000 + sigma * rng.normal(size=n)
    lines = ["Time (UTC),Latitude (deg),Longitude (deg), Total Field (nT), "
             "Horizontal Component (nT), Vertical Component (nT)"]
    lines += [f"{str(t)[:19].replace('T', ' ')},61.2,-149.9,{f:.2f},0,0"
              for t, f in zip(times, total, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_device_noise_from_stationary_recordings_sets_the_pixel_noise(tmp_path):
    from magnetar.workflows.crowdmag.run import device_noise, pixel_noise

    files = [_stationary_recording(tmp_path / f"crowdmag_office {i}_iPhone12,1_2021.csv",
                                   sigma, seed=i)
             for i, sigma in enumerate((90.0, 100.0, 130.0))]
    median, per_file = device_noise(files)
    assert len(per_file) == 3
    assert median == pytest.approx(100.0, rel=0.08)  # the middle device level
    assert pixel_noise(100.0, samples_per_pixel=25) == pytest.approx(20.0)
    assert pixel_noise(100.0, samples_per_pixel=1) == pytest.approx(100.0)
    with pytest.raises(ValidationError, match="samples_per_pixel"):
        pixel_noise(100.0, samples_per_pixel=0)
    with pytest.raises(ValidationError, match="at least one"):
        device_noise([])


def test_denoise_works_without_training_with_the_shipped_model(tmp_path):
    import xarray as xr

    from magnetar import datasets
    from magnetar.cli import main

    path = datasets.fetch("crowdmag/crowdmag_profile1_iPhone13,1_2022-06-17 000534.csv")
    assert main(["crowdmag", "denoise", str(path), "--out", str(tmp_path / "cm")]) == 0
    written = sorted((tmp_path / "cm").glob("*.nc"))
    assert len(written) == 1
    with xr.open_dataset(written[0]) as ds:
        assert ds.attrs["tile_km"] == 60.0  # the shipped model's training tile
        assert "crowdmag_conv_ae.pt" in ds.attrs["checkpoint"]
        assert np.isfinite(ds["uncertainty"].values).any()


def test_emag2v3_tiles_are_brought_to_km_by_their_own_coordinates(registered):
    from magnetar.workflows.crowdmag.run import emag2v3_grid

    registered("grids/emag2v3_tiles/gts/example_675.png")
    grid = emag2v3_grid(675, 10.0)
    # 15.87-50.73 N, 62.47-97.33 E: 34.87 degrees of latitude (111.195 km each) and of
    # longitude at cos(33.30 N); the tile's 4.1 arc-minute nodes, not EMAG2v3's 2
    lat_span, lon_span = 50.7326 - 15.8674, 97.3326 - 62.4674
    rows = lat_span * 111.195 / 10
    cols = lon_span * 111.195 * np.cos(np.radians((50.7326 + 15.8674) / 2)) / 10
    assert abs(grid.shape[0] - rows) <= 2
    assert abs(grid.shape[1] - cols) <= 2
