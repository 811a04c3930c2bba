"""Grid preprocessing benchmarks: diffusion throughput, SVD, chunked vs in-memory.

Usage::

    python benchmarks/bench_grids.py            # CPU parts -> results/grids.json
    python benchmarks/bench_grids.py --gpu      # GPU part  -> results/grids_gpu.json

CPU figures use one core (BLAS and torch limited to one thread). Throughput is in
megapixel-iterations per second (grid nodes x explicit steps / wall time), quoted against the
straightforward explicit reference run in the same process.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _machine import best_time, describe  # noqa: E402

from magnetar.grids._diffusion import (  # noqa: E402
    DiffusionConfig,
    _run_numpy,
    _run_torch,
    diffusion_reach,
)
from magnetar.grids._diffusion_reference import coherence_diffusion_reference  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def _grid(n, seed=0, noise=0.3):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n]
    stripes = np.sin(2 * np.pi * (x * np.cos(0.4) + y * np.sin(0.4)) / 40.0)
    return stripes + noise * rng.standard_normal((n, n))


def _anomaly_like(n, seed=0):
    """A grid with an anomaly map's red spectrum (k^-3 power) plus 2 % white noise."""
    rng = np.random.default_rng(seed)
    k = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.rfftfreq(n)[None, :])
    k[0, 0] = 1.0
    spec = np.fft.rfft2(rng.standard_normal((n, n))) * k**-1.5
    field = np.fft.irfft2(spec, s=(n, n))
    field /= field.std()
    return field + 0.02 * rng.standard_normal((n, n))


def bench_cpu():
    import torch

    torch.set_num_threads(1)
    out = {}
    u = _grid(1000)
    steps = 8
    cfg = DiffusionConfig(sigma=1.0, rho=6.0, time=0.15 * steps, time_step=0.15)
    t_np = best_time(lambda: _run_numpy(u, None, cfg, np.float32, False), 3)
    t_np64 = best_time(lambda: _run_numpy(u, None, cfg, np.float64, False), 2)
    t_torch = best_time(lambda: _run_torch(u, None, cfg, np.float32, "cpu", False), 2)
    ref_cfg = DiffusionConfig(sigma=1.0, rho=6.0, time=0.3, time_step=0.15)  # 2 steps
    t_ref = best_time(lambda: coherence_diffusion_reference(u, ref_cfg), 1)
    mpix = u.size / 1e6
    out["diffusion_1000x1000_sigma1_rho6"] = {
        "numpy_float32_mpix_it_per_s": mpix * steps / t_np,
        "numpy_float64_mpix_it_per_s": mpix * steps / t_np64,
        "torch_cpu_float32_mpix_it_per_s": mpix * steps / t_torch,
        "reference_float64_mpix_it_per_s": mpix * ref_cfg.n_steps / t_ref,
        "speedup_numpy_float32_vs_reference": (mpix * steps / t_np)
        / (mpix * ref_cfg.n_steps / t_ref),
        "threads": 1,
    }
    print(json.dumps(out, indent=1), flush=True)  # noqa: T201

    from magnetar.grids import svd_denoise

    a = xr.DataArray(_anomaly_like(4000, 1), dims=("northing", "easting"),
                     coords={"northing": np.arange(4000.0), "easting": np.arange(4000.0)})
    t0 = time.perf_counter()
    r = svd_denoise(a, energy=0.98, randomized=True)
    t_rand = time.perf_counter() - t0
    t0 = time.perf_counter()
    f = svd_denoise(a, energy=0.98, randomized=False)
    t_full = time.perf_counter() - t0
    out["svd_4000x4000_energy0.98"] = {
        "randomized_s": t_rand, "randomized_rank": r.attrs["svd_rank"],
        "full_lapack_s": t_full, "full_rank": f.attrs["svd_rank"],
        "max_abs_difference": float(np.abs(r - f).max()), "threads": 1,
    }
    print(json.dumps(out["svd_4000x4000_energy0.98"], indent=1), flush=True)  # noqa: T201

    from magnetar.grids import coherence_diffusion

    big = xr.DataArray(_grid(2000, 2), dims=("northing", "easting"),
                       coords={"northing": np.arange(2000.0), "easting": np.arange(2000.0)})
    params = {"sigma": 1.0, "rho": 6.0, "time": 1.5, "time_step": 0.15}
    t0 = time.perf_counter()
    mem = coherence_diffusion(big, **params)
    t_mem = time.perf_counter() - t0
    import dask

    t0 = time.perf_counter()
    with dask.config.set(scheduler="synchronous"):
        chunked = coherence_diffusion(big, chunks=(1000, 1000), **params).compute()
    t_chunk = time.perf_counter() - t0
    out["chunked_2000x2000_chunks1000"] = {
        "in_memory_s": t_mem, "chunked_s": t_chunk,
        "max_abs_difference_nT": float(np.abs(chunked - mem).max()),
        "halo_nodes": diffusion_reach(DiffusionConfig(**params)),
        "note": "chunked work includes each chunk's halo; memory held is one chunk plus halo",
    }
    print(json.dumps(out["chunked_2000x2000_chunks1000"], indent=1), flush=True)  # noqa: T201
    return out


def bench_gpu():
    import torch

    out = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    for n in (1000, 4000):
        u = _grid(n)
        steps = 20
        cfg = DiffusionConfig(sigma=1.0, rho=6.0, time=0.15 * steps, time_step=0.15)
        _run_torch(u[:256, :256], None, cfg, np.float32, "cuda", False)  # warm-up

        def run(u=u, cfg=cfg):
            _run_torch(u, None, cfg, np.float32, "cuda", False)
            torch.cuda.synchronize()

        t = best_time(run, 3)
        out[f"diffusion_{n}x{n}_sigma1_rho6_float32"] = {
            "seconds": t, "steps": steps,
            "mpix_it_per_s_including_transfer": n * n / 1e6 * steps / t,
        }
        # steady-state throughput (data already on the GPU)
        from magnetar.grids._diffusion import _ced_core, _TorchOps

        ops = _TorchOps(torch)
        x = torch.as_tensor(u, dtype=torch.float32, device="cuda")
        with torch.no_grad():
            _ced_core(ops, x, None, cfg)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            _ced_core(ops, x, None, cfg)
            torch.cuda.synchronize()
            t_dev = time.perf_counter() - t0
        out[f"diffusion_{n}x{n}_sigma1_rho6_float32"]["mpix_it_per_s_on_device"] = (
            n * n / 1e6 * steps / t_dev)
        # agreement with the CPU float64 result
        if n == 1000:
            small = DiffusionConfig(sigma=1.0, rho=6.0, time=1.5, time_step=0.15)
            a = _run_torch(u, None, small, np.float32, "cuda", False)
            b = _run_numpy(u, None, small, np.float64, False)
            out["gpu_float32_vs_cpu_float64_max_abs_diff"] = float(np.abs(a - b).max())
        print(json.dumps(out, indent=1), flush=True)  # noqa: T201
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="GPU part only")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.gpu:
        result = {"machine": describe(), **bench_gpu()}
        name = "grids_gpu.json"
    else:
        result = {"machine": describe(), **bench_cpu()}
        name = "grids.json"
    (args.out / name).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
