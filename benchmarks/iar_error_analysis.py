"""Where the shipped IAR U-Net errs on held-out synthetic nights: at fringe edges or not.

Usage::

    python benchmarks/iar_error_analysis.py [--nights 64] -> results/iar/error_analysis.json

Held-out nights as in ``magnetar iar evaluate`` (seeds from 10,000,000, ranges widened
1.25x). A pixel is in the *boundary band* when it lies within one pixel (frequency or time)
of the true mask's edge, inside or outside. The JSON gives the share of false positives and
false negatives in that band and the IoU if band errors were forgiven: how much of the gap
to IoU 0.80 is fringe-edge placement rather than missed or invented fringes.

It then splits the errors fringe by fringe, column by column (each true fringe owns the
pixels within half a spacing of its centre): fringe-columns both labelled and predicted
(pixel IoU within them, the predicted centre's and width's error in pixels) against
fringe-columns only one of them has (missed or invented fringes); the correlation over
nights of (false positives - false negatives) with the night's fringe width fraction ``q``
and its peak SNR (does the model adapt the width to the night?); and two oracles that keep
the true centres and visibility: one with the width fraction fixed at the middle of the
training range (what a model that never learns ``q`` could reach at best) and one with
``q`` 10 % too wide (how sensitive the IoU is to the width alone).

Last, substitutions: the prediction is rebuilt fringe-column by fringe-column with one or
two of its three parts (which fringe-columns are present, each fringe's centre, its width)
taken from the truth and the rest kept from the model (a true width is the label's FWHM
``q * delta_f``; predicted pixels outside every fringe's zone are kept as predicted). The
IoU of each rebuild says which part a better model must get right first.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar.pretrained import pretrained_path  # noqa: E402
from magnetar.synthetic._iar import (  # noqa: E402
    _draw,
    _expected_welch,
    _fringe_centres,
    _grid,
    _label,
)
from magnetar.training.segmentation import load_segmentation  # noqa: E402
from magnetar.workflows.iar.run import (  # noqa: E402
    TEST_SEED,
    IARPipelineConfig,
    _nights,
    predict_nights,
)

RESULTS = Path(__file__).parent / "results" / "iar"


def analyse(n):
    model, cfg, _ = load_segmentation(pretrained_path("iar_unet16.pt"))
    conf = IARPipelineConfig()
    synth = conf.synth_config()
    wide = synth.wider(conf.test_widen)
    test = _nights(n, wide, TEST_SEED + conf.seed)
    pred = predict_nights(model, test["spectrogram"], threshold=cfg.threshold)
    truth = test["mask"].transpose("night", "frequency", "time").values.astype(bool)
    mask = pred["mask"].transpose("night", "frequency", "time").values.astype(bool)
    cross = np.zeros((3, 3, 3), bool)
    cross[1] = ndimage.generate_binary_structure(2, 1)  # within a night only
    band = (ndimage.binary_dilation(truth, structure=cross)
            & ~ndimage.binary_erosion(truth, structure=cross))
    tp, fp, fn = truth & mask, ~truth & mask, truth & ~mask
    columns = truth.transpose(0, 2, 1).reshape(-1, truth.shape[1]).astype(int)
    runs = (np.diff(np.pad(columns, ((0, 0), (1, 0))), axis=1) == 1).sum()
    return {"nights": n, "model": "iar_unet16.pt", "threshold": cfg.threshold,
            **decompose(test, truth, mask, pred["probability"].transpose(
                "night", "frequency", "time").values, synth, wide),
            "iou": float(tp.sum() / (tp.sum() + fp.sum() + fn.sum())),
            "false_positive_share_in_band": float((fp & band).sum() / fp.sum()),
            "false_negative_share_in_band": float((fn & band).sum() / fn.sum()),
            "iou_if_band_errors_forgiven": float(
                tp.sum() / (tp.sum() + (fp & ~band).sum() + (fn & ~band).sum())),
            "true_pixels_in_band": float((truth & band).sum() / truth.sum()),
            "mean_fringe_width_px": float(columns.sum() / max(runs, 1))}


def _fringe_zones(centres, delta_f, freq):
    """Per true fringe: its centre (time,) and the pixels within half a spacing of it."""
    for centre in centres:
        yield centre, np.abs(freq[:, None] - centre[None, :]) <= delta_f[None, :] / 2


def decompose(test, truth, mask, prob, synth, wide):
    """Presence versus placement errors and the fixed-width oracles (module docstring).

    The nights' hidden parameters (``q``, SNR, fringe centres) are drawn again from each
    night's seed as :func:`magnetar.synthetic.synthetic_iar_night` draws them; the redrawn
    centres are checked against the nights' visible fringe frequencies, so a change to the
    generator's draw order fails here instead of skewing the figures."""
    grid = _grid(wide)
    freq = test["frequency"].values
    step = float(np.median(np.diff(freq)))
    both = np.zeros(2)  # intersection, union within fringe-columns both have
    missed = invented = n_both = 0
    centre_err, width_err, nights = [], [], []
    oracle = {"fixed_q": np.zeros(2), "q_10pct_wide": np.zeros(2)}
    swaps = {key: np.zeros(2) for key in SWAPS}
    q_mid = float(np.mean(synth.width_fraction))
    for i, seed in enumerate(test["seed"].values):
        p = _draw(wide, np.random.default_rng(int(seed)), grid["n_time"])
        t, m = truth[i], mask[i]
        if not p["has_iar"]:
            for key in swaps:
                swaps[key] += [0, m.sum()]
            continue
        shown = test["fringe_frequency"].values[i]
        centres = _fringe_centres(p)
        seen = np.isfinite(shown[:len(centres)])
        if not np.allclose(shown[:len(centres)][seen], centres[seen]):
            msg = f"night seed {seed}: redrawn fringe centres differ from the generator's"
            raise RuntimeError(msg)
        nights.append(((m & ~t).sum() - (~m & t).sum(), p["q"], 10 * np.log10(p["snr"])))
        rebuilt = {key: np.zeros_like(m) for key in SWAPS}
        zones = np.zeros_like(m)
        half_fixed = q_mid * p["delta_f"] / 2
        for centre, zone in _fringe_zones(centres, p["delta_f"], freq):
            zones |= zone
            for j in np.flatnonzero(zone.any(axis=0)):
                rows = zone[:, j]
                tz, mz = t[rows, j], m[rows, j]
                c_model = None  # the prediction's probability-weighted centre, if any
                if mz.any():
                    w = prob[i][rows, j] * mz
                    c_model = np.sum(freq[rows] * w) / w.sum()
                _rebuild(rebuilt, j, rows, tz, mz, freq, c_model, mz.sum() * step / 2,
                         centre[j], p["q"] * p["delta_f"][j] / 2, half_fixed[j])
                if tz.any() and mz.any():
                    n_both += 1
                    both += [(tz & mz).sum(), (tz | mz).sum()]
                    centre_err.append((c_model - centre[j]) / step)
                    width_err.append(int(mz.sum()) - int(tz.sum()))
                elif tz.any():
                    missed += int(tz.sum())
                elif mz.any():
                    invented += int(mz.sum())
        for key, rebuild in rebuilt.items():
            rebuild |= m & ~zones
            swaps[key] += [(rebuild & t).sum(), (rebuild | t).sum()]
        _, other = _expected_welch(p, wide, grid)
        for key, q in (("fixed_q", q_mid),
                       ("q_10pct_wide", 1.1 * p["q"])):
            label, _ = _label({**p, "q": q}, wide, freq, other)
            label &= ~p["gap"][None, :]
            oracle[key] += [(label & t).sum(), (label | t).sum()]
    nights = np.array(nights, float)
    centre_err, width_err = np.array(centre_err), np.array(width_err)
    return {
        "fringe_columns_both": n_both,
        "iou_within_fringe_columns_both": float(both[0] / both[1]),
        "error_pixels_within_fringe_columns_both": int(both[1] - both[0]),
        "false_negative_pixels_in_missed_fringe_columns": missed,
        "false_positive_pixels_in_invented_fringe_columns": invented,
        "centre_error_px": {"median_abs": float(np.median(np.abs(centre_err))),
                            "mean": float(centre_err.mean()),
                            "p90_abs": float(np.percentile(np.abs(centre_err), 90))},
        "width_error_px": {"mean": float(width_err.mean()),
                           "median_abs": float(np.median(np.abs(width_err)))},
        "corr_night_fp_minus_fn_with_width_fraction": float(
            np.corrcoef(nights[:, 0], nights[:, 1])[0, 1]),
        "corr_night_fp_minus_fn_with_snr_db": float(
            np.corrcoef(nights[:, 0], nights[:, 2])[0, 1]),
        "oracle_iou_true_centres_fixed_width_fraction": float(
            oracle["fixed_q"][0] / oracle["fixed_q"][1]),
        "oracle_iou_true_centres_width_10pct_wide": float(
            oracle["q_10pct_wide"][0] / oracle["q_10pct_wide"][1]),
        "iou_with_parts_from_truth": {key: float(v[0] / v[1]) for key, v in swaps.items()}}


# rebuilt predictions: which parts come from the truth (module docstring)
SWAPS = ("presence", "presence+centre", "presence+centre+width", "centre", "width",
         "centre+width", "centre+fixed_width_fraction")


def _rebuild(rebuilt, j, rows, tz, mz, freq, c_model, half_model, centre, half_true,
             half_fixed):
    """Add one fringe-column to each rebuilt prediction (see ``SWAPS``); ``c_model`` and
    ``half_model`` are the prediction's centre and half width there (``c_model`` None
    where it has no pixel)."""
    near = lambda c, half: np.abs(freq - c) <= half  # noqa: E731
    true_band = near(centre, half_true)
    if mz.any():
        rebuilt["centre"][:, j] |= near(centre, half_model)
        rebuilt["width"][:, j] |= near(c_model, half_true)
        rebuilt["centre+width"][:, j] |= true_band
        rebuilt["centre+fixed_width_fraction"][:, j] |= near(centre, half_fixed)
    if tz.any() and mz.any():
        rebuilt["presence"][rows, j] |= mz
        rebuilt["presence+centre"][:, j] |= near(centre, half_model)
    elif tz.any():
        for key in ("presence", "presence+centre"):
            rebuilt[key][:, j] |= true_band
    if tz.any():
        rebuilt["presence+centre+width"][:, j] |= true_band


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=64)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"machine": describe(), **analyse(args.nights)}
    (args.out / "error_analysis.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
