"""Where the shipped IAR U-Net errs on held-out synthetic nights: at fringe edges or not.

Usage::

    python benchmarks/iar_error_analysis.py [--nights 24] -> results/iar/error_analysis.json

Held-out nights as in ``magnetar iar evaluate`` (seeds from 10,000,000, ranges widened
1.25x). A pixel is in the *boundary band* when it lies within one pixel (frequency or time)
of the true mask's edge, inside or outside. The JSON gives the share of false positives and
false negatives in that band and the IoU if band errors were forgiven: how much of the gap
to IoU 0.80 is fringe-edge placement rather than missed or invented fringes.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar.pipelines.iar_detection import (  # noqa: E402
    TEST_SEED,
    IARPipelineConfig,
    _nights,
    predict_nights,
)
from magnetar.pretrained import pretrained_path  # noqa: E402
from magnetar.training.segmentation import load_segmentation  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "iar"


def analyse(n):
    model, cfg, _ = load_segmentation(pretrained_path("iar_unet16.pt"))
    conf = IARPipelineConfig()
    test = _nights(n, conf.synth_config().wider(conf.test_widen), TEST_SEED + conf.seed)
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
            "iou": float(tp.sum() / (tp.sum() + fp.sum() + fn.sum())),
            "false_positive_share_in_band": float((fp & band).sum() / fp.sum()),
            "false_negative_share_in_band": float((fn & band).sum() / fn.sum()),
            "iou_if_band_errors_forgiven": float(
                tp.sum() / (tp.sum() + (fp & ~band).sum() + (fn & ~band).sum())),
            "true_pixels_in_band": float((truth & band).sum() / truth.sum()),
            "mean_fringe_width_px": float(columns.sum() / max(runs, 1))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=24)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"machine": describe(), **analyse(args.nights)}
    (args.out / "error_analysis.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
