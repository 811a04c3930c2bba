import json

import numpy as np
import pytest

pytest.importorskip("torch")

from magnetar.workflows.iar.run import (  # noqa: E402
    SEARCH_SPACE,
    THRESHOLDS,
    IARPipelineConfig,
    choose_threshold,
    run_crossval,
    run_search,
)

TINY = {"epochs": 1, "batch_size": 2, "device": "cpu",
        "model_kwargs": {"base": 4, "depth": 2, "dropout": 0.0}}


def test_choose_threshold_picks_the_best_iou_by_hand():
    truth = np.array([1, 1, 0, 0], bool)
    prob = np.array([0.95, 0.62, 0.58, 0.1])
    threshold, rows = choose_threshold(prob, truth)
    # above 0.58 and below 0.62 only the two true pixels remain: IoU 1
    assert threshold == 0.6
    assert max(r["iou"] for r in rows) == 1.0
    assert [r["threshold"] for r in rows] == list(THRESHOLDS)


def test_crossval_folds_partition_the_nights(tmp_path):
    cfg = IARPipelineConfig(n_train=4, n_val=2, train=TINY)
    summary = run_crossval(tmp_path, cfg, k=2)
    folds = summary["folds"]
    assert len(folds) == 2
    assert sum(f["n_test"] for f in folds) == 4
    assert all(0 <= f["iou"] <= 1 and f["threshold"] in THRESHOLDS for f in folds)
    assert summary["mean_iou"] == pytest.approx(np.mean([f["iou"] for f in folds]))
    assert json.loads((tmp_path / "crossval.json").read_text())["k"] == 2


def test_search_records_every_trial_within_the_space(tmp_path):
    cfg = IARPipelineConfig(n_train=3, n_val=2, train=TINY)
    table, best = run_search(tmp_path, cfg, n_trials=2, sampler="random")
    assert len(table) == 2
    assert best["n_trials"] == 2
    assert best["value_iou"] == pytest.approx(table["value"].max())
    for name, values in SEARCH_SPACE.items():
        assert set(table[f"params_{name}"]) <= set(values)
    assert (tmp_path / "search.csv").is_file()


def test_params_of_nights_with_different_fringe_counts(tmp_path):
    import pandas as pd
    import xarray as xr

    from magnetar.workflows.iar.run import run_params

    freq = np.arange(0.5, 8.0, 0.025)
    time = np.arange(40) * 100.0
    mask = np.zeros((2, freq.size, time.size), np.uint8)
    fringes = {0: 1.0 + 0.5 * np.arange(3), 1: 1.0 + 0.8 * np.arange(5)}
    for night, fs in fringes.items():
        for f in fs:
            mask[night, np.abs(freq - f) < 0.04, :] = 1
    ds = xr.Dataset({"mask": (("night", "frequency", "time"), mask),
                     "probability": (("night", "frequency", "time"), mask.astype(float))},
                    coords={"frequency": freq, "time": time})
    ds.to_netcdf(tmp_path / "pred.nc")
    table, written = run_params(tmp_path / "pred.nc", tmp_path / "p.csv", figure=False)
    back = pd.read_csv(written["csv"])
    assert [c for c in back.columns if c.startswith("f")] == [f"f{k}_hz" for k in range(1, 6)]
    for night, fs in fringes.items():
        rows = back[back.night == night]
        np.testing.assert_allclose(rows[[f"f{k}_hz" for k in range(1, fs.size + 1)]].median(),
                                   fs, atol=0.02)
        assert rows["delta_f_hz"].median() == pytest.approx(np.diff(fs)[0], abs=0.03)
    nc = xr.load_dataset(written["netcdf"])
    assert list(nc["fringe"].values) == [1, 2, 3, 4, 5]
    assert np.isnan(nc["fringe_frequency"].sel(fringe=5).isel(night=0)).all()


def test_training_on_hand_labelled_png_nights(tmp_path):
    import xarray as xr
    from PIL import Image

    from magnetar.errors import ValidationError
    from magnetar.workflows.iar.run import (
        labelled_nights_from_png,
        labelled_pairs,
        run_synth,
        run_train,
    )

    folder = tmp_path / "labelled"
    run_synth(folder, n=3, png=True, seed=5)
    truth = xr.load_dataset(folder / "nights.nc")["mask"].values.astype(bool)
    # a labeller's tool saved the last night at twice the size
    for suffix in ("", "_mask"):
        path = folder / f"night_000007{suffix}.png"
        image = Image.open(path)
        image.resize((2 * image.width, 2 * image.height), Image.NEAREST).save(path)
    pairs = labelled_pairs(folder)
    assert [p.name for p, _ in pairs] == [f"night_00000{i}.png" for i in (5, 6, 7)]
    nights = labelled_nights_from_png(pairs)
    assert nights["mask"].shape == truth.shape  # all brought to the first night's size
    np.testing.assert_array_equal(nights["mask"].values.astype(bool), truth)
    cfg = IARPipelineConfig(labelled=str(folder), val_fraction=0.34, train=TINY)
    _, history, written = run_train(tmp_path / "run", cfg)
    assert len(history) == 1
    assert written["threshold"] in THRESHOLDS
    assert f'labelled = "{folder}"' in (tmp_path / "run" / "iar.config.toml").read_text()
    (folder / "night_000006_mask.png").unlink()
    with pytest.raises(ValidationError, match="night_000006_mask.png"):
        labelled_pairs(folder)
    with pytest.raises(ValidationError, match="val_fraction"):
        IARPipelineConfig(val_fraction=1.0)


@pytest.mark.parametrize(("fs", "high"), [(100.0, 10.0), (10.0, 4.5)])
def test_flat_band_is_where_the_band_pass_keeps_half_the_power(fs, high):
    from magnetar.io import timeseries_from_array
    from magnetar.processing import bandpass
    from magnetar.workflows.iar.run import flat_band

    lo, hi = flat_band(low=0.5, high=high, order=4, sampling_rate=fs)
    assert 0.5 < lo < hi < high
    t = np.arange(int(600 * fs)) / fs

    def kept(freq):  # power ratio of a sinusoid through the band-pass, edges trimmed
        x = np.sin(2 * np.pi * freq * t)
        y = bandpass(timeseries_from_array(x, sampling_rate=fs), low=0.5, high=high).values[:, 0]
        core = slice(len(t) // 4, 3 * len(t) // 4)
        return np.mean(y[core] ** 2) / np.mean(x[core] ** 2)

    for inside in (lo * 1.05, (lo + hi) / 2, hi * 0.97):
        assert kept(inside) >= 0.5
    for outside in (lo * 0.8, min(hi * 1.08, 0.49 * fs)):
        assert kept(outside) < 0.5


def test_spectrogram_on_the_models_grid_is_left_alone():
    import xarray as xr

    from magnetar.workflows.iar.run import model_grid, to_model_grid

    df, dt = model_grid("missing.pt")  # no config beside it: the generator's defaults
    assert df == pytest.approx(100 / 4096)
    assert dt == 100.0
    freq = 0.5 + np.arange(40) * df
    times = np.datetime64("2020-01-01T18:00") + np.arange(30) * np.timedelta64(100, "s")
    spec = xr.DataArray(np.random.default_rng(0).normal(-5, 1, (40, 30)),
                        dims=("frequency", "time"), coords={"frequency": freq, "time": times})
    out = to_model_grid(spec, df=df, dt=dt)
    assert out is spec or np.array_equal(out.values, spec.values)
    assert "resampled_from" not in out.attrs


def test_a_finer_spectrogram_is_averaged_in_power_onto_the_models_grid():
    import xarray as xr

    from magnetar.workflows.iar.run import to_model_grid

    df, dt = 0.1, 100.0
    fine = np.arange(0.5, 2.5, 0.01)  # ten times finer
    power = np.where(np.arange(fine.size) % 2 == 0, 1.0, 3.0)  # alternating 1 and 3
    times = np.datetime64("2020-01-01") + np.arange(5) * np.timedelta64(100, "s")
    spec = xr.DataArray(np.log10(power)[:, None] * np.ones(5), dims=("frequency", "time"),
                        coords={"frequency": fine, "time": times})
    out = to_model_grid(spec, df=df, dt=dt)
    assert np.median(np.diff(out["frequency"].values)) == pytest.approx(df)
    inner = out.values[1:-1]  # full bins hold five 1s and five 3s: mean power 2
    np.testing.assert_allclose(inner, np.log10(2.0), atol=1e-9)
    assert "frequency step" in out.attrs["resampled_from"]


def test_predict_reads_hdf5_spectra_and_keeps_to_the_models_band(registered, tmp_path):
    import xarray as xr

    from magnetar.errors import ValidationError
    from magnetar.pretrained import pretrained_path
    from magnetar.workflows.iar.run import crop_to_model_band, model_grid, run_predict

    model = pretrained_path("iar_unet16.pt")
    pred = run_predict(registered("timeseries/mikhnevo_schumann_spectra.h5"), model,
                       tmp_path / "pred.nc")
    # 5-40 Hz spectra: only their 5-10 Hz part lies in the model's 0.5-10 Hz band
    assert float(pred.frequency.min()) >= 5.0
    assert float(pred.frequency.max()) <= 10.0
    assert np.median(np.diff(pred.frequency.values)) == pytest.approx(100 / 4096)
    high = xr.DataArray(np.zeros((3, 4)), dims=("frequency", "time"),
                        coords={"frequency": [20.0, 30.0, 40.0], "time": np.arange(4.0)})
    with pytest.raises(ValidationError, match="20-40 Hz, outside the model's band 0.5-10"):
        crop_to_model_band(high, model_grid(model, band=True)[2])


def test_band_edges_are_mirrored_so_the_first_and_last_rows_are_like_the_others():
    import torch
    import xarray as xr

    from magnetar.workflows.iar.run import predict_nights

    conv = torch.nn.Conv2d(1, 1, 5, padding=2, bias=False)  # zero padding, like a U-Net's
    torch.nn.init.constant_(conv.weight, 1 / 25)
    t = np.arange(40)
    # every row the same: after the row medians go, each row holds the same time series
    spec = xr.DataArray(np.tile(np.sin(t / 3.0), (30, 1)), dims=("frequency", "time"),
                        coords={"frequency": 0.5 + 0.025 * np.arange(30), "time": t * 100.0})
    raw = predict_nights(conv, spec, edge_pad=0)["probability"].values
    mirrored = predict_nights(conv, spec)["probability"].values
    assert mirrored.shape == raw.shape == (30, 40)
    assert not np.allclose(raw[0], raw[15])  # the zero padding shows at the edge
    np.testing.assert_allclose(mirrored, np.tile(mirrored[15], (30, 1)), atol=1e-6)
