"""Learning tests hold by a margin, not by luck: their assertions across training seeds.

Re-runs the three learning assertions of the test suite (CNN and coherence classifiers on
stripes vs blobs, the small U-Net on stripes) with training seeds 0-9 on the tests' own data
and writes the scores to benchmarks/results/seed_margins.json.

Run: .venv/bin/python benchmarks/seed_margins.py
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "training"))
from _machine import describe  # noqa: E402
from test_classification import _stripes_vs_blobs  # noqa: E402
from test_segmentation import _stripes  # noqa: E402

from magnetar.training.classification import (  # noqa: E402
    ClassifierConfig,
    fit_classifier,
    predict_proba,
)
from magnetar.training.metrics import classification_metrics  # noqa: E402
from magnetar.training.segmentation import (  # noqa: E402
    SegmentationConfig,
    fit_segmentation,
    predict_segmentation,
)

SEEDS = range(10)


def main():
    out = {"machine": describe(), "seeds": list(SEEDS)}
    x, y = _stripes_vs_blobs(160, 0)
    vx, vy = _stripes_vs_blobs(40, 1)
    tx, ty = _stripes_vs_blobs(60, 2)
    out["cnn_accuracy (test asserts >= 0.9)"] = [classification_metrics(ty, predict_proba(
        fit_classifier(x, y, vx, vy, ClassifierConfig(epochs=6, batch_size=16, device="cpu",
                                                      patience=0, seed=s),
                       out_dir=Path(tempfile.mkdtemp()))[0], tx))["accuracy"] for s in SEEDS]
    x, y = _stripes_vs_blobs(120, 6)
    vx, vy = _stripes_vs_blobs(40, 7)
    tx, ty = _stripes_vs_blobs(60, 8)
    out["coherence_accuracy (test asserts >= 0.95)"] = [classification_metrics(
        ty, predict_proba(fit_classifier(x, y, vx, vy, ClassifierConfig(
            model="lma_coherence", epochs=40, batch_size=16, device="cpu", lr=3e-2,
            patience=0, seed=s))[0], tx))["accuracy"] for s in SEEDS]
    sx, sy = _stripes(24, 0)
    svx, svy = _stripes(6, 1)
    ious = []
    for s in SEEDS:
        cfg = SegmentationConfig(model_kwargs={"base": 8, "depth": 2, "dropout": 0.0},
                                 epochs=6, batch_size=4, lr=3e-3, device="cpu", seed=s)
        model, _ = fit_segmentation(sx, sy, svx, svy, cfg, out_dir=Path(tempfile.mkdtemp()))
        pred = predict_segmentation(model, svx) > 0.5
        ious.append(float(np.sum(pred & (svy > 0)) / np.sum(pred | (svy > 0))))
    out["unet_iou (test asserts > 0.7)"] = ious
    path = HERE / "results" / "seed_margins.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: (min(v), max(v)) for k, v in out.items() if k.endswith(")")}))  # noqa: T201


if __name__ == "__main__":
    main()
