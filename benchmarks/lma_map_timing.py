"""Time to map one 512 x 512 EMAG2v3 tile at stride 10 on one core, stage by stage.

    MAGNETAR_DATA_DIR=../shared/data .venv/bin/python benchmarks/lma_map_timing.py \
        [--models lma_texture.pt,lma_coherence.pt]

Stages follow ``magnetar.workflows.lma.run.predict_grid``: read the tile, reflect its edges,
diffuse (models trained on diffused grids only), cut and scale windows, the model (features
and head), calibration and node maps, write the netCDF. One thread (torch and BLAS).
Writes benchmarks/results/lma/map_timing.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar import datasets  # noqa: E402
from magnetar.grids import crop_map, iter_window_batches, pad_edges, region_map  # noqa: E402
from magnetar.io import read_emag2v3_tile  # noqa: E402
from magnetar.training.classification import predict_proba  # noqa: E402
from magnetar.workflows.lma.run import _diffused, _model_and_config, _write_map  # noqa: E402

STRIDE = 10


def time_one(model_name):
    torch.set_num_threads(1)
    stages = {}
    t = time.perf_counter()
    model, config = _model_and_config(model_name, device="cpu")
    stages["load model"] = time.perf_counter() - t
    t = time.perf_counter()
    tile = read_emag2v3_tile(datasets.fetch("grids/emag2v3_tiles/gts/example_1299.png"))
    stages["read tile"] = time.perf_counter() - t
    t = time.perf_counter()
    padded, crop = pad_edges(tile, size=config.size, stride=STRIDE)
    stages["reflect edges"] = time.perf_counter() - t
    t = time.perf_counter()
    if config.diffuse:
        padded = _diffused(padded, config)
    stages["diffusion"] = time.perf_counter() - t
    values = padded.values
    ny, nx = values.shape
    nr, nc = (ny - config.size) // STRIDE + 1, (nx - config.size) // STRIDE + 1
    prob = np.full((nr, nc), np.nan)
    cut = model_time = 0.0
    t = time.perf_counter()
    for rr, cc, w in iter_window_batches(values, size=config.size, stride=STRIDE,
                                         batch_size=128, clip=config.clip):
        t1 = time.perf_counter()
        cut += t1 - t
        prob[rr, cc] = predict_proba(model, w, batch_size=128, device="cpu")
        t = time.perf_counter()
        model_time += t - t1
    stages["cut and scale windows"] = cut
    stages["model (features + head)"] = model_time
    t = time.perf_counter()
    result = crop_map(region_map(padded, prob, size=config.size, stride=STRIDE,
                                 neighbourhood=config.neighbourhood, low=config.low,
                                 high=config.high), crop)
    stages["calibration and node maps"] = time.perf_counter() - t
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        _write_map(result, Path(tmp) / "map.nc")
    stages["write netCDF"] = time.perf_counter() - t
    return {"model": model_name, "window": config.size, "windows": int(nr * nc),
            "stages_s": {k: round(v, 3) for k, v in stages.items()},
            "total_s": round(sum(stages.values()), 2),
            "linear_percentage": result.attrs["linear_percentage"]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lma_texture.pt,lma_coherence.pt")
    args = parser.parse_args()
    report = {"machine": describe(), "threads": 1, "stride": STRIDE, "tile": "example_1299",
              "runs": [time_one(m) for m in args.models.split(",")]}
    out = Path(__file__).parent / "results" / "lma" / "map_timing.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["runs"], indent=2))  # noqa: T201
