import numpy as np
import pytest

torch = pytest.importorskip("torch")

from magnetar.errors import ValidationError  # noqa: E402
from magnetar.training.segmentation import (  # noqa: E402
    SegmentationConfig,
    _loss,
    edge_band,
    fit_segmentation,
    load_segmentation,
    predict_segmentation,
    standardise_spectrogram,
)


def _stripes(n, seed):
    rng = np.random.default_rng(seed)
    f = np.arange(32)[:, None]
    masks, images = [], []
    for _ in range(n):
        spacing, phase = rng.integers(6, 10), rng.integers(0, 5)
        mask = ((f - phase) % spacing < 2) * np.ones((1, 40))
        masks.append(mask)
        images.append(1.5 * mask + rng.normal(0, 0.5, mask.shape))
    return np.array(images, np.float32), np.array(masks, np.float32)


def test_unet_learns_stripes_and_resumes_identically(tmp_path):
    x, y = _stripes(24, 0)
    vx, vy = _stripes(6, 1)
    cfg = SegmentationConfig(model_kwargs={"base": 8, "depth": 2, "dropout": 0.0}, epochs=6,
                             batch_size=4, lr=3e-3, device="cpu")
    model, history = fit_segmentation(x, y, vx, vy, cfg, out_dir=tmp_path / "a")
    prob = predict_segmentation(model, vx)
    pred = prob > 0.5
    iou = np.sum(pred & (vy > 0)) / np.sum(pred | (vy > 0))
    # a margin, not luck: training seeds 0-9 give IoU 0.975-1.0 here (benchmarks/seed_margins.py)
    assert iou > 0.7
    again, again_cfg, _ = load_segmentation(tmp_path / "a" / "best.pt")
    assert again_cfg == cfg
    short = SegmentationConfig(**{**cfg.__dict__, "epochs": 3})
    fit_segmentation(x, y, vx, vy, short, out_dir=tmp_path / "b")
    _, resumed = fit_segmentation(x, y, vx, vy, cfg, out_dir=tmp_path / "b", resume=True)
    np.testing.assert_allclose([h["val_loss"] for h in resumed],
                               [h["val_loss"] for h in history], rtol=1e-4)


def test_standardise_removes_row_levels_and_fills_gaps():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(20, 50)) + np.linspace(-7, -4, 20)[:, None]
    v[:, 10:12] = np.nan
    z = standardise_spectrogram(v)
    assert np.all(z[:, 10:12] == 0)
    np.testing.assert_allclose(np.median(np.delete(z, [10, 11], axis=1), axis=1), 0, atol=1e-6)
    with pytest.raises(ValidationError, match="optimizer"):
        SegmentationConfig(optimizer="lbfgs")


def test_cosine_schedule_anneals_the_rate_each_epoch():
    x, y = _stripes(4, 2)
    cfg = SegmentationConfig(model_kwargs={"base": 4, "depth": 1, "dropout": 0.0}, epochs=4,
                             lr=2e-3, lr_schedule="cosine", augment=None, device="cpu")
    _, history = fit_segmentation(x, y, x[:2], y[:2], cfg)
    # 0.5 lr (1 + cos(pi e / E)) for e = 0..3, E = 4
    np.testing.assert_allclose([h["lr"] for h in history],
                               [2e-3, 1e-3 * (1 + np.sqrt(0.5)), 1e-3, 1e-3 * (1 - np.sqrt(0.5))])
    with pytest.raises(ValidationError, match="lr_schedule"):
        SegmentationConfig(lr_schedule="step")


def test_init_from_starts_from_the_checkpoint_weights(tmp_path):
    x, y = _stripes(4, 3)
    kwargs = {"base": 4, "depth": 1, "dropout": 0.0}
    source = SegmentationConfig(model_kwargs=kwargs, epochs=1, augment=None, device="cpu")
    fit_segmentation(x, y, x[:2], y[:2], source, out_dir=tmp_path / "src")
    start, _, _ = load_segmentation(tmp_path / "src" / "last.pt")
    # a vanishing learning rate: the fine-tuned weights stay those of the checkpoint (batch
    # norm's running statistics move with the data, so weights only)
    tuned_cfg = SegmentationConfig(model_kwargs=kwargs, epochs=1, lr=1e-12, augment=None,
                                   seed=5, device="cpu", init_from=tmp_path / "src" / "last.pt")
    tuned, _ = fit_segmentation(x, y, x[:2], y[:2], tuned_cfg)
    tuned_weights = dict(tuned.named_parameters())
    for name, value in start.named_parameters():
        np.testing.assert_allclose(tuned_weights[name].detach(), value.detach(), atol=1e-8,
                                   err_msg=name)
    fresh, _ = fit_segmentation(x, y, x[:2], y[:2], SegmentationConfig(
        **{**tuned_cfg.__dict__, "init_from": ""}))
    assert not np.allclose(fresh.state_dict()["head.weight"], start.state_dict()["head.weight"])
    wider = SegmentationConfig(**{**tuned_cfg.__dict__, "model_kwargs": {**kwargs, "base": 8}})
    with pytest.raises(ValidationError, match="cannot start from it"):
        fit_segmentation(x, y, x[:2], y[:2], wider)
    missing = SegmentationConfig(**{**tuned_cfg.__dict__, "init_from": tmp_path / "none.pt"})
    with pytest.raises(ValidationError, match="none.pt"):
        fit_segmentation(x, y, x[:2], y[:2], missing)


def test_edge_band_marks_one_pixel_each_side_of_a_block_edge():
    target = torch.zeros(1, 1, 9, 9)
    target[0, 0, 3:6, 3:6] = 1  # a 3 x 3 block
    band = edge_band(target)[0, 0].numpy()
    expected = np.zeros((9, 9))
    expected[2:7, 2:7] = 1  # the block and its one-pixel ring ...
    expected[4, 4] = 0  # ... but the centre, whose eight neighbours are all in the block
    np.testing.assert_array_equal(band, expected)
    # a block touching the image border: the border is not an edge
    target = torch.zeros(1, 1, 6, 6)
    target[0, 0, :, :3] = 1
    band = edge_band(target)[0, 0].numpy()
    np.testing.assert_array_equal(band[:, [2, 3]], 1)
    np.testing.assert_array_equal(band[:, [0, 1, 4, 5]], 0)


def test_edge_weight_scales_the_cross_entropy_of_edge_pixels_only():
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 2:6, :] = 1  # a stripe of rows 2-5: the band is rows 1, 2, 5 and 6
    logits = torch.where(target > 0, 2.0, -2.0)
    base = float(_loss(logits, target, "bce"))
    per_pixel = float(torch.nn.functional.softplus(torch.tensor(-2.0)))  # BCE of each pixel
    assert base == pytest.approx(per_pixel)
    # with weight 3: band pixels (4 of 8 rows) count 1 + 3, the others 1
    weighted = float(_loss(logits, target, "bce", edge_weight=3.0))
    assert weighted == pytest.approx(per_pixel * (4 * 4 + 4 * 1) / 8)
    with pytest.raises(ValidationError, match="edge_weight"):
        SegmentationConfig(edge_weight=-1)
