"""Windows, labels, splits, calibration and region maps: analytic answers."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from magnetar.errors import FileFormatError, ValidationError
from magnetar.grids import (
    attach_labels,
    calibrate_windows,
    iter_window_batches,
    normalise_windows,
    read_window_labels,
    region_map,
    sliding_windows,
    split_windows,
    write_window_labels,
)


def _grid(ny=60, nx=80, spacing=1000.0):
    values = np.arange(ny * nx, dtype=float).reshape(ny, nx)
    return xr.DataArray(values, dims=("northing", "easting"),
                        coords={"northing": np.arange(ny) * spacing,
                                "easting": np.arange(nx) * spacing})


def test_windows_positions_centres_and_values():
    grid = _grid()
    windows, table = sliding_windows(grid, size=20, stride=10, normalise=False)
    assert len(windows) == 5 * 7  # (60-20)/10+1 rows, (80-20)/10+1 cols
    i = 8  # second row of windows, second column
    r, c = table.loc[i, ["row", "col"]]
    assert (r, c) == (10, 10)
    np.testing.assert_array_equal(windows[i], grid.values[10:30, 10:30])
    assert table.loc[i, "centre_northing"] == pytest.approx(19.5 * 1000)
    assert table.loc[i, "centre_easting"] == pytest.approx(19.5 * 1000)


def test_windows_skip_gappy_and_normalise():
    grid = _grid()
    grid.values[:30, :30] = np.nan
    windows, table = sliding_windows(grid, size=20, stride=10, min_valid=0.5)
    assert not ((table.row < 10) & (table.col < 10)).any()  # the all-NaN corner window
    assert windows.min() >= 0
    assert windows.max() <= 1
    assert np.isfinite(windows).all()
    with pytest.raises(ValidationError, match="exceeds the grid"):
        sliding_windows(grid, size=100, stride=10)


def test_normalise_constant_and_range():
    w = np.stack([np.full((4, 4), 7.0), np.arange(16.0).reshape(4, 4)])
    out = normalise_windows(w, clip=None)
    assert np.all(out[0] == 0.5)
    np.testing.assert_allclose(out[1].ravel(), np.arange(16) / 15, rtol=1e-6)


def test_normalise_robust_clip_ignores_one_spike():
    # a ramp 0..99 with one 10,000 nT spike: plain min-max squeezes the ramp into 1 % of
    # the range; 1-99 percentile clipping keeps it spread over [0, 1]
    ramp = np.arange(100.0)
    ramp[50] = 10_000.0
    w = ramp.reshape(1, 10, 10)
    plain = normalise_windows(w, clip=None)
    robust = normalise_windows(w, clip=(1, 99))
    assert plain.ravel()[99] < 0.01
    lo, hi = np.percentile(ramp, [1, 99])
    expected = np.clip((ramp - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(robust.ravel(), expected, rtol=1e-5, atol=1e-6)
    assert robust.ravel()[50] == 1.0
    with pytest.raises(ValidationError, match="clip"):
        normalise_windows(w, clip=(50, 10))


def test_normalise_gaps_take_window_mean():
    w = np.array([[[0.0, 10.0], [np.nan, 5.0]]])
    out = normalise_windows(w, clip=None)
    np.testing.assert_allclose(out.ravel(), [0, 1, 0.5, 0.5])


def test_batches_cover_every_window_once():
    values = np.random.default_rng(0).standard_normal((50, 70))
    seen = []
    for rr, cc, w in iter_window_batches(values, size=20, stride=5, batch_size=7):
        assert len(w) == len(rr) == len(cc)
        seen += list(zip(rr, cc, strict=False))
    assert len(seen) == len(set(seen)) == 7 * 11


def test_labels_round_trip_and_attach(tmp_path):
    grid = _grid()
    _, table = sliding_windows(grid, size=20, stride=10)
    table["label"] = np.arange(len(table)) % 3 - 1
    path = write_window_labels(table, tmp_path / "labels.csv")
    back = read_window_labels(path)
    np.testing.assert_array_equal(back["label"], table["label"])
    attached = attach_labels(table.drop(columns="label"), back, tolerance=500)
    np.testing.assert_array_equal(attached["label"], table["label"])


@pytest.mark.parametrize(("text", "match"), [
    ("a,b\n1,2\n", "header"),
    ("centre_northing,centre_easting,label\n1,2,maybe\n", "line 2"),
    ("centre_northing,centre_easting,label\n1,x,1\n", "line 2"),
    ("centre_northing,centre_easting,label\n1,2\n", "line 2"),
])
def test_labels_reject_malformed(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(FileFormatError, match=match):
        read_window_labels(path)


def _table(n_groups=10, size=20, stride=10, extent=60, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        for r in range(0, extent - size + 1, stride):
            for c in range(0, extent - size + 1, stride):
                rows.append((g, r, c, int(rng.integers(0, 2))))
    return pd.DataFrame(rows, columns=["group", "row", "col", "label"])


def test_blocked_split_never_shares_nodes():
    size = 20
    table = _table(n_groups=3, extent=200)
    split = split_windows(table, method="blocked", size=size, block=50, seed=1)
    assert set(split) <= {"train", "val", "test", ""}
    occupied = {}
    for (g, r, c), s in zip(table[["group", "row", "col"]].to_numpy(), split, strict=False):
        if not s:
            continue
        for node in ((g, y, x) for y in range(r, r + size) for x in range(c, c + size)):
            assert occupied.setdefault(node, s) == s
    counts = pd.Series(split[split != ""]).value_counts(normalize=True)
    assert counts["train"] > counts["test"] > 0


def test_random_split_proportions_and_ambiguous():
    table = _table(n_groups=20)
    table.loc[::7, "label"] = -1
    split = split_windows(table, method="random", seed=0)
    assert (split[table.label.to_numpy() == -1] == "").all()
    frac = pd.Series(split[split != ""]).value_counts(normalize=True)
    assert frac["train"] == pytest.approx(0.6, abs=0.03)
    with pytest.raises(ValidationError, match="fractions"):
        split_windows(table, fractions=(0.5, 0.5, 0.5), size=20)


def test_calibration_rule():
    p = np.full((5, 5), 0.9)
    p[2, 2] = 0.5  # uncertain, neighbours mostly > 0.5 -> maximum
    out = calibrate_windows(p, neighbourhood=3)
    assert out[2, 2] == 0.9
    q = np.full((5, 5), 0.1)
    q[2, 2], q[0, 0] = 0.6, 0.05  # mostly below -> minimum of the 3x3 (0.1)
    out = calibrate_windows(q, neighbourhood=3)
    assert out[2, 2] == pytest.approx(0.1)
    assert out[0, 0] == 0.05  # confident ones untouched
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    assert calibrate_windows(p, neighbourhood=3, mask=mask)[2, 2] == 0.5
    split = np.array([[0.9, 0.9, 0.1], [0.9, 0.5, 0.1], [0.1, 0.1, 0.1]])
    # 3 of 9 above, 5 below (0.5 neither): at least half below -> the minimum
    assert calibrate_windows(split, neighbourhood=3)[1, 1] == 0.1
    with pytest.raises(ValidationError, match="odd"):
        calibrate_windows(p, neighbourhood=4)


def test_region_map_central_cells():
    grid = _grid(60, 80)
    size, stride = 20, 10
    prob = np.zeros((5, 7))
    prob[1, 2] = 1.0
    res = region_map(grid, prob, size=size, stride=stride, calibrate=False)
    lin = res["linear"].values
    off = size // 2 - stride // 2
    r0, c0 = off + 1 * stride, off + 2 * stride
    assert (lin[r0:r0 + stride, c0:c0 + stride] == 1).all()
    assert (lin == 1).sum() == stride * stride  # elsewhere 0 or -1
    assert (lin[:off] == -1).all()
    assert (lin[:, :off] == -1).all()
    covered = (lin >= 0).sum()
    assert res.attrs["linear_percentage"] == pytest.approx(100 * 100 / covered)
    with pytest.raises(ValidationError, match="expected"):
        region_map(grid, np.zeros((3, 3)), size=size, stride=stride)


def test_region_map_calibration_mask_is_sampled_at_window_centres():
    grid = _grid(60, 80)
    size, stride = 20, 10
    prob = np.full((5, 7), 0.9)
    prob[2, 3] = 0.5  # uncertain; neighbours say linear
    calibrated = region_map(grid, prob, size=size, stride=stride, neighbourhood=3)
    off = size // 2 - stride // 2
    cell = (slice(off + 2 * stride, off + 3 * stride), slice(off + 3 * stride, off + 4 * stride))
    assert (calibrated["probability_calibrated"].values[cell] == 0.9).all()
    mask = np.zeros(grid.shape, bool)
    mask[2 * stride + size // 2, 3 * stride + size // 2] = True  # that window's centre node
    kept = region_map(grid, prob, size=size, stride=stride, neighbourhood=3,
                      calibration_mask=mask)
    assert (kept["probability_calibrated"].values[cell] == 0.5).all()
    assert (kept["probability"].values[cell] == 0.5).all()
    with pytest.raises(ValidationError, match="calibration mask"):
        region_map(grid, prob, size=size, stride=stride, calibration_mask=mask[:10])


def test_pad_edges_reflects_and_crop_map_covers_every_node():
    from magnetar.grids import crop_map, pad_edges

    grid = _grid(30, 40)
    padded, crop = pad_edges(grid, size=10, stride=3)
    assert padded.shape == (30 + 5 + 8, 40 + 5 + 8)
    np.testing.assert_array_equal(padded.isel(crop).values, grid.values)
    # reflection about the first node, coordinates continued at the same spacing
    np.testing.assert_array_equal(padded.values[4, 5:45], grid.values[1])
    np.testing.assert_allclose(np.diff(padded["easting"].values), 1000.0)
    assert padded["northing"].values[0] == -5000.0
    ny, nx = padded.shape
    prob = np.ones(((ny - 10) // 3 + 1, (nx - 10) // 3 + 1))
    prob[:, : prob.shape[1] // 2] = 0.0
    result = crop_map(region_map(padded, prob, size=10, stride=3, calibrate=False), crop)
    assert result["linear"].shape == grid.shape
    assert (result["linear"].values >= 0).all()  # every node mapped
    assert 0 < result.attrs["linear_percentage"] < 100
    assert result.attrs["edges"] == "reflect"
