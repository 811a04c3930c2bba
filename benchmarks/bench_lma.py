"""Linear-anomaly classifier speed: windows per second and time to map a grid.

Measures, for vgg19, resnet18 and mobilenet_v2 transfer classifiers (250 x 250 windows,
resized to 224 inside the model), inference windows/s on the CPU and, with ``--gpu``, on
CUDA (bfloat16, channels-last), each against the plain torchvision network fed ready-made
224 x 224 three-channel batches in the same run (the reference: our resizing and channel
handling included, what fraction of plain PyTorch speed do we keep). Then the end-to-end
time to map a ``--map-size`` square grid at stride 10 (windowing, normalisation, inference,
calibration). Results: ``benchmarks/results/lma[_gpu].json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from _machine import best_time, describe

from magnetar.models import create_model
from magnetar.workflows.lma.run import LMAConfig, predict_grid


def windows_per_second(name, device, n, batch, dtype):
    model = create_model(name).to(device).eval()
    plain = __import__("torchvision").models.get_model(name, weights=None).to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        plain = plain.to(memory_format=torch.channels_last)
    x = torch.rand(batch, 1, 250, 250, device=device)
    x3 = torch.rand(batch, 3, 224, 224, device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
        x3 = x3.contiguous(memory_format=torch.channels_last)
    ctx = (torch.autocast("cuda", dtype=dtype) if device.type == "cuda"
           else torch.autocast("cpu", enabled=False))

    def run(net, inp):
        def go():
            with torch.no_grad(), ctx:
                for _ in range(n // batch):
                    net(inp)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return go

    run(model, x)()  # warm-up
    run(plain, x3)()
    ours = (n // batch) * batch / best_time(run(model, x))
    ref = (n // batch) * batch / best_time(run(plain, x3))
    return {"windows_per_s": ours, "plain_torchvision_per_s": ref, "ratio": ours / ref,
            "batch": batch}


def map_time(name, device, size):
    rng = np.random.default_rng(0)
    values = np.cumsum(rng.standard_normal((size, size)), axis=1)
    grid = xr.DataArray(values, dims=("northing", "easting"),
                        coords={"northing": np.arange(size) * 1000.0,
                                "easting": np.arange(size) * 1000.0})
    model = create_model(name).to(device).eval()
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    config = LMAConfig(grid_size=max(size, 250))
    t0 = time.perf_counter()
    res = predict_grid(grid, model, config=config, stride=10, batch_size=256)
    seconds = time.perf_counter() - t0
    n = ((size - 250) // 10 + 1) ** 2
    return {"grid": size, "stride": 10, "windows": n, "seconds": seconds,
            "linear_percentage": res.attrs["linear_percentage"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpu", action="store_true", help="also measure on CUDA")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--map-size", type=int, default=1500)
    parser.add_argument("--cpu-windows", type=int, default=64)
    args = parser.parse_args()
    devices = [torch.device("cpu")]
    if args.gpu:
        devices = [torch.device("cuda")]
    results = {"machine": describe(), "torch": torch.__version__, "models": {}}
    for device in devices:
        tag = device.type
        if tag == "cuda":
            results["machine"]["gpu"] = torch.cuda.get_device_name()
            torch.backends.cudnn.benchmark = True
        else:
            results["machine"]["torch_threads"] = torch.get_num_threads()
        for name in ("vgg19", "resnet18", "mobilenet_v2"):
            n, batch = (8192, 256) if tag == "cuda" else (args.cpu_windows, 16)
            results["models"][f"{name}_{tag}"] = windows_per_second(
                name, device, n, batch, torch.bfloat16)
            print(name, tag, results["models"][f"{name}_{tag}"], flush=True)  # noqa: T201
        for name in (("vgg19", "resnet18") if tag == "cuda" else ("resnet18",)):
            size = args.map_size if tag == "cuda" else min(args.map_size, 400)
            results[f"map_{name}_{tag}"] = map_time(name, device, size)
            print(results[f"map_{name}_{tag}"], flush=True)  # noqa: T201
    out = Path(args.out) / ("lma_gpu.json" if args.gpu else "lma.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"written {out}")  # noqa: T201


if __name__ == "__main__":
    main()
