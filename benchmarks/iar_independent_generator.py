"""IAR models on nights of a second, independently modelled generator (no shared code).

The project's generator (``magnetar.synthetic``) models fringes as Lorentzian resonances in
a power-law background with a physical label. This one is written from the published
description alone, with other choices everywhere, so a model that learnt the first
generator's particulars rather than IARs fails here:

- background: a random smooth log-power profile along frequency (no power law), drifting;
- fringes: Gaussian profiles in *dB* (3-10 dB high, 0.6-1.5 rows sigma), at
  ``f_n = f_0 + n delta_f`` with ``delta_f`` 0.15-0.9 Hz along a nightly arc, 0.5-7 Hz,
  fading in after dusk and out before dawn, some fringes missing for hours;
- a label two rows wide at each visible fringe's centre (the other convention);
- chi-squared scatter with 6 degrees of freedom; a few broadband columns; no tonal lines.

Reported for each model: pixel IoU, precision/recall/F1 within +-2 rows, centre-line
recall (``magnetar.training.tolerant_segmentation_metrics``), false-positive pixels on
nights of the same background without fringes, and the median |delta_f error| of
``resonance_parameters`` on the model's masks where the label shows two fringes or more
(since session 23). The same nights for every model.

Run: ``python benchmarks/iar_independent_generator.py MODEL.pt [MODEL.pt ...] --nights 24``
-> ``benchmarks/results/iar/independent_generator.json``.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar.processing import resonance_parameters  # noqa: E402
from magnetar.training import segmentation_metrics, tolerant_segmentation_metrics  # noqa: E402
from magnetar.training.segmentation import load_segmentation  # noqa: E402
from magnetar.workflows.iar.run import predict_nights  # noqa: E402

FREQ = 0.5 + np.arange(389) * (100 / 4096)  # the models' grid: 0.5-10 Hz, 0.0244 Hz
N_TIME = 432  # 12 h of 100 s columns
RESULTS = Path(__file__).parent / "results" / "iar" / "independent_generator.json"


def night(rng, *, fringes=True):
    """Return one night (log10 power, label, spacing per column) of the independent generator.

    The spacing is NaN where the label shows fewer than two fringes (unobservable).
    """
    base = ndimage.gaussian_filter1d(rng.normal(0, 1.0, FREQ.size), 25) * 8  # dB
    base = base - 12 * np.log10(FREQ)  # a falling trend, but no power law in the details
    drift = ndimage.gaussian_filter1d(rng.normal(0, 1.0, N_TIME), 30) * 3
    db = base[:, None] + drift[None, :]
    label = np.zeros(db.shape, bool)
    df = np.full(N_TIME, np.nan)
    if fringes:
        u = np.linspace(0, 1, N_TIME)
        lo, hi = np.sort(rng.uniform(0.15, 0.9, 2))
        peak = rng.uniform(0.3, 0.7)
        arc = np.where(u < peak, np.sin(np.pi / 2 * u / peak),
                       np.cos(np.pi / 2 * (u - peak) / (1 - peak)))
        df = lo + (hi - lo) * arc
        f0 = rng.uniform(0.2, 1.0) * df
        on = (u > rng.uniform(0.0, 0.25)) & (u < rng.uniform(0.75, 1.0))
        top = rng.uniform(3.0, 7.0)
        step = FREQ[1] - FREQ[0]
        for n in range(int(np.ceil(top / 0.15))):
            centre = f0 + n * df
            height = rng.uniform(3, 10) * np.exp(-n / rng.uniform(5, 30))
            sigma = rng.uniform(0.6, 1.5) * step
            seen = on & (centre >= FREQ[0]) & (centre <= min(top, FREQ[-1]))
            if rng.random() < 0.3:  # missing for a few hours
                a = rng.integers(0, N_TIME)
                seen[a:a + rng.integers(30, 150)] = False
            if height < 2 or not seen.any():
                continue
            db += height * seen * np.exp(-0.5 * ((FREQ[:, None] - centre) / sigma) ** 2)
            row = np.clip(np.round((centre - FREQ[0]) / step).astype(int), 0, FREQ.size - 2)
            cols = np.flatnonzero(seen)
            label[row[cols], cols] = True
            label[row[cols] + 1, cols] = True
    for col in rng.integers(0, N_TIME, rng.integers(0, 6)):
        db[:, col] += rng.uniform(3, 10)
    power = 10 ** (db / 10) * rng.gamma(3.0, 1 / 3.0, size=db.shape)  # chi2, 6 dof
    seen_fringes = (label[1:] & ~label[:-1]).sum(axis=0) + label[0]
    return np.log10(power) - 6, label, np.where(seen_fringes >= 2, df, np.nan)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="+")
    parser.add_argument("--nights", type=int, default=24)
    parser.add_argument("--seed", type=int, default=40_000_000)
    args = parser.parse_args()
    import xarray as xr

    rng = np.random.default_rng(args.seed)
    pos = [night(rng) for _ in range(args.nights)]
    neg = [night(rng, fringes=False)[0] for _ in range(max(args.nights // 2, 1))]
    coords = {"frequency": FREQ, "time": np.arange(N_TIME) * 100.0}

    def stack(values):
        return xr.DataArray(np.stack(values), dims=("night", "frequency", "time"),
                            coords=coords)

    truth = np.stack([p[1] for p in pos])
    out = {"machine": describe(), "nights": args.nights, "negative_nights": len(neg),
           "seed": args.seed, "models": {}}
    counts = {}
    for path in args.models:
        model, cfg, _ = load_segmentation(path)
        pred = predict_nights(model, stack([p[0] for p in pos]), threshold=cfg.threshold)
        mask = pred["mask"].values.astype(bool)
        neg_mask = predict_nights(model, stack(neg), threshold=cfg.threshold)["mask"].values
        out["models"][str(path)] = {
            **segmentation_metrics(truth, mask),
            **tolerant_segmentation_metrics(truth, mask, rows=(1, 2), axis=1),
            "negative_false_positive_fraction": float(neg_mask.mean()),
            **delta_f_error(pred, [p[2] for p in pos])}
        counts[str(path)] = night_counts(truth, mask)
        print(path, json.dumps({k: round(v, 3) for k, v in out["models"][str(path)].items()}))  # noqa: T201
    if len(args.models) == 2:  # the second model minus the first, nights resampled
        a, b = (counts[str(p)] for p in args.models)
        out["paired_f1_rows2_difference"] = paired_bootstrap(a, b, np.random.default_rng(0))
        print("F1 (+-2 rows) difference, second - first:", out["paired_f1_rows2_difference"])  # noqa: T201
    RESULTS.write_text(json.dumps(out, indent=1))


def delta_f_error(pred, true_df):
    """Median |delta_f error| of the model's masks (``resonance_parameters``) and columns."""
    errors = []
    for i, df in enumerate(true_df):
        est = resonance_parameters(pred["mask"].isel(night=i),
                                   pred["probability"].isel(night=i))["delta_f"].values
        ok = np.isfinite(df) & np.isfinite(est)
        errors.extend(np.abs(est[ok] - df[ok]))
    return {"delta_f_median_abs_error_hz": float(np.median(errors)) if errors else None,
            "delta_f_columns_compared": len(errors)}


def night_counts(truth, mask, rows=2):
    """Per night: predicted pixels near a true one, predicted, true found, true."""
    near_t = ndimage.maximum_filter1d(truth, 2 * rows + 1, axis=1, mode="constant")
    near_p = ndimage.maximum_filter1d(mask, 2 * rows + 1, axis=1, mode="constant")
    return np.stack([(mask & near_t).sum((1, 2)), mask.sum((1, 2)),
                     (truth & near_p).sum((1, 2)), truth.sum((1, 2))], axis=1).astype(float)


def _f1(c):
    prec, rec = c[0] / max(c[1], 1), c[2] / max(c[3], 1)
    return 2 * prec * rec / (prec + rec) if prec + rec else 0.0


def paired_bootstrap(a, b, rng, n=2000):
    """Pooled F1 difference (b - a) with a 95 % interval, nights resampled in pairs."""
    diffs = []
    for _ in range(n):
        pick = rng.integers(0, len(a), len(a))
        diffs.append(_f1(b[pick].sum(0)) - _f1(a[pick].sum(0)))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"difference": _f1(b.sum(0)) - _f1(a.sum(0)), "ci95": [float(lo), float(hi)],
            "unit": "night (independent draws)", "resamples": n}


if __name__ == "__main__":
    main()
