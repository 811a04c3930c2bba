import json

import numpy as np
import pytest

from magnetar.cli import build_parser, main
from magnetar.io import write_iaga2002
from magnetar.processing import split_stations
from magnetar.synthetic import inject_interference, synthetic_observatories


@pytest.mark.parametrize("argv", [["--help"], ["clean", "--help"], ["demo", "--help"],
                                  ["datasets", "--help"], ["lma", "preprocess", "--help"],
                                  ["synth", "seafloor", "--help"],
                                  ["crowdmag", "train", "--help"],
                                  ["crowdmag", "evaluate", "--help"],
                                  ["crowdmag", "search", "--help"],
                                  ["crowdmag", "denoise", "--help"]])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 0
    assert "usage: magnetar" in capsys.readouterr().out


def _write_inputs(tmp_path):
    ds = synthetic_observatories(days=0.1, sampling_period=1.0, components=("X", "Y", "Z"))
    bad, _, _ = inject_interference(ds, station="AAA", starts=[1000, 5000], widths=[2, 2],
                                    amplitudes=[20.0, 20.0], components=["X"])
    paths = []
    for name, one in split_stations(bad).items():
        one.attrs.update({"iaga_code": name, "reported": "XYZ",
                          "data_interval_type": "1-second"})
        paths.append(write_iaga2002(one, tmp_path / f"{name.lower()}.sec"))
    return paths


def test_clean_writes_outputs_and_leaves_inputs(tmp_path, capsys):
    paths = _write_inputs(tmp_path)
    before = [p.read_bytes() for p in paths]
    out = tmp_path / "out"
    code = main(["clean", *map(str, paths), "--out", str(out), "--k", "6", "--no-figures"])
    assert code == 0
    assert [p.read_bytes() for p in paths] == before
    for name in ("events.csv", "summary.csv", "cleaned.nc", "config.toml", "aaa20240301clean.sec"):
        assert (out / name).is_file(), name
    assert "k = 6.0" in (out / "config.toml").read_text()
    assert "review = true" in (out / "config.toml").read_text()
    assert "Cleaned by magnetar" in (out / "aaa20240301clean.sec").read_text()
    assert "interference" in capsys.readouterr().out
    plain = tmp_path / "plain"
    assert main(["clean", *map(str, paths), "--out", str(plain), "--no-review",
                 "--no-figures"]) == 0
    assert "review = false" in (plain / "config.toml").read_text()


def test_bad_file_gives_one_line_error(tmp_path, capsys):
    paths = _write_inputs(tmp_path)
    text = paths[0].read_text().splitlines()
    text[30] = text[30][:25]
    paths[0].write_text("\n".join(text) + "\n")
    code = main(["clean", *map(str, paths), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("magnetar: error:")
    assert "line 31" in err
    assert "\n" not in err


def test_unknown_config_key(tmp_path, capsys):
    paths = _write_inputs(tmp_path)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[clean]\nkay = 3\n")
    code = main(["clean", *map(str, paths), "--out", str(tmp_path / "o"), "--config", str(cfg)])
    assert code == 2
    assert "unknown option(s) kay" in capsys.readouterr().err


def test_demo_runs_on_synthetic_defaults(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MAGNETAR_DATA_DIR", raising=False)
    monkeypatch.delenv("MAGNETAR_STRICT_DATA", raising=False)
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert '"coincident_events_kept": true' in out
    assert (tmp_path / "demo" / "synthetic" / "magnetograms_X.png").stat().st_size > 10000
    replaced, total = out.split('"interference_samples_replaced": "')[1].split('"')[0].split("/")
    assert int(replaced) == int(total) > 0
    report = json.loads((tmp_path / "demo" / "demo_report.json").read_text())
    # the shipped U-Net (a fixed file) on seeded synthetic nights: deterministic, no training
    iar = report["iar"]
    assert iar["unet_iou"] > iar["baseline_iou"] + 0.15
    assert iar["delta_f_median_abs_error_hz"] < 0.03
    for night in range(3):  # one figure per night
        assert (tmp_path / "demo" / "iar" / f"resonance_night{night}.png").stat().st_size > 10000
    # no data folder: the parts that need real files say so instead of failing
    assert report["lma"].startswith("skipped")
    assert report["crowdmag"].startswith("skipped")


def test_demo_marine_and_crowdmag_parts_on_real_data(tmp_path, registered):
    registered("gpts/timescales.txt")
    registered("surveys/britain-magnetic.csv.xz")
    from magnetar.demo import _demo_crowdmag, _demo_lma

    lma = _demo_lma(tmp_path / "lma", progress=False)
    # the shipped coherence classifier against the generator's window labels (70/30 rule)
    assert lma["labelled_windows"] >= 10
    assert lma["window_accuracy"] >= 0.7
    assert (tmp_path / "lma" / "map.png").stat().st_size > 10000
    cm = _demo_crowdmag(tmp_path / "cm", progress=False)
    assert cm["recordings_denoised"] == 3
    assert cm["mae_nT_at_50pct_masking"]["autoencoder"] < cm["mae_nT_at_50pct_masking"]["nearest"]


def test_datasets_list(capsys):
    assert main(["datasets", "list", "observatory/brw"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 25
    assert np.all(["juditbergfalk/magneto" in line for line in lines])


def _stripe_grid(path):
    import xarray as xr

    from magnetar.io import write_grid

    y, x = np.mgrid[0:60, 0:70]
    values = 100 * np.sin(2 * np.pi * x / 12) + np.random.default_rng(0).normal(0, 10, x.shape)
    values[5, 5] = 5000.0  # an outlier
    grid = xr.DataArray(values, dims=("northing", "easting"),
                        coords={"northing": np.arange(60) * 1000.0,
                                "easting": np.arange(70) * 1000.0}, attrs={"units": "nT"})
    write_grid(grid, path)
    return grid


def test_lma_preprocess_writes_every_stage(tmp_path, capsys):
    import xarray as xr

    src = tmp_path / "in.nc"
    _stripe_grid(src)
    before = src.read_bytes()
    out = tmp_path / "out" / "g.nc"
    code = main(["lma", "preprocess", str(src), "--outliers", "--svd", "0.98", "--diffuse",
                 "1,3,2", "--out", str(out), "--intermediates"])
    assert code == 0
    assert src.read_bytes() == before
    for suffix in ("outliers", "outliers_removed", "svd", "svd_removed", "diffused"):
        assert (tmp_path / "out" / f"g.{suffix}.nc").is_file()
    assert (tmp_path / "out" / "g.stages.png").is_file()
    assert "diffuse = true" in (tmp_path / "out" / "g.config.toml").read_text()
    with xr.open_dataset(tmp_path / "out" / "g.outliers.nc") as ds:
        assert int(np.isfinite(ds["anomaly"]).sum()) == 1  # the 5000 nT node, kept aside
    # stages add back up: svd + removed = outliers-removed grid
    with xr.open_dataset(tmp_path / "out" / "g.svd.nc") as a, \
            xr.open_dataset(tmp_path / "out" / "g.svd_removed.nc") as b, \
            xr.open_dataset(tmp_path / "out" / "g.outliers_removed.nc") as c:
        np.testing.assert_allclose((a["anomaly"] + b["anomaly"]).values, c["anomaly"].values,
                                   atol=1e-9)


def test_lma_preprocess_unreadable_input(tmp_path, capsys):
    bad = tmp_path / "bad.nc"
    bad.write_text("not netcdf")
    for path, match in ((tmp_path / "missing.nc", "missing.nc: no such file"),
                        (bad, "bad.nc: not a readable netCDF file")):
        code = main(["lma", "preprocess", str(path), "--outliers", "--out",
                     str(tmp_path / "o.nc")])
        err = capsys.readouterr().err
        assert code == 2
        assert match in err
        assert "Traceback" not in err


@pytest.mark.parametrize(("argv", "match"), [
    (["--diffuse", "1,2"], "SIGMA,RHO,T"),
    ([], "no step selected"),
])
def test_lma_preprocess_bad_options(tmp_path, capsys, argv, match):
    src = tmp_path / "in.nc"
    _stripe_grid(src)
    code = main(["lma", "preprocess", str(src), "--out", str(tmp_path / "o.nc"), *argv])
    assert code == 2
    assert match in capsys.readouterr().err


def test_synth_seafloor_writes_labelled_grids(tmp_path, registered):
    import xarray as xr

    registered("gpts/timescales.txt")
    code = main(["synth", "seafloor", "--out", str(tmp_path), "-n", "2", "--size", "64",
                 "--seed", "7"])
    assert code == 0
    with xr.open_dataset(tmp_path / "seafloor_00007.nc") as ds:
        assert ds["anomaly"].shape == (64, 64)
        assert set(np.unique(ds["linear"].values)) <= {0, 1}
    assert (tmp_path / "seafloor.config.toml").is_file()


def test_synth_seafloor_tracks_option(tmp_path, registered):
    import xarray as xr

    pytest.importorskip("verde")
    registered("gpts/timescales.txt")
    code = main(["synth", "seafloor", "--out", str(tmp_path), "-n", "1", "--size", "64",
                 "--tracks", "4"])
    assert code == 0
    with xr.open_dataset(tmp_path / "seafloor_00000.nc") as ds:
        assert 0 < float(np.isnan(ds["anomaly"]).mean()) < 1
        assert not np.isnan(ds["anomaly_full"]).any()
    assert "tracks = 4" in (tmp_path / "seafloor.config.toml").read_text()


def test_crowdmag_errors_are_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    code = main(["crowdmag", "evaluate", str(tmp_path / "none.pt"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "no checkpoint" in err
    assert "Traceback" not in err
    code = main(["crowdmag", "train", "--out", str(tmp_path), "--sources", "moon"])
    err = capsys.readouterr().err
    assert code == 2
    assert "sources must be" in err
    with pytest.raises(SystemExit):
        main(["crowdmag", "train", "--out", str(tmp_path), "--oversample", "britain:2"])
    assert "SOURCE=FACTOR" in capsys.readouterr().err


def test_crowdmag_train_options_reach_the_config():
    from magnetar.cli import build_parser
    from magnetar.workflows.crowdmag.cli import _crowdmag_config

    parse = build_parser().parse_args
    cfg = _crowdmag_config(parse(["crowdmag", "train", "--out", "x"]))
    # defaults: the reported configuration, the same through the CLI and the Python API
    from magnetar.workflows.crowdmag.run import AEConfig

    assert cfg.oversample == {"britain": 10}
    assert cfg.train_config() == AEConfig().train_config()
    assert cfg.train_config().model_kwargs["thin_plate"] == (0.05, 0.5)
    assert cfg.train_config().loss_units == "nT"
    cfg = _crowdmag_config(parse(["crowdmag", "train", "--out", "x", "--thin-plate", "none",
                                  "--oversample", "britain=2,emag2v3=0.5",
                                  "--loss-units", "tile"]))
    assert cfg.train_config().model_kwargs == {"thin_plate": ()}
    assert cfg.train_config().loss_units == "tile"
    assert cfg.oversample == {"britain": 2.0, "emag2v3": 0.5}
    cfg = _crowdmag_config(parse(["crowdmag", "train", "--out", "x", "--model", "dense_ae"]))
    assert "thin_plate" not in cfg.train_config().model_kwargs
    assert _crowdmag_config(parse(["crowdmag", "search", "--out", "x",
                                   "--oversample", "none"])).oversample == {}


def test_crowdmag_config_file_reads_back(tmp_path):
    from magnetar.cli import build_parser
    from magnetar.config import save_config
    from magnetar.workflows.crowdmag.cli import _crowdmag_config
    from magnetar.workflows.crowdmag.run import AEConfig

    path = save_config(AEConfig(tile_km=60.0, train={"epochs": 3}), tmp_path / "c.toml",
                       section="crowdmag")
    parse = build_parser().parse_args
    cfg = _crowdmag_config(parse(["crowdmag", "train", "--out", "x", "--config", str(path),
                                  "--lr", "0.002"]))
    assert cfg.tile_km == 60.0
    assert (cfg.train_config().epochs, cfg.train_config().lr) == (3, 0.002)


def test_crowdmag_train_noise_from_the_device(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from magnetar.workflows.crowdmag import run as cm

    rng = np.random.default_rng(1)
    lines = ["Time (UTC),Latitude (deg),Longitude (deg), Total Field (nT), "
             "Horizontal Component (nT), Vertical Component (nT)"]
    lines += [f"2021-12-15 10:{i // 60:02d}:{i % 60:02d},61.2,-149.9,{55000 + 80 * v:.2f},0,0"
              for i, v in enumerate(rng.normal(size=1800))]
    still = tmp_path / "crowdmag_office 1_iPhone12,1_2021-12-15 100000.csv"
    still.write_text("\n".join(lines) + "\n", encoding="utf-8")
    seen = {}

    def fake_train(out, config, **kwargs):  # the CLI's work ends at the config
        seen["config"] = config
        return None, [{"val_loss": 1.0}], {"checkpoint": "x"}

    monkeypatch.setattr(cm, "run_train", fake_train)
    assert main(["crowdmag", "train", "--out", str(tmp_path / "ae"), "--noise-from",
                 str(still), "--samples-per-pixel", "16"]) == 0
    noise = seen["config"].train["corruption"]["noise_nT"]
    assert noise == pytest.approx(80.0 / 4, rel=0.08)  # 80 nT per sample / sqrt(16)
    assert "nT per pixel of 16 samples" in capsys.readouterr().out


def test_iar_spectrogram_and_synth(tmp_path, capsys):
    from magnetar import datasets

    mseed = datasets.fetch("timeseries/LLO_10Hz_20200106.mseed")
    assert main(["iar", "spectrogram", str(mseed), "--out", str(tmp_path / "s")]) == 0
    import xarray as xr

    spec = xr.load_dataset(tmp_path / "s" / "LLO_10Hz_20200106_spectrogram.nc")["spectrogram"]
    assert spec.sizes["time"] == 144
    assert float(spec.frequency.max()) <= 5.0
    assert (tmp_path / "s" / "LLO_10Hz_20200106_night_2020-01-05.png").is_file()
    assert main(["iar", "synth", "-n", "2", "--out", str(tmp_path / "n")]) == 0
    nights = xr.load_dataset(tmp_path / "n" / "nights.nc")
    assert nights.sizes["night"] == 2
    assert set(np.unique(nights["mask"])) <= {0, 1}
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2\n3 x\n")
    assert main(["iar", "spectrogram", str(bad), "--out", str(tmp_path / "b"),
                 "--sampling-rate", "100"]) != 0
    assert "line 2" in capsys.readouterr().err


def test_lma_compare_switches_reach_run_compare(tmp_path, monkeypatch, capsys):
    from magnetar.workflows.lma import run as lma

    seen = {}

    def fake(out, config, **kwargs):
        seen.update(kwargs)
        return None, {"ok": True}

    monkeypatch.setattr(lma, "run_compare", fake)
    assert main(["lma", "compare", "--out", str(tmp_path), "--no-cnn", "--seeds", "3,4"]) == 0
    assert seen["cnn"] is False
    assert seen["baseline"] is True
    assert seen["seeds"] == (3, 4)
    assert seen["cnn_batch_norm"] is False
    assert main(["lma", "compare", "--out", str(tmp_path), "--no-baseline", "--batch-norm"]) == 0
    assert seen["cnn"] is True
    assert seen["baseline"] is False
    assert seen["cnn_batch_norm"] is True
    assert seen["pretrained_diffused_path"] is None
    assert main(["lma", "compare", "--out", str(tmp_path), "--pretrained", "a.pt",
                 "--pretrained-diffused", "b.pt"]) == 0
    assert (seen["pretrained_path"], seen["pretrained_diffused_path"]) == ("a.pt", "b.pt")
    assert seen["unfreeze"] is False
    assert main(["lma", "compare", "--out", str(tmp_path), "--pretrained", "a.pt",
                 "--unfreeze", "--fine-tune-lr", "3e-5"]) == 0
    assert (seen["unfreeze"], seen["fine_tune_lr"]) == (True, 3e-5)
    assert '"ok": true' in capsys.readouterr().out


def test_iar_train_labelled_folder_errors_are_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    code = main(["iar", "train", "--out", str(tmp_path / "run"), "--labelled",
                 str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2
    assert "no such folder of labelled nights" in err
    assert "Traceback" not in err
    code = main(["iar", "train", "--out", str(tmp_path / "run"), "--val-fraction", "1.5"])
    assert code == 2
    assert "val_fraction must be in (0, 1)" in capsys.readouterr().err


def test_iar_train_schedule_edge_weight_and_init_from_reach_the_training_config(
        tmp_path, monkeypatch):
    from magnetar.workflows.iar import run as iar

    seen = {}

    def fake(out, config, **kwargs):
        seen["train"] = config.train_config()
        return None, [{"val_iou": 0.5}], {"threshold": 0.5, "checkpoint": "x"}

    monkeypatch.setattr(iar, "run_train", fake)
    start = tmp_path / "start.pt"
    assert main(["iar", "train", "--out", str(tmp_path / "run"), "--lr-schedule", "cosine",
                 "--edge-weight", "2.5", "--init-from", str(start)]) == 0
    assert seen["train"].lr_schedule == "cosine"
    assert seen["train"].edge_weight == 2.5
    assert seen["train"].init_from == str(start)


def test_iar_train_config_file_reads_back_and_options_override_it(tmp_path, monkeypatch):
    from magnetar.config import save_config
    from magnetar.workflows.iar import run as iar

    seen = []

    def fake(out, config, **kwargs):
        seen.append(config)
        return None, [{"val_iou": 0.5}], {"threshold": 0.5, "checkpoint": "x"}

    monkeypatch.setattr(iar, "run_train", fake)
    written = save_config(iar.IARPipelineConfig(n_train=7, train={"epochs": 2, "lr": 5e-4}),
                          tmp_path / "iar.config.toml", section="iar")
    assert main(["iar", "train", "--out", str(tmp_path / "a"), "--config", str(written)]) == 0
    assert main(["iar", "train", "--out", str(tmp_path / "b"), "--config", str(written),
                 "--epochs", "3", "--base", "8"]) == 0
    first, second = (c.train_config() for c in seen)
    assert (seen[0].n_train, first.epochs, first.lr) == (7, 2, 5e-4)
    assert (second.epochs, second.lr, second.model_kwargs["base"]) == (3, 5e-4, 8)
    # no option given: the dataclasses' defaults, not a second copy in the parser
    assert main(["iar", "train", "--out", str(tmp_path / "c")]) == 0
    assert seen[2].train_config() == iar.IARPipelineConfig().train_config()


def test_clean_reads_and_writes_imagcdf(tmp_path, capsys):
    pytest.importorskip("cdflib")
    from magnetar.io import read_iaga2002, read_imagcdf, write_imagcdf

    cdfs = []
    for path in _write_inputs(tmp_path):
        ds = read_iaga2002(path)
        cdfs.append(write_imagcdf(ds, path.with_suffix(".cdf")))
    before = [p.read_bytes() for p in cdfs]
    out = tmp_path / "out"
    code = main(["clean", *map(str, cdfs), "--out", str(out), "--format", "imagcdf,iaga2002",
                 "--no-figures"])
    assert code == 0
    assert [p.read_bytes() for p in cdfs] == before
    written = sorted(out.glob("aaa_*_2.cdf"))
    assert [p.name for p in written] == ["aaa_20240301_000000_2.cdf"]
    cleaned = read_imagcdf(written[0])
    original = read_imagcdf(cdfs[0])
    assert cleaned.sizes["time"] == original.sizes["time"]
    assert (out / "aaa20240301clean.sec").is_file()
    # the injected spikes (20 nT at samples 1000 and 5000 of AAA's X) are gone
    assert abs(cleaned["X"].values[1000] - original["X"].values[1000]) > 10


def test_clean_refuses_unknown_format_before_reading(tmp_path, capsys):
    paths = _write_inputs(tmp_path)
    code = main(["clean", *map(str, paths), "--out", str(tmp_path / "o"), "--format", "csv"])
    assert code == 2
    assert "--format must be among iaga2002, imagcdf; got csv" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_iar_predict_uses_the_shipped_model_by_default(tmp_path, monkeypatch, capsys):
    from magnetar.pretrained import pretrained_path
    from magnetar.workflows.iar import run as iar

    seen = {}

    def fake(spectrogram, model, out, **kwargs):
        seen["model"] = model

    monkeypatch.setattr(iar, "run_predict", fake)
    assert main(["iar", "predict", str(tmp_path / "s.nc"), "--out", str(tmp_path / "p.nc")]) == 0
    assert seen["model"] == pretrained_path("iar_unet16.pt")


def test_crowdmag_search_keeps_the_randomization_it_was_given(tmp_path, monkeypatch):
    from magnetar.training import search
    from magnetar.workflows.crowdmag import run as cm

    seen = {}

    def fake_search(objective, space, out_dir, **kwargs):
        seen["space"] = space
        return None, {"fixed": kwargs["extra"]["fixed"]}

    monkeypatch.setattr(search, "run_search", fake_search)
    assert main(["crowdmag", "search", "--out", str(tmp_path), "--randomization", "20"]) == 0
    assert seen["space"]["randomization"] == [20]
    assert seen["space"]["tile_km"] == cm.SEARCH_SPACE["tile_km"]  # not given: searched
    assert main(["crowdmag", "search", "--out", str(tmp_path)]) == 0
    assert seen["space"]["randomization"] == cm.SEARCH_SPACE["randomization"]


@pytest.mark.parametrize("model", ["dense_ae", "conv_masked_ae"])
def test_crowdmag_search_objectives_score_the_validation_region(tmp_path, monkeypatch, model):
    from magnetar.training import search
    from magnetar.workflows.crowdmag import run as cm

    trial = {"epochs": 1, "hidden_layers": 1, "loss": "mae", "optimizer": "adam",
             "tile_km": 32.0, "encoding": 8, "randomization": 20, "mask_fraction": 0.5,
             "model": model}
    scores = {}

    def fake_search(objective, space, out_dir, **kwargs):
        assert set(space) == set(cm.SEARCH_SPACE)
        scores[kwargs["extra"]["objective"]] = objective(trial)
        return None, {}

    monkeypatch.setattr(search, "run_search", fake_search)
    config = cm.AEConfig(tile_px=16, sources=("seafloor",), train={"device": "cpu"})
    for objective in ("mae", "wasserstein", "mae+wasserstein"):
        cm.run_search(tmp_path, config, objective=objective)
    assert all(np.isfinite(v) and v > 0 for v in scores.values())
    # the same model and validation tiles: the sum is the sum of the two scores
    assert scores["mae+wasserstein"] == pytest.approx(scores["mae"] + scores["wasserstein"])
    from magnetar.errors import ValidationError

    with pytest.raises(ValidationError, match="--objective"):
        cm.run_search(tmp_path, config, objective="kl")
