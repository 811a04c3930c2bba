import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from magnetar.errors import ValidationError  # noqa: E402
from magnetar.training import corrupt, mae  # noqa: E402
from magnetar.training.reconstruction import (  # noqa: E402
    CorruptionConfig,
    TrainConfig,
    corrupt_tiles,
    fit,
    load_checkpoint,
    reconstruct,
)


def _smooth_tiles(n, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:16, 0:16] / 16.0
    k = rng.uniform(1, 3, size=(n, 2, 1, 1))
    phase = rng.uniform(0, 6, size=(n, 1, 1))
    return 100 * np.sin(2 * np.pi * (k[:, 0] * x + k[:, 1] * y) / 2 + phase)


def test_training_beats_zero_filling_and_resumes_identically(tmp_path):
    torch.manual_seed(0)
    train, val = _smooth_tiles(256, 0), _smooth_tiles(32, 1)
    cfg = TrainConfig(model="conv_masked_ae", model_kwargs={"base": 8, "depth": 2}, epochs=6,
                      batch_size=32, device="cpu",
                      corruption={"mask_fraction": 0.5, "noise_nT": 2.0, "heavy_tail": 0.0})
    model, history = fit(train, val, cfg, out_dir=tmp_path / "run")
    assert len(history) == 6
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    c, k = corrupt(val, mask_fraction=0.5, noise_nT=2.0, seed=9)
    recon = reconstruct(model, c, k)
    # better than filling gaps with the tile mean of the known pixels
    mean_fill = np.where(k, c, np.nanmean(c, axis=(1, 2), keepdims=True))
    assert mae(val, recon) < 0.7 * mae(val, mean_fill)
    saved = json.loads((tmp_path / "run" / "train.config.json").read_text())
    assert saved["corruption"]["mask_fraction"] == 0.5
    again, again_cfg, state = load_checkpoint(tmp_path / "run" / "best.pt")
    assert again_cfg == cfg
    assert state["epoch"] == int(np.argmin([h["val_loss"] for h in history]))
    # resume: 3 epochs, then 3 more, equals 6 in one go
    short = TrainConfig(**{**cfg.__dict__, "epochs": 3})
    fit(train, val, short, out_dir=tmp_path / "split")
    _, resumed = fit(train, val, cfg, out_dir=tmp_path / "split", resume=True)
    np.testing.assert_allclose([h["val_loss"] for h in resumed],
                               [h["val_loss"] for h in history], rtol=1e-4)


class _FixedPattern(torch.nn.Module):
    """Returns one fixed, asymmetric pattern whatever the input (in normalised units)."""

    def __init__(self, pattern):
        super().__init__()
        self.pattern = torch.nn.Parameter(torch.as_tensor(pattern, dtype=torch.float32))

    def forward(self, x):
        return self.pattern.expand(x.shape[0], 1, *self.pattern.shape)


class _PassThrough(torch.nn.Module):
    """Returns the normalised input channel: equivariant under every rotation and flip."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x[:, :1]


def _unit_tiles(shape):
    """A fully known +-1 checkerboard with an even number of nodes: mean 0 and scale 1, so
    normalised units are nT."""
    y, x = np.indices(shape)
    return np.where((x + y) % 2 == 0, 1.0, -1.0)[None], np.ones((1, *shape), bool)


def test_tta_averages_the_eight_views_of_a_square_tile():
    pattern = np.arange(36.0).reshape(6, 6) ** 1.5  # no symmetry at all
    tiles, known = _unit_tiles((6, 6))
    views = [np.rot90(pattern, k) for k in range(4)]
    expected = np.mean(views + [v[:, ::-1] for v in views], axis=0)
    got = reconstruct(_FixedPattern(pattern), tiles, known, tta=True)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    plain = reconstruct(_FixedPattern(pattern), tiles, known)[0]
    np.testing.assert_allclose(plain, pattern, rtol=1e-5)


def test_tta_on_an_oblong_tile_uses_the_four_shape_keeping_views():
    pattern = np.arange(12.0).reshape(3, 4) ** 2
    tiles, known = _unit_tiles((3, 4))
    expected = (pattern + pattern[::-1, ::-1] + pattern[:, ::-1] + pattern[::-1, :]) / 4
    got = reconstruct(_FixedPattern(pattern), tiles, known, tta=True)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_tta_leaves_an_equivariant_model_unchanged():
    rng = np.random.default_rng(3)
    tiles = 50 + 20 * rng.normal(size=(4, 6, 6))
    known = np.ones(tiles.shape, bool)
    model = _PassThrough()
    np.testing.assert_allclose(reconstruct(model, tiles, known, tta=True), tiles, atol=1e-4)
    np.testing.assert_allclose(reconstruct(model, tiles, known), tiles, atol=1e-4)


def test_bad_training_options():
    with pytest.raises(ValidationError, match="loss"):
        TrainConfig(loss="huber")
    with pytest.raises(ValidationError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValidationError, match="non-empty"):
        fit(np.zeros((0, 8, 8)), np.zeros((2, 8, 8)), TrainConfig())


def test_loss_in_nT_weights_each_tile_by_its_scale():
    from magnetar.training.reconstruction import _inputs, _loss

    quiet = _smooth_tiles(1, 0) / 100  # amplitude 1 nT
    loud = _smooth_tiles(1, 1)  # amplitude 100 nT
    tiles = np.concatenate([quiet, loud])
    tile_cfg = TrainConfig(corruption={"noise_nT": 0.0, "mask_fraction": 0.5})
    nt_cfg = TrainConfig(loss_units="nT", corruption={"noise_nT": 0.0, "mask_fraction": 0.5})
    x, target, known, ones = _inputs(tiles, tile_cfg, seed=0)
    _, _, _, weight = _inputs(tiles, nt_cfg, seed=0)
    torch.testing.assert_close(ones, torch.ones_like(ones))
    # weights are the tiles' scales over their mean: the loud tile counts ~100 times more
    assert weight.shape == (2, 1, 1, 1)
    assert float(weight.mean()) == pytest.approx(1.0)
    assert 60 < float(weight[1] / weight[0]) < 160
    # one unit of normalised error on the quiet tile only: cheap in nT, not in tile units
    pred = target.clone()
    pred[0] += 1.0
    assert float(_loss(pred, target, known, ones, tile_cfg)) == pytest.approx(0.5)
    assert float(_loss(pred, target, known, weight, nt_cfg)) == pytest.approx(
        0.5 * float(weight[0]), rel=1e-5)
    # distributional term: a shuffled tile has the same values (term 0); a shift by c
    # costs c (times the tile's weight) in both the pixel and the sorted-value terms
    dist_cfg = TrainConfig(loss_units="nT", distribution_weight=2.0)
    shuffled = target.flatten(1)[:, torch.randperm(target[0].numel())].view_as(target)
    plain = float(_loss(shuffled, target, known, weight, nt_cfg))
    assert float(_loss(shuffled, target, known, weight, dist_cfg)) == pytest.approx(plain)
    shifted = float(_loss(target + 0.5, target, known, weight, dist_cfg))
    assert shifted == pytest.approx(0.5 * 1.0 + 2.0 * 0.5 * 1.0, rel=1e-5)
    with pytest.raises(ValidationError, match="loss_units"):
        TrainConfig(loss_units="percent")


def test_cosine_schedule_anneals_to_zero():
    train, val = _smooth_tiles(16, 0), _smooth_tiles(4, 1)
    cfg = TrainConfig(model="dense_ae", model_kwargs={"tile": 16, "hidden": (32,), "encoding": 4},
                      epochs=4, lr=0.01, lr_schedule="cosine", device="cpu")
    _, history = fit(train, val, cfg)
    # lr_e = lr/2 (1 + cos(pi e / E)): 0.01, 0.0085355, 0.005, 0.0014645
    np.testing.assert_allclose([h["lr"] for h in history],
                               [0.01, 0.00853553, 0.005, 0.00146447], rtol=1e-5)
    with pytest.raises(ValidationError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")


def test_corruption_ranges_draw_one_coverage_and_one_device_per_tile():
    tiles = np.zeros((400, 32, 32))
    corruption = CorruptionConfig(mask_fraction=0.2, mask_fraction_max=0.8, noise_nT=30.0,
                                  noise_nT_max=140.0, heavy_tail=0.0)
    corrupted, known = corrupt_tiles(tiles, corruption, seed=3)
    hidden = 1 - known.mean(axis=(1, 2))
    noise = np.array([np.std(c[k]) for c, k in zip(corrupted, known, strict=True)])
    # uniform draws: the extremes near the bounds, the mean in the middle
    assert 0.15 < hidden.min() < 0.25
    assert 0.75 < hidden.max() < 0.85
    assert abs(hidden.mean() - 0.5) < 0.03
    assert 25 < noise.min() < 40
    assert 125 < noise.max() < 150
    assert abs(noise.mean() - 85) < 6
    # an override fixes the value for every tile (an evaluation condition)
    _, known = corrupt_tiles(tiles, corruption, seed=3, mask_fraction=0.5)
    assert abs(1 - known.mean(axis=(1, 2)) - 0.5).max() < 0.1
    with pytest.raises(ValidationError, match="noise_nT_max"):
        corrupt_tiles(tiles, CorruptionConfig(noise_nT=30.0, noise_nT_max=10.0), seed=0)
