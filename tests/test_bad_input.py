"""Malformed inputs and options for every command: a clear refusal, nothing lost.

Each case runs the real command line and asserts: exit code 2, a one-paragraph message
starting "magnetar: error:" that names the file, line or option at fault, no traceback,
every input byte-identical afterwards, and no output that looks complete.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from magnetar.cli import main
from magnetar.io import write_iaga2002
from magnetar.processing import split_stations
from magnetar.synthetic import synthetic_observatories

HEADER = "Time (UTC),Latitude (deg),Longitude (deg), X (nT), Y (nT), Z (nT), Tempature (°F)\n"


def _stations(tmp_path, *, days=0.05, start="2024-03-01"):
    ds = synthetic_observatories(days=days, sampling_period=1.0, components=("X", "Y", "Z"),
                                 seed=1)
    ds = ds.assign_coords(time=pd.date_range(start, periods=ds.sizes["time"], freq="s"))
    paths = []
    for name, one in split_stations(ds).items():
        one.attrs.update({"iaga_code": name, "data_interval_type": "1-second"})
        paths.append(write_iaga2002(one, tmp_path / f"{name.lower()}.sec"))
    return paths


def _grid(path, n=40):
    y, x = np.mgrid[0:n, 0:n]
    da = xr.DataArray(np.sin(x / 5.0) * 100, dims=("northing", "easting"),
                      coords={"northing": np.arange(n) * 1000.0,
                              "easting": np.arange(n) * 1000.0}, name="anomaly",
                      attrs={"units": "nT"})
    da.to_netcdf(path)
    return path


def _refused(capsys, argv, *, inputs=(), match=(), no_outputs=()):
    """Run ``argv``; assert the refusal contract; return the message."""
    before = {p: p.read_bytes() for p in inputs if p.is_file()}
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, f"exit {code}; stderr: {err[-500:]}"
    assert err.startswith("magnetar: error:") or "error:" in err.splitlines()[-1], err
    assert "Traceback" not in err
    message = err.splitlines()[-1]
    for needle in match:
        assert needle in message, f"{needle!r} not in {message!r}"
    for path, content in before.items():
        assert path.read_bytes() == content, f"{path} changed"
    for path in no_outputs:
        assert not path.exists(), f"{path} looks complete"
    return message


# -- clean --------------------------------------------------------------------------------

def test_clean_far_dated_row(tmp_path, capsys):
    paths = _stations(tmp_path)
    text = paths[0].read_text().splitlines()
    text[-1] = "2200-01-01" + text[-1][10:24] + "001" + text[-1][27:]
    paths[0].write_text("\n".join(text) + "\n")
    _refused(capsys, ["clean", *paths, "--out", tmp_path / "o"], inputs=paths,
             match=("aaa.sec", "days after the previous sample"),
             no_outputs=[tmp_path / "o" / "cleaned.nc"])


def test_clean_files_of_different_days(tmp_path, capsys):
    a = _stations(tmp_path / "a", start="2024-03-01")[:1]
    b = _stations(tmp_path / "b", start="2024-03-02")[1:2]
    _refused(capsys, ["clean", *a, *b, "--out", tmp_path / "o"], inputs=[*a, *b],
             match=("overlap by 0 samples", "AAA 2024-03-01", "BBB 2024-03-02"),
             no_outputs=[tmp_path / "o"])


@pytest.mark.parametrize(("option", "value", "needle"), [
    ("--k", "nan", "k must be a positive finite number"),
    ("--k", "-1", "k must be a positive finite number"),
    ("--k", "inf", "k must be a positive finite number"),
    ("--k", "abc", "--k"),
    ("--tolerance", "-2", "tolerance must be >= 0"),
    ("--min-stations", "0", "min_stations must be >= 1"),
    ("--cutoff-period", "0", "cutoff_period_s must be a positive finite number"),
    ("--rule", "magic", "--rule"),
    ("--components", "Q", "lacks component(s) ['Q']"),
    ("--format", "csv", "--format must be among iaga2002, imagcdf"),
    ("--workers", "0", "--workers"),
    ("--workers", "two", "--workers"),
])
def test_clean_bad_option(tmp_path, capsys, option, value, needle):
    paths = _stations(tmp_path)
    _refused(capsys, ["clean", *paths, "--out", tmp_path / "o", option, value], inputs=paths,
             match=(needle,), no_outputs=[tmp_path / "o" / "cleaned.nc"])


def test_clean_inf_value_refused_naming_line(tmp_path, capsys):
    paths = _stations(tmp_path)
    text = paths[0].read_text().splitlines()
    row = next(i for i, line in enumerate(text) if line.startswith("2024"))
    text[row + 5] = text[row + 5][:31] + "      -inf" + text[row + 5][41:]
    paths[0].write_text("\n".join(text) + "\n")
    _refused(capsys, ["clean", *paths, "--out", tmp_path / "o"], inputs=paths,
             match=("aaa.sec", f"line {row + 6}"))


def test_clean_all_missing_station(tmp_path, capsys):
    paths = _stations(tmp_path)
    text = paths[1].read_text().splitlines()
    out = [line if not line.startswith("2024") else line[:31] + "".join(
        f"{99999.0:10.2f}" for _ in range(4)) for line in text]
    paths[1].write_text("\n".join(out) + "\n")
    _refused(capsys, ["clean", *paths, "--out", tmp_path / "o"], inputs=paths,
             match=("all missing", "BBB"))


def test_clean_out_is_an_existing_file(tmp_path, capsys):
    paths = _stations(tmp_path)
    target = tmp_path / "out.txt"
    target.write_text("keep me")
    _refused(capsys, ["clean", *paths, "--out", target], inputs=[*paths, target],
             match=("out.txt", "--out"))


# -- --config -----------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "needle"), [
    (b"\xff\xfe\x00k = 3", "not UTF-8"),
    (b"[cleen]\nk = 3\n", "no [clean] table"),
    (b"[clean]\nkk = 3\n", "unknown option(s) kk"),
    (b"[clean]\nk = \"three\"\n", "'k'"),
    (b"[clean]\nk = = 3\n", "not valid TOML"),
    (b"[clean]\nrule = \"magic\"\n", "rule must be one of peer, published, sharp"),
])
def test_bad_config_file(tmp_path, capsys, content, needle):
    paths = _stations(tmp_path)
    config = tmp_path / "c.toml"
    config.write_bytes(content)
    _refused(capsys, ["clean", *paths, "--out", tmp_path / "o", "--config", config],
             inputs=[*paths, config], match=("c.toml", needle),
             no_outputs=[tmp_path / "o"])


def test_config_is_a_folder(tmp_path, capsys):
    paths = _stations(tmp_path)
    _refused(capsys, ["clean", *paths, "--out", tmp_path / "o", "--config", tmp_path],
             inputs=paths, match=("is a folder",))


# -- lma ----------------------------------------------------------------------------------

def test_lma_preprocess_refuses_to_overwrite_its_input(tmp_path, capsys):
    grid = _grid(tmp_path / "g.nc")
    _refused(capsys, ["lma", "preprocess", grid, "--out", grid, "--outliers"], inputs=[grid],
             match=("g.nc", "would overwrite the input"))


def test_lma_preprocess_out_is_a_folder(tmp_path, capsys):
    grid = _grid(tmp_path / "g.nc")
    (tmp_path / "folder").mkdir()
    _refused(capsys, ["lma", "preprocess", grid, "--out", tmp_path / "folder", "--outliers"],
             inputs=[grid], match=("folder", "--out"))


def test_lma_corrupt_netcdf(tmp_path, capsys):
    grid = _grid(tmp_path / "g.nc")
    raw = bytearray(grid.read_bytes())
    raw[200:400] = b"\x00" * 200
    grid.write_bytes(bytes(raw))
    _refused(capsys, ["lma", "preprocess", grid, "--out", tmp_path / "o.nc", "--outliers"],
             inputs=[grid], match=("g.nc",), no_outputs=[tmp_path / "o.nc"])


def test_lma_binary_file_as_xyz(tmp_path, capsys):
    path = tmp_path / "points.xyz"
    path.write_bytes(bytes(range(256)) * 8)
    _refused(capsys, ["lma", "preprocess", path, "--out", tmp_path / "o.nc", "--regrid",
                      "1000"], inputs=[path], match=("points.xyz",),
             no_outputs=[tmp_path / "o.nc"])


def test_lma_xyz_row_with_wrong_field_count(tmp_path, capsys):
    path = tmp_path / "points.xyz"
    rows = [f"{i * 100.0} {j * 100.0} {np.sin(i + j):.3f}" for i in range(20) for j in range(20)]
    rows[57] = "1200.0 300.0"
    path.write_text("\n".join(rows) + "\n")
    _refused(capsys, ["lma", "preprocess", path, "--out", tmp_path / "o.nc", "--regrid",
                      "200"], inputs=[path], match=("points.xyz", "line 58"),
             no_outputs=[tmp_path / "o.nc"])


@pytest.mark.parametrize(("option", "value", "needle"), [
    ("--regrid", "1e-6", "--regrid"),
    ("--chunks", "0", "chunks"),
    ("--outlier-window", "2", "--outlier-window"),
    ("--outlier-window", "-5", "--outlier-window"),
])
def test_lma_preprocess_bad_numbers(tmp_path, capsys, option, value, needle):
    path = tmp_path / "points.xyz"
    rows = [f"{i * 100.0} {j * 100.0} {np.sin(i + j):.3f}" for i in range(20) for j in range(20)]
    path.write_text("\n".join(rows) + "\n")
    extra = ["--regrid", "200"] if option != "--regrid" else []
    extra += ["--outliers"] if option == "--outlier-window" else []
    _refused(capsys, ["lma", "preprocess", path, "--out", tmp_path / "o.nc", *extra, option,
                      value, "--diffuse", "1,6,1"], inputs=[path],
             match=(needle,), no_outputs=[tmp_path / "o.nc"])


def _shipped_lma():
    from magnetar.pretrained import pretrained_path

    return pretrained_path("lma_coherence.pt")


def test_lma_predict_grid_smaller_than_window(tmp_path, capsys):
    grid = _grid(tmp_path / "small.nc", n=40)
    _refused(capsys, ["lma", "predict", grid, "--model", _shipped_lma(), "--out",
                      tmp_path / "map.nc"], inputs=[grid], match=("small.nc", "40 x 40",
                                                                   "window"),
             no_outputs=[tmp_path / "map.nc"])


@pytest.mark.parametrize("stride", ["0", "-5"])
def test_lma_predict_bad_stride(tmp_path, capsys, stride):
    grid = _grid(tmp_path / "g.nc", n=300)
    _refused(capsys, ["lma", "predict", grid, "--model", _shipped_lma(), "--out",
                      tmp_path / "map.nc", "--stride", stride], inputs=[grid],
             match=("--stride",), no_outputs=[tmp_path / "map.nc"])


@pytest.mark.parametrize("chunks", ["0", "10"])
def test_lma_predict_bad_chunks(tmp_path, capsys, chunks):
    grid = _grid(tmp_path / "g.nc", n=300)
    _refused(capsys, ["lma", "predict", grid, "--model", _shipped_lma(), "--out",
                      tmp_path / "map.nc", "--chunks", chunks], inputs=[grid],
             match=("--chunks",), no_outputs=[tmp_path / "map.nc"])


def test_clean_archive_refuses_the_published_rule(tmp_path, capsys):
    paths = _stations(tmp_path)
    _refused(capsys, ["clean", *paths, "--out", tmp_path / "o", "--workers", "1", "--rule",
                      "published"], inputs=paths, match=("peer rule only",),
             no_outputs=[tmp_path / "o" / "events.csv"])


def test_iar_catalogue_missing_model(tmp_path, capsys):
    series = tmp_path / "site_20200101.npy"
    np.save(series, np.zeros(1000))
    _refused(capsys, ["iar", "catalogue", series, "--out", tmp_path / "cat", "--model",
                      tmp_path / "none.pt", "--sampling-rate", "100"], inputs=[series],
             match=("none.pt",), no_outputs=[tmp_path / "cat" / "catalogue.csv"])


def test_lma_predict_junk_model(tmp_path, capsys):
    grid = _grid(tmp_path / "g.nc", n=300)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    _refused(capsys, ["lma", "predict", grid, "--model", junk, "--out", tmp_path / "map.nc"],
             inputs=[grid, junk], match=("junk.pt",), no_outputs=[tmp_path / "map.nc"])


def test_lma_predict_out_must_be_netcdf(tmp_path, capsys):
    grid = _grid(tmp_path / "g.nc", n=300)
    _refused(capsys, ["lma", "predict", grid, "--model", _shipped_lma(), "--out",
                      tmp_path / "map.png"], inputs=[grid], match=("map.png", ".nc"),
             no_outputs=[tmp_path / "map.png"])


# -- crowdmag -----------------------------------------------------------------------------

def _crowdmag(path, rows):
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def _cm_rows(n=50):
    return [f"2022-03-18 13:{i // 60:02d}:{i % 60:02d},70.2{i:02d},-148.4{i:02d},"
            f"{1000 + i}.25,{200 + i}.5,{-50000 + i}.75,999.00" for i in range(n)]


def test_crowdmag_junk_checkpoint(tmp_path, capsys):
    rec = _crowdmag(tmp_path / "crowdmag_walk.csv", _cm_rows())
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x04not a pickle")
    _refused(capsys, ["crowdmag", "denoise", rec, "--checkpoint", junk, "--out",
                      tmp_path / "o"], inputs=[rec, junk], match=("junk.pt",))


@pytest.mark.parametrize("value", ["-5", "0", "nan"])
def test_crowdmag_bad_tile_km(tmp_path, capsys, value):
    rec = _crowdmag(tmp_path / "crowdmag_walk.csv", _cm_rows())
    _refused(capsys, ["crowdmag", "denoise", rec, "--tile-km", value, "--out",
                      tmp_path / "o", "--checkpoint", tmp_path / "none.pt"], inputs=[rec],
             match=("--tile-km",))


# -- iar ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("option", "value", "needle"), [
    ("--night", "18:00", "--night"),
    ("--nfft", "0", "--nfft"),
    ("--segment-s", "0", "--segment-s"),
])
def test_iar_spectrogram_bad_option(tmp_path, capsys, option, value, needle):
    series = tmp_path / "ts.npy"
    np.save(series, np.random.default_rng(0).standard_normal(100 * 600))
    _refused(capsys, ["iar", "spectrogram", series, "--sampling-rate", "100", "--out",
                      tmp_path / "o", option, value], inputs=[series], match=(needle,))


def test_iar_params_on_a_file_that_is_not_a_prediction(tmp_path, capsys):
    grid = _grid(tmp_path / "g.nc")
    _refused(capsys, ["iar", "params", grid, "--out", tmp_path / "p.csv"], inputs=[grid],
             match=("g.nc", "not a prediction"), no_outputs=[tmp_path / "p.csv"])


# -- readers: CrowdMag, tiles -------------------------------------------------------------

def test_crowdmag_truncated_last_row_is_dropped_and_counted(tmp_path):
    import json

    from magnetar.io import read_crowdmag

    rows = _cm_rows(10)
    path = tmp_path / "crowdmag_cut.csv"
    path.write_text(HEADER + "\n".join(rows[:-1]) + "\n" + rows[-1][:-12])  # cut mid-number
    ds = read_crowdmag(path)
    assert ds.sizes["point"] == 9
    reasons = json.loads(ds.attrs["dropped_reasons"])
    assert reasons == {"last row without a line end (truncated file)": 1}


def test_crowdmag_absurd_field_values_are_dropped_and_counted(tmp_path):
    import json

    from magnetar.io import read_crowdmag

    rows = _cm_rows(10)
    rows[4] = rows[4].replace(",1004.25,", ",1e200,")
    ds = read_crowdmag(_crowdmag(tmp_path / "crowdmag_x.csv", rows))
    assert ds.sizes["point"] == 9
    assert np.isfinite(ds["total"].values).all()
    assert json.loads(ds.attrs["dropped_reasons"]) == {"field beyond 10,000,000 nT": 1}


def _ae_checkpoint(tmp_path):
    from magnetar.training.reconstruction import TrainConfig, fit

    rng = np.random.default_rng(0)
    tiles = rng.normal(0, 50, (8, 32, 32))
    cfg = TrainConfig(model="conv_masked_ae", model_kwargs={"base": 4, "depth": 1},
                      epochs=1, batch_size=8, device="cpu")
    fit(tiles, tiles[:2], cfg, out_dir=tmp_path / "ae")
    return tmp_path / "ae" / "best.pt"


def test_crowdmag_denoise_reports_each_file_and_fails_on_bad_ones(tmp_path, capsys):
    pytest.importorskip("ppigrf")
    ckpt = _ae_checkpoint(tmp_path)
    good = _crowdmag(tmp_path / "crowdmag_good.csv", _cm_rows(60))
    future = _crowdmag(tmp_path / "crowdmag_2150.csv",
                       [r.replace("2022-", "2150-") for r in _cm_rows(60)])
    single = _crowdmag(tmp_path / "crowdmag_one.csv", _cm_rows(1))
    out = tmp_path / "o"
    message = _refused(capsys, ["crowdmag", "denoise", good, future, single, "--checkpoint",
                                ckpt, "--out", out, "--tile-km", "2"],
                       inputs=[good, future, single], match=("2 of 3 recordings failed",
                                                            "denoise_summary.csv"))
    assert "IGRF-14" in message
    summary = pd.read_csv(out / "denoise_summary.csv")
    status = dict(zip(summary["file"], summary["status"], strict=True))
    assert status["crowdmag_good.csv"] == "ok"
    assert "IGRF-14" in status["crowdmag_2150.csv"]
    assert "at least two positions" in status["crowdmag_one.csv"]
    assert (out / "crowdmag_good.nc").is_file()
    assert not (out / "crowdmag_2150.nc").exists()


def test_crowdmag_inputs_with_one_output_name(tmp_path, capsys):
    a = _crowdmag(tmp_path / "crowdmag a b.csv", _cm_rows())
    b = _crowdmag(tmp_path / "crowdmag a_b.csv", _cm_rows())
    _refused(capsys, ["crowdmag", "denoise", a, b, "--checkpoint", _ae_checkpoint(tmp_path),
                      "--out", tmp_path / "o"], inputs=[a, b],
             match=("would both write outputs named 'crowdmag_a_b'",))


def test_iar_inputs_with_one_output_name(tmp_path, capsys):
    a, b = tmp_path / "ts.a.npy", tmp_path / "ts_a.npy"
    for p in (a, b):
        np.save(p, np.zeros(6000))
    _refused(capsys, ["iar", "spectrogram", a, b, "--sampling-rate", "100", "--out",
                      tmp_path / "o"], inputs=[a, b], match=("would both write",),
             no_outputs=[tmp_path / "o"])


@pytest.mark.parametrize(("shape", "fill", "needle"), [
    ((1, 1), 100, "too small"),
    ((64, 64), 255, "every pixel is white"),
])
def test_png_tile_refused(tmp_path, capsys, shape, fill, needle):
    from PIL import Image

    path = tmp_path / "tile.png"
    Image.fromarray(np.full(shape, fill, np.uint8)).save(path)
    _refused(capsys, ["lma", "preprocess", path, "--out", tmp_path / "o.nc", "--outliers"],
             inputs=[path], match=("tile.png", needle), no_outputs=[tmp_path / "o.nc"])


# -- readers under random damage (hypothesis) ---------------------------------------------

import functools  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from magnetar.errors import MagnetarError  # noqa: E402

_DAMAGE = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(
    ["drop", "cut", "garbage", "swap", "nan", "dup"]), st.binary(min_size=1, max_size=12)),
    min_size=1, max_size=4)


def _damage(text, edits):
    lines = text.split("\n")
    for pos, kind, junk in edits:
        i = pos % len(lines)
        line = lines[i]
        if kind == "drop":
            del lines[i]
        elif kind == "cut":
            lines[i] = line[: pos % (len(line) + 1)]
        elif kind == "garbage":
            lines[i] = line + junk.decode("latin-1")
        elif kind == "swap" and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], line
        elif kind == "nan":
            lines[i] = line.replace("0", "nan", 1)
        elif kind == "dup":
            lines.insert(i, line)
        if not lines:
            lines = [""]
    return "\n".join(lines)


@functools.lru_cache(maxsize=1)
def _iaga_text():
    with tempfile.TemporaryDirectory() as folder:
        return _stations(Path(folder), days=0.002)[0].read_text()


def _survives(reader, path):
    """A reader either returns data or raises a MagnetarError naming the file."""
    try:
        return reader(path)
    except MagnetarError as err:
        message = str(err)
    assert path.name in message
    return None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=_DAMAGE)
def test_iaga2002_reader_under_damage(tmp_path, edits):
    from magnetar.io import read_iaga2002

    clean = _iaga_text()
    path = tmp_path / "damaged.sec"
    path.write_text(_damage(clean, edits), encoding="latin-1")
    out = _survives(read_iaga2002, path)
    if out is not None:
        assert out.sizes["time"] > 0
        for name in out.data_vars:
            assert not np.isinf(out[name].values).any()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=_DAMAGE)
def test_crowdmag_reader_under_damage(tmp_path, edits):
    from magnetar.io import read_crowdmag

    path = tmp_path / "crowdmag_damaged.csv"
    path.write_text(_damage(HEADER + "\n".join(_cm_rows(30)) + "\n", edits),
                    encoding="latin-1")
    out = _survives(read_crowdmag, path)
    if out is not None:
        assert np.isfinite(out["total"].values).all()
        assert (np.abs(out["total"].values) <= 1e7 * np.sqrt(3)).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=_DAMAGE)
def test_xyz_reader_under_damage(tmp_path, edits):
    from magnetar.io import read_points

    rows = [f"{i * 0.1:.2f} {j * 0.1:.2f} {np.sin(i + j):.3f}" for i in range(8) for j in range(8)]
    path = tmp_path / "damaged.xyz"
    path.write_text(_damage("\n".join(rows) + "\n", edits), encoding="latin-1")
    out = _survives(read_points, path)
    if out is not None:
        assert out.sizes["point"] > 0


# -- a table of quick refusals across the commands ------------------------------------------

@pytest.fixture(name="files")
def fixture_files(tmp_path):
    grid = _grid(tmp_path / "g.nc", n=64)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    return {"grid": grid, "junk": junk, "text": text, "missing": tmp_path / "missing.nc",
            "out": tmp_path / "o", "out_nc": tmp_path / "o.nc", "out_csv": tmp_path / "o.csv"}


QUICK = [
    (["clean", "{missing}", "{missing}", "--out", "{out}"], ("missing.nc", "no such file")),
    (["clean", "{text}", "--out", "{out}"], ("notes.txt",)),
    (["lma", "preprocess", "{missing}", "--out", "{out_nc}", "--outliers"],
     ("missing.nc", "no such file")),
    (["lma", "preprocess", "{text}", "--out", "{out_nc}", "--outliers"], ("notes.txt",)),
    (["lma", "preprocess", "{grid}", "--out", "{out_nc}", "--outliers", "-1"], ("outliers",)),
    (["lma", "preprocess", "{grid}", "--out", "{out_nc}", "--svd", "1.5"], ("svd_energy",)),
    (["lma", "preprocess", "{grid}", "--out", "{out_nc}", "--diffuse", "1,6"], ("--diffuse",)),
    (["lma", "preprocess", "{grid}", "--out", "{out_nc}", "--diffuse", "0,6,5"], ("sigma",)),
    (["lma", "preprocess", "{grid}", "--out", "{out_csv}", "--outliers"], ("o.csv", ".nc")),
    (["lma", "windows", "{grid}", "--out", "{out_csv}", "--size", "0"], ("--size",)),
    (["lma", "windows", "{grid}", "--out", "{out_csv}", "--stride", "-1"], ("--stride",)),
    (["lma", "windows", "{grid}", "--out", "{out_csv}", "--size", "500"], ("64 x 64", "500")),
    (["lma", "label-export", "{grid}", "--out", "{out}", "--size", "500"], ("64 x 64", "500")),
    (["lma", "predict", "{missing}", "--model", "{junk}", "--out", "{out_nc}"],
     ("missing.nc",)),
    (["lma", "predict", "{grid}", "--model", "{missing}", "--out", "{out_nc}"],
     ("missing.nc",)),
    (["lma", "sweep", "{grid}", "--model", "{junk}", "--out", "{out}"], ("junk.pt",)),
    (["iar", "predict", "{grid}", "--model", "{junk}", "--out", "{out_nc}"],
     ("g.nc", "no variable 'spectrogram'")),
    (["iar", "predict", "{missing}", "--model", "{junk}", "--out", "{out_nc}"],
     ("missing.nc",)),
    (["iar", "params", "{missing}", "--out", "{out_csv}"], ("missing.nc",)),
    (["iar", "params", "{text}", "--out", "{out_csv}"], ("notes.txt",)),
    (["iar", "evaluate", "{junk}", "--out", "{out}", "-n", "1"], ("junk.pt",)),
    (["iar", "synth", "--out", "{out}", "-n", "0"], ("-n",)),
    (["iar", "spectrogram", "{missing}", "--out", "{out}"], ("missing.nc",)),
    (["iar", "spectrogram", "{text}", "--out", "{out}", "--band", "5,1"], ("--band",)),
    (["synth", "seafloor", "--out", "{out}", "-n", "0"], ("-n",)),
    (["synth", "seafloor", "--out", "{out}", "--size", "2"], ("size",)),
    (["synth", "seafloor", "--out", "{out}", "--spacing-km", "-1"], ("spacing",)),
    (["datasets", "fetch", "no/such/file.nc"], ("no/such/file.nc",)),
    (["crowdmag", "denoise", "{missing}", "--checkpoint", "{junk}", "--out", "{out}"],
     ("junk.pt",)),
    (["crowdmag", "evaluate", "{junk}", "--out", "{out}"], ("junk.pt",)),
    (["crowdmag", "train", "--out", "{out}", "--epochs", "0"], ("epochs",)),
    (["crowdmag", "train", "--out", "{out}", "--lr", "-1"], ("lr",)),
    (["crowdmag", "search", "--out", "{out}", "--trials", "0"], ("--trials",)),
    (["iar", "train", "--out", "{out}", "--epochs", "0"], ("epochs",)),
    (["iar", "train", "--out", "{out}", "--nights", "0"], ("nights",)),
    (["lma", "train", "--out", "{out}", "--epochs", "0"], ("epochs",)),
]


@pytest.mark.parametrize(("argv", "needles"), QUICK, ids=[" ".join(a[:3]) + str(i)
                                                         for i, (a, _) in enumerate(QUICK)])
def test_quick_refusal(files, capsys, argv, needles):
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    inputs = [v for k, v in files.items() if k in ("grid", "junk", "text")]
    _refused(capsys, argv, inputs=inputs, match=needles,
             no_outputs=[files["out_nc"], files["out_csv"]])


def test_iar_spectrogram_keeps_good_files_and_reports_each(tmp_path, capsys):
    good = tmp_path / "good.npy"
    np.save(good, np.random.default_rng(0).standard_normal(100 * 600))
    short = tmp_path / "short.npy"
    np.save(short, np.zeros(50))  # far less than one 100 s segment
    out = tmp_path / "o"
    _refused(capsys, ["iar", "spectrogram", good, short, "--sampling-rate", "100", "--out", out],
             inputs=[good, short], match=("1 of 2 files failed", "spectrogram_summary.csv"))
    summary = pd.read_csv(out / "spectrogram_summary.csv")
    assert summary["status"].tolist()[0] == "ok"
    assert summary["status"].tolist()[1].startswith("failed")
    assert (out / "good_spectrogram.nc").is_file()
    assert not (out / "short_spectrogram.nc").exists()


@pytest.mark.parametrize(("argv", "needle"), [
    (["synth", "seafloor", "-n", "1", "--size", "200000"], "--size"),
    (["lma", "train", "--model", "lma_coherence", "--n-grids", "1", "--grid-size", "100000"],
     "--grid-size"),
    (["crowdmag", "train", "--randomization", "1000000000"], "--randomization"),
    (["iar", "train", "--nights", "100000000"], "--nights"),
    (["lma", "train", "--model", "lma_coherence", "--n-grids", "100000000"], "--n-grids"),
    (["crowdmag", "train", "--tile-px", "200000"], "--tile-px"),
])
def test_sizes_from_options_refused_with_an_estimate(tmp_path, capsys, argv, needle):
    message = _refused(capsys, [*argv, "--out", tmp_path / "out"], match=(needle, "GB"),
                       no_outputs=(tmp_path / "out",))
    assert "limit" in message


def test_iar_spectrogram_absurd_nfft_refused_with_an_estimate(tmp_path):
    from magnetar.errors import ValidationError
    from magnetar.processing import welch_spectrogram

    t = pd.date_range("2024-01-01", periods=20_000, freq="10ms")
    series = xr.DataArray(np.random.default_rng(0).standard_normal(20_000), dims="time",
                          coords={"time": t}, attrs={"sampling_rate": 100.0})
    with pytest.raises(ValidationError, match=r"--nfft.*GB"):
        welch_spectrogram(series, segment_s=10.0, nfft=2**34)


def test_survey_at_an_absurd_spacing_refused_before_gridding():
    from magnetar.errors import ValidationError
    from magnetar.grids import survey_grid

    with pytest.raises(ValidationError, match=r"--tile-km.*GB"):
        survey_grid("britain", spacing_km=1e-4)
