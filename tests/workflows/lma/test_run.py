"""Linear-anomaly pipeline end to end on tiny synthetic grids, and the CLI."""


import numpy as np
import pytest
import xarray as xr

from magnetar.cli import main
from magnetar.workflows.lma.run import (
    LMAConfig,
    run_label_export,
    run_predict,
    run_sweep,
    run_train,
    run_windows,
    synthetic_corpus,
)

pytestmark = pytest.mark.realdata  # the generator reads the polarity time scale

SMALL = LMAConfig(n_grids=3, grid_size=120, size=60, stride=30, tracks=30, spacing_km=2.0,
                  train={"epochs": 1, "device": "cpu", "batch_size": 8})


def test_corpus_labels_follow_the_truth():
    windows, table = synthetic_corpus(SMALL)
    assert windows["raw"].shape == (len(table), 60, 60)
    assert set(table.group) == {0, 1, 2}
    lab = table.label.to_numpy()
    frac = table.fraction.to_numpy()
    assert (lab[frac >= 0.7] == 1).all()
    assert (lab[frac <= 0.3] == 0).all()
    assert (lab[(frac > 0.3) & (frac < 0.7)] == -1).all()


def test_train_predict_sweep_and_exports(tmp_path):
    config = LMAConfig(**{**SMALL.__dict__, "n_grids": 6, "split": "random"})
    report = run_train(tmp_path / "run", config, figure=False)
    assert set(report["sizes"]) == {"train", "val", "test"}
    assert (tmp_path / "run" / "checkpoints" / "best.pt").is_file()
    # a grid to map: a stripe pattern
    yy, xx = np.mgrid[0:150, 0:150]
    grid = xr.DataArray(np.sin(xx / 3.0) * 100, dims=("northing", "easting"),
                        coords={"northing": yy[:, 0] * 2000.0, "easting": xx[0] * 2000.0},
                        name="anomaly")
    grid.to_netcdf(tmp_path / "grid.nc")
    before = (tmp_path / "grid.nc").read_bytes()
    out = run_predict(tmp_path / "grid.nc", tmp_path / "run" / "checkpoints" / "best.pt",
                      tmp_path / "map.nc", stride=10, figure=False)
    assert (tmp_path / "grid.nc").read_bytes() == before  # input untouched
    with xr.open_dataset(tmp_path / "map.nc") as res:
        assert res["linear"].shape == grid.shape
        assert np.allclose(res["northing"], grid["northing"])
    assert 0 <= out["linear_percentage"] <= 100
    table = run_sweep(tmp_path / "grid.nc", tmp_path / "run" / "checkpoints" / "best.pt",
                      tmp_path / "sweep", sizes=(40, 60), stride=10, figure=False)
    assert list(table.window_size) == [40, 60]
    wins = run_windows(tmp_path / "grid.nc", tmp_path / "w.csv", size=60, stride=30)
    assert len(wins) == 16
    assert (wins.label == -1).all()
    exported = run_label_export(tmp_path / "grid.nc", tmp_path / "png",
                                LMAConfig(size=60, stride=30, grid_size=150), limit=3)
    assert len(exported) == 3
    from PIL import Image

    with Image.open(tmp_path / "png" / exported.file[0]) as img:
        assert img.size == (60 + 4 + 60, 60)


def test_cli_lma_help_and_errors(capsys):
    with pytest.raises(SystemExit) as err:
        main(["lma", "train", "--help"])
    assert err.value.code == 0
    assert "blocked" in capsys.readouterr().out.lower()
    assert main(["lma", "predict", "missing.nc", "--model", "none.pt", "--out", "x.nc"]) != 0


def test_compare_baseline_only_summarises_each_variant_over_seeds(tmp_path):
    import pandas as pd

    from magnetar.errors import ValidationError
    from magnetar.workflows.lma.run import run_compare

    config = LMAConfig(**{**SMALL.__dict__, "n_grids": 6, "split": "random"})
    table, summary = run_compare(tmp_path, config, seeds=(0, 1), cnn=False)
    rows = pd.read_csv(tmp_path / "compare.csv")
    assert set(zip(rows.model, rows.input, strict=True)) == {
        ("coherence_baseline", "raw"), ("coherence_baseline", "diffused"),
        ("texture_baseline", "raw"), ("texture_baseline", "diffused")}
    assert sorted(rows.seed) == [0] * 4 + [1] * 4
    for s in summary:
        acc = rows[(rows.model == s["model"]) & (rows.input == s["input"])].accuracy
        assert s["accuracy_mean"] == pytest.approx(acc.mean())
        assert s["seeds"] == 2
    with pytest.raises(ValidationError, match="nothing to compare"):
        run_compare(tmp_path / "none", config, seeds=(0,), cnn=False, baseline=False)
    assert not (tmp_path / "none").exists()


def test_compare_summary_gives_t_intervals_of_accuracy_f1_and_auc():
    import pandas as pd

    from magnetar.workflows.lma.run import _compare_summary

    table = pd.DataFrame({"seed": [0, 1, 2], "model": ["cnn"] * 3, "input": ["raw"] * 3,
                          "accuracy": [0.8, 0.9, 1.0], "f1": [0.5, 0.5, 0.5],
                          "roc_auc": [0.7, np.nan, 0.9]})
    (row,) = _compare_summary(table)
    # mean 0.9, sd 0.1, t(0.975, 2 dof) = 4.3027: half-width 4.3027 * 0.1 / sqrt(3)
    assert row["accuracy_mean"] == pytest.approx(0.9)
    assert row["ci95_half_width"] == pytest.approx(0.24842, abs=1e-4)
    assert row["f1_mean"] == pytest.approx(0.5)
    assert row["f1_ci95_half_width"] == 0.0
    # a seed without an AUC (one class in its test split) is left out: two seeds, t(1) = 12.706
    assert row["roc_auc_mean"] == pytest.approx(0.8)
    assert row["roc_auc_ci95_half_width"] == pytest.approx(12.706 * 0.1414214 / np.sqrt(2),
                                                           rel=1e-3)


def test_compare_resumes_without_retraining_what_it_has(tmp_path, monkeypatch):
    import pandas as pd

    import magnetar.workflows.lma.run as lma_run

    config = LMAConfig(**{**SMALL.__dict__, "n_grids": 6, "split": "random"})
    _, first = lma_run.run_compare(tmp_path, config, seeds=(0,), cnn=False)

    def trained(*args, **kwargs):
        msg = "an arm already in compare.csv was trained again"
        raise AssertionError(msg)

    monkeypatch.setattr(lma_run, "train_and_test", trained)
    monkeypatch.setattr(lma_run, "synthetic_corpus", trained)
    table, again = lma_run.run_compare(tmp_path, config, seeds=(0,), cnn=False)
    pd.testing.assert_frame_equal(pd.DataFrame(again), pd.DataFrame(first))
    assert len(table) == 4
    # other options: nothing is reused
    with pytest.raises(AssertionError, match="trained again"):
        lma_run.run_compare(tmp_path, config, seeds=(0,), cnn=False, cnn_batch_norm=True)


def test_compare_gives_the_cnn_batch_norm_and_transfer_a_frozen_or_tuned_base(tmp_path,
                                                                             monkeypatch):
    import numpy as np
    import pandas as pd

    from magnetar.errors import ValidationError
    from magnetar.workflows.lma import run as lma

    seen = []

    def corpus(config, progress=False):
        return {"raw": np.zeros((1, 2, 2)), "diffused": np.ones((1, 2, 2))}, pd.DataFrame()

    def fit(windows, table, config, train_override=None, **kwargs):
        seen.append((float(windows.mean()), train_override))
        return {"metrics": {"accuracy": 0.5, "f1": 0.5, "roc_auc": 0.5},
                "sizes": {"train": 1, "test": 1}, "history": [{}]}

    monkeypatch.setattr(lma, "synthetic_corpus", corpus)
    monkeypatch.setattr(lma, "train_and_test", fit)
    lma.run_compare(tmp_path, SMALL, seeds=(0,), baseline=False, cnn_batch_norm=True,
                    pretrained_path="pre.pt")
    (cnn_input, cnn), *transfer = seen
    assert cnn_input == 0.0  # the plain CNN sees raw windows
    assert cnn["model"] == "lma_cnn"
    assert cnn["model_kwargs"] == {"batch_norm": True}
    assert [m for m, _ in transfer] == [0.0, 1.0]  # transfer on raw, then diffused
    for _, override in transfer:
        assert override["model_kwargs"] == {"weights_path": "pre.pt", "freeze": True}
    seen.clear()
    lma.run_compare(tmp_path, SMALL, seeds=(0,), baseline=False, cnn=False,
                    pretrained_path="pre.pt", pretrained_diffused_path="pre_d.pt")
    assert [o["model_kwargs"]["weights_path"] for _, o in seen] == ["pre.pt", "pre_d.pt"]
    with pytest.raises(ValidationError, match="needs --pretrained"):
        lma.run_compare(tmp_path / "bad", SMALL, seeds=(0,), pretrained_diffused_path="p.pt")
    assert not (tmp_path / "bad").exists()  # refused before anything is written
    seen.clear()
    _, summary = lma.run_compare(tmp_path, SMALL, seeds=(0,), baseline=False, cnn=False,
                                 pretrained_path="pre.pt", unfreeze=True, fine_tune_lr=2e-5)
    assert [o["model_kwargs"]["freeze"] for _, o in seen] == [False, False]
    assert [o["lr"] for _, o in seen] == [2e-5, 2e-5]  # the whole backbone at the low rate
    assert [s["model"] for s in summary] == ["transfer_synthetic_finetuned"] * 2
    with pytest.raises(ValidationError, match="fine_tune_lr"):
        lma.run_compare(tmp_path / "bad_lr", SMALL, seeds=(0,), pretrained_path="pre.pt",
                        unfreeze=True, fine_tune_lr=0.0)
    assert not (tmp_path / "bad_lr").exists()


def test_a_diffused_grid_is_never_diffused_twice(tmp_path):
    import numpy as np
    import xarray as xr

    from magnetar.grids import coherence_diffusion
    from magnetar.io import read_grid, write_grid
    from magnetar.workflows.lma.run import LMAConfig, _diffused

    n = 48
    y, x = np.mgrid[0:n, 0:n]
    grid = xr.DataArray(np.sin(x / 3.0) + 0.3 * np.random.default_rng(0).standard_normal((n, n)),
                        dims=("northing", "easting"),
                        coords={"northing": np.arange(n) * 1e3, "easting": np.arange(n) * 1e3},
                        name="anomaly", attrs={"units": "nT"})
    once = coherence_diffusion(grid, sigma=1.0, rho=6.0, time=5.0)
    back = read_grid(write_grid(once, tmp_path / "d.nc"))
    assert "diffusion" in back.attrs  # preprocess records it, the reader keeps it
    again = _diffused(back, LMAConfig())
    np.testing.assert_array_equal(again.values, back.values)
    fresh = _diffused(grid, LMAConfig())
    assert not np.allclose(fresh.values, grid.values)  # an undiffused grid is diffused


def test_corpus_negatives_are_grids_of_their_own_all_non_linear(caplog):
    from magnetar.workflows.lma.run import (
        GEOLOGY_GROUP,
        SURVEY_GROUP,
        LMAConfig,
        synthetic_corpus,
    )

    config = LMAConfig(n_grids=1, grid_size=96, size=64, stride=32, tracks=0,
                       geology_grids=2, surveys=("britain", "rio"), clip_nT=200.0)
    with caplog.at_level("WARNING"):
        windows, table = synthetic_corpus(config)
    assert "rio" in caplog.text
    assert "smaller than the 64-node window" in caplog.text
    groups = set(table["group"])
    assert {GEOLOGY_GROUP + 0, GEOLOGY_GROUP + 1, SURVEY_GROUP} <= groups
    negatives = table["group"] >= GEOLOGY_GROUP
    assert (table.loc[negatives, "label"] == 0).all()
    assert (table["group"] == SURVEY_GROUP).sum() > 0  # Britain: 336 x 182 nodes at 3.7 km
    assert len(windows["raw"]) == len(table)


def test_product_clip_quantises_to_255_levels():
    import xarray as xr

    from magnetar.workflows.lma.run import LMAConfig, _as_product

    grid = xr.DataArray(np.linspace(-500, 500, 10_000).reshape(100, 100))
    out = _as_product(grid, LMAConfig(clip_nT=200.0)).values
    assert out.min() == pytest.approx(-200)
    assert out.max() == pytest.approx(200)
    assert np.unique(out).size <= 256
    assert np.abs(out - np.clip(grid.values, -200, 200)).max() <= 400 / 255 / 2 + 1e-9
    assert _as_product(grid, LMAConfig()) is grid


def test_field_direction_fixed_or_drawn_with_remanence():
    from magnetar.workflows.lma.run import _field_direction

    assert _field_direction((60.0, 60.0), 3) == {"inclination": 60.0}
    drawn = [_field_direction((10.0, 80.0), s) for s in range(40)]
    assert all(10 <= abs(d["inclination"]) <= 80 for d in drawn)
    assert {np.sign(d["inclination"]) for d in drawn} == {-1.0, 1.0}
    assert drawn[0] == _field_direction((10.0, 80.0), 0)
