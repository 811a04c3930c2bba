"""Reconstruction metrics (pure NumPy/SciPy; SSIM from scikit-image).

All take ``truth`` and ``estimate`` arrays of one shape (a tile or a stack of tiles) in the
same units and ignore pairs where either is NaN.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .._utils import require
from ..errors import ValidationError

__all__ = [
    "kl_divergence",
    "mae",
    "psnr",
    "reconstruction_metrics",
    "rmse",
    "segmentation_metrics",
    "ssim",
    "tolerant_segmentation_metrics",
    "wasserstein",
]


def _pairs(truth, estimate):
    t = np.asarray(truth, float)
    e = np.asarray(estimate, float)
    if t.shape != e.shape:
        msg = f"truth and estimate shapes differ: {t.shape} vs {e.shape}"
        raise ValidationError(msg)
    ok = np.isfinite(t) & np.isfinite(e)
    if not ok.any():
        msg = "no finite pairs to compare"
        raise ValidationError(msg)
    return t[ok], e[ok]


def mae(truth, estimate):
    """Mean absolute error.

    Parameters
    ----------
    truth, estimate : array-like
        Same shape (pixels NaN in either are skipped).

    Returns
    -------
    float
        The mean absolute error.
    """
    t, e = _pairs(truth, estimate)
    return float(np.mean(np.abs(t - e)))


def rmse(truth, estimate):
    """Root-mean-square error.

    Parameters
    ----------
    truth, estimate : array-like
        Same shape (pixels NaN in either are skipped).

    Returns
    -------
    float
        The root-mean-square error.
    """
    t, e = _pairs(truth, estimate)
    return float(np.sqrt(np.mean((t - e) ** 2)))


def psnr(truth, estimate):
    """Peak signal-to-noise ratio in dB, the peak being the truth's range.

    Parameters
    ----------
    truth, estimate : array-like
        Same shape.

    Returns
    -------
    float
        dB (inf for identical inputs).
    """
    t, e = _pairs(truth, estimate)
    err = np.mean((t - e) ** 2)
    peak = np.ptp(t)
    return float("inf") if err == 0 else float(10 * np.log10(peak**2 / err))


def ssim(truth, estimate):
    """Mean structural similarity of 2-D tiles.

    Mean structural similarity of 2-D tiles (stack: mean over tiles), data range from the
    truth; NaN pixels are filled with the tile's mean first.

    Parameters
    ----------
    truth, estimate : numpy.ndarray
        (H, W) or (N, H, W).

    Returns
    -------
    float
        Mean SSIM.
    """
    metrics = require("skimage.metrics", extra="ml", feature="SSIM")
    t = np.asarray(truth, float)
    e = np.asarray(estimate, float)
    if t.shape != e.shape or t.ndim not in (2, 3):
        msg = f"ssim needs two tiles or stacks of one shape, got {t.shape} and {e.shape}"
        raise ValidationError(msg)
    t, e = (t[None], e[None]) if t.ndim == 2 else (t, e)
    values = []
    for a, b in zip(t, e, strict=True):
        fill = np.nanmean(a)
        a = np.where(np.isfinite(a), a, fill)
        b = np.where(np.isfinite(b), b, fill)
        rng = float(np.ptp(a)) or 1.0
        win = min(7, *(s - (1 - s % 2) for s in a.shape))
        values.append(metrics.structural_similarity(a, b, data_range=rng, win_size=win))
    return float(np.mean(values))


def kl_divergence(truth, estimate, *, bins=64, eps=1e-10):
    """KL(truth || estimate) between value histograms on shared bins (nats).

    Parameters
    ----------
    truth, estimate : array-like
        Values (NaN ignored).
    bins : int
        Histogram bins over the joint range.
    eps : float
        Floor of empty bins.

    Returns
    -------
    float
        KL divergence in nats.
    """
    t, e = _pairs(truth, estimate)
    lo, hi = min(t.min(), e.min()), max(t.max(), e.max())
    if hi == lo:
        return 0.0
    p, edges = np.histogram(t, bins=bins, range=(lo, hi))
    q, _ = np.histogram(e, bins=edges)
    p = p / p.sum() + eps
    q = q / q.sum() + eps
    p /= p.sum()
    q /= q.sum()
    return float(np.sum(p * np.log(p / q)))


def wasserstein(truth, estimate):
    """1-D Wasserstein distance between value distributions.

    1-D Wasserstein (earth mover's) distance between value distributions (units of the
    data).

    Parameters
    ----------
    truth, estimate : array-like
        Values (NaN ignored).

    Returns
    -------
    float
        The distance (units of the data).
    """
    t, e = _pairs(truth, estimate)
    return float(stats.wasserstein_distance(t, e))


def reconstruction_metrics(truth, estimate):
    """All metrics as a dict: mae, rmse, psnr, ssim, kl, wasserstein.

    Parameters
    ----------
    truth, estimate : array-like
        Tiles of the same shape.

    Returns
    -------
    dict
        mae, rmse, psnr, ssim, kl and wasserstein.
    """
    return {"mae": mae(truth, estimate), "rmse": rmse(truth, estimate),
            "psnr": psnr(truth, estimate), "ssim": ssim(truth, estimate),
            "kl": kl_divergence(truth, estimate), "wasserstein": wasserstein(truth, estimate)}


def segmentation_metrics(truth, predicted):
    """Pixel scores of a binary segmentation.

    Pixel IoU, Dice, precision, recall and the false-positive fraction of two binary
    masks of one shape (summed over all pixels given; NaN pixels of neither are skipped).

    With no positive pixel in either mask, IoU, Dice, precision and recall are 1 (nothing
    to find, nothing wrongly found).

    Parameters
    ----------
    truth, predicted : array-like of bool
        Masks of one shape.

    Returns
    -------
    dict
        iou, dice, precision, recall, false_positive_fraction and pixel counts.
    """
    t = np.asarray(truth).astype(bool)
    p = np.asarray(predicted).astype(bool)
    if t.shape != p.shape:
        msg = f"truth and predicted masks differ in shape: {t.shape} vs {p.shape}"
        raise ValidationError(msg)
    tp = float(np.sum(t & p))
    fp = float(np.sum(~t & p))
    fn = float(np.sum(t & ~p))
    total = float(t.size)

    def ratio(a, b):
        return a / b if b else 1.0

    return {"iou": ratio(tp, tp + fp + fn), "dice": ratio(2 * tp, 2 * tp + fp + fn),
            "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn),
            "false_positive_fraction": fp / total if total else 0.0}


def _runs_centre(mask):
    """Return the middle pixel of every run of positive pixels along the last axis."""
    flat = mask.reshape(-1, mask.shape[-1]).astype(np.int8)
    edges = np.diff(np.pad(flat, ((0, 0), (1, 1))), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # same row order: every run opens before it closes
    centre = np.zeros(flat.shape, bool)
    centre[rows, (starts + ends - 1) // 2] = True
    return centre.reshape(mask.shape)


def tolerant_segmentation_metrics(truth, predicted, *, rows=(1, 2), axis=-2):
    """Scores of a segmentation that forgive small offsets along one axis.

    For fringes in a spectrogram (``axis`` the frequency axis) the label's width is a
    convention, so beside the pixel scores: precision within ``k`` rows (share of
    predicted pixels with a true pixel at most ``k`` rows away in the same column),
    recall within ``k`` rows (share of true pixels with a predicted pixel that near),
    their F1, and the centre-line recall (share of the true runs' middle pixels that are
    predicted: did the model find the fringe's crest).

    Parameters
    ----------
    truth, predicted : array-like of bool
        Masks of one shape.
    rows : sequence of int
        Tolerances (rows) reported.
    axis : int
        Axis the tolerance applies along.

    Returns
    -------
    dict
        ``precision_rows{k}``, ``recall_rows{k}``, ``f1_rows{k}`` per ``k``, and
        ``centre_line_recall`` (1 where there is no true pixel).
    """
    from scipy import ndimage

    t = np.moveaxis(np.asarray(truth).astype(bool), axis, -1)
    p = np.moveaxis(np.asarray(predicted).astype(bool), axis, -1)
    if t.shape != p.shape:
        msg = f"truth and predicted masks differ in shape: {t.shape} vs {p.shape}"
        raise ValidationError(msg)
    out = {}
    for k in rows:
        near_t = ndimage.maximum_filter1d(t, 2 * k + 1, axis=-1, mode="constant")
        near_p = ndimage.maximum_filter1d(p, 2 * k + 1, axis=-1, mode="constant")
        prec = float(np.sum(p & near_t) / p.sum()) if p.any() else 1.0
        rec = float(np.sum(t & near_p) / t.sum()) if t.any() else 1.0
        out[f"precision_rows{k}"], out[f"recall_rows{k}"] = prec, rec
        out[f"f1_rows{k}"] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    centre = _runs_centre(t)
    out["centre_line_recall"] = float(np.sum(centre & p) / centre.sum()) if centre.any() else 1.0
    return out


def classification_metrics(truth, probability, *, threshold=0.5):
    """Scores of a binary classification.

    Binary classification scores: accuracy, precision, recall, F1, ROC-AUC (NaN with a
    single class present) and the confusion matrix ``[[tn, fp], [fn, tp]]``.

    Parameters
    ----------
    truth : array-like
        0/1 labels.
    probability : array-like
        Probabilities of class 1.
    threshold : float
        Decision threshold.

    Returns
    -------
    dict
        accuracy, precision, recall, f1, roc_auc and confusion.
    """
    from sklearn import metrics as skm

    t = np.asarray(truth).astype(int).ravel()
    p = np.asarray(probability, float).ravel()
    if t.shape != p.shape or t.size == 0:
        msg = f"need as many truths as probabilities (non-empty), got {t.shape} and {p.shape}"
        raise ValidationError(msg)
    pred = (p > threshold).astype(int)
    auc = float(skm.roc_auc_score(t, p)) if np.unique(t).size == 2 else float("nan")
    return {"accuracy": float(skm.accuracy_score(t, pred)),
            "precision": float(skm.precision_score(t, pred, zero_division=0)),
            "recall": float(skm.recall_score(t, pred, zero_division=0)),
            "f1": float(skm.f1_score(t, pred, zero_division=0)),
            "roc_auc": auc,
            "confusion": skm.confusion_matrix(t, pred, labels=[0, 1]).tolist(),
            "n": int(t.size)}
