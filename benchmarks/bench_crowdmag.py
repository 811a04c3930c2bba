"""CrowdMag autoencoder benchmarks: training time per epoch and inference tiles per second.

Usage::

    python benchmarks/bench_crowdmag.py          # CPU (all cores torch uses) -> results/crowdmag.json
    python benchmarks/bench_crowdmag.py --gpu    # CUDA -> results/crowdmag_gpu.json

The published dense AE, the convolutional masked AE and the same with its thin-plate prior
channels (the configuration reported in docs/crowdmag.md; also with its eight-view test-time
augmentation), on 32x32 tiles; the reference in
the same run is linear-interpolation gap filling of the same tiles (scipy), so the model's
speed is quoted as a ratio to the classical method it replaces. The spline baselines'
speeds (verde, and the batched thin-plate solver) are measured in the same run too.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar.grids import inpaint  # noqa: E402
from magnetar.training import corrupt  # noqa: E402
from magnetar.training.reconstruction import TrainConfig, fit, reconstruct  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def _tiles(n, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:32] / 32.0
    k = rng.uniform(1, 4, size=(n, 2, 1, 1))
    return 100 * np.sin(2 * np.pi * (k[:, 0] * x + k[:, 1] * y) + rng.uniform(0, 6, (n, 1, 1)))


def bench(device):
    train, val = _tiles(1024), _tiles(128, 1)
    c, k = corrupt(_tiles(2048, 2), mask_fraction=0.5, noise_nT=10.0, seed=3)
    out = {}
    start = time.perf_counter()
    inpaint(c[:256], k[:256], method="linear")
    linear_tps = 256 / (time.perf_counter() - start)
    out["linear_interpolation_tiles_per_s"] = linear_tps
    for method, n in (("spline", 32), ("thin_plate", 2048)):
        start = time.perf_counter()
        inpaint(c[:n], k[:n], method=method)
        out[f"{method}_tiles_per_s"] = n / (time.perf_counter() - start)
    variants = (("dense_ae", "dense_ae", {"tile": 32}), ("conv_masked_ae", "conv_masked_ae", {}),
                ("conv_masked_ae_thin_plate", "conv_masked_ae", {"thin_plate": (0.05, 0.5)}))
    for label, name, kwargs in variants:
        cfg = TrainConfig(model=name, model_kwargs=kwargs, epochs=3, device=device)
        model, history = fit(train, val, cfg)
        reconstruct(model, c[:64], k[:64])  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        reconstruct(model, c, k, batch_size=512)
        if device == "cuda":
            torch.cuda.synchronize()
        tps = len(c) / (time.perf_counter() - start)
        out[label] = {"train_seconds_per_epoch_1024_tiles": float(np.median(
                         [h["seconds"] for h in history[1:]])),
                     "inference_tiles_per_s": tps,
                     "inference_vs_linear_interpolation": tps / linear_tps}
        if kwargs.get("thin_plate"):  # the reported configuration: also with its 8-view TTA
            start = time.perf_counter()
            reconstruct(model, c, k, batch_size=512, tta=True)
            if device == "cuda":
                torch.cuda.synchronize()
            tta = len(c) / (time.perf_counter() - start)
            out[label].update(inference_tta_tiles_per_s=tta,
                              inference_tta_vs_linear_interpolation=tta / linear_tps)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="run on CUDA")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if args.gpu else "cpu"
    result = {"machine": describe(), "device": device,
              "torch_threads": torch.get_num_threads(), **bench(device)}
    name = "crowdmag_gpu.json" if args.gpu else "crowdmag.json"
    (args.out / name).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
