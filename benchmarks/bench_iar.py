"""IAR benchmarks: one day of 100 Hz data to a spectrogram, U-Net epoch and inference times.

Usage::

    python benchmarks/bench_iar.py          # CPU -> results/iar.json
    python benchmarks/bench_iar.py --gpu    # CUDA -> results/iar_gpu.json
    python benchmarks/bench_iar.py --spectrogram-only   # -> results/iar_spectrogram.json

Spectrogram: 8.64 M samples, band-pass and Welch timed separately (best of 3), with NumPy's
FFT on one thread. U-Net: the paper-size network (64 base channels, 4 levels) on native
(389, 432) night spectrograms, 178 nights per epoch, batch 4 (bf16 autocast and
channels-last on CUDA). On CPU the epoch is timed on 8 nights and scaled to 178 (stated in
the JSON). Published reference: 132 s for 10 epochs and 58 ms per image on a V100; plain
PyTorch about 22 s and 5 ms on an H100.
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from _machine import best_time, describe  # noqa: E402

from magnetar.io import timeseries_from_array  # noqa: E402
from magnetar.models import create_model  # noqa: E402
from magnetar.processing import bandpass, welch_spectrogram  # noqa: E402
from magnetar.training.segmentation import (  # noqa: E402
    SegmentationConfig,
    fit_segmentation,
    predict_segmentation,
)

RESULTS = Path(__file__).parent / "results"
SHAPE = (389, 432)


def bench_spectrogram():
    """magnetar's band-pass + Welch spectrogram against plain scipy with the same parameters
    (sosfiltfilt, then welch on 100 s segments), timed in the same run."""
    from scipy import signal

    rng = np.random.default_rng(0)
    x = rng.standard_normal(8_640_000)
    series = timeseries_from_array(x, sampling_rate=100.0, start="2020-01-01")
    sos = signal.butter(4, [0.5, 10.0], btype="bandpass", fs=100.0, output="sos")

    def plain():
        y = signal.sosfiltfilt(sos, x)
        return signal.welch(y.reshape(864, 10_000), fs=100.0, nperseg=4096, noverlap=2048,
                            nfft=4096, detrend=False, axis=-1)

    t_plain = best_time(plain)
    t_total = best_time(lambda: welch_spectrogram(bandpass(series)))
    freq, psd = plain()
    ours = welch_spectrogram(bandpass(series))
    band = (freq >= 0.5) & (freq <= 10.0)
    diff = float(np.max(np.abs(ours.values[band] - np.log10(psd.T[band]))))
    t_welch = best_time(lambda: welch_spectrogram(series))
    t_band = best_time(lambda: bandpass(series))
    return {"samples": 8_640_000, "welch_s": t_welch, "bandpass_s": t_band,
            "total_s": t_total, "plain_scipy_s": t_plain,
            "ratio_to_plain_scipy": t_total / t_plain, "columns": 864, "target_s": 0.5,
            "max_abs_log10_difference_0.5_10hz": diff}


def bench_unet(device, n_epoch_nights):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_epoch_nights, *SHAPE)).astype(np.float32)
    y = (rng.random((n_epoch_nights, *SHAPE)) > 0.9).astype(np.float32)
    cfg = SegmentationConfig(model_kwargs={"base": 64, "depth": 4}, epochs=3 if device == "cuda"
                             else 1, batch_size=4, device=device, augment=None)
    _, history = fit_segmentation(x, y, x[:4], y[:4], cfg)
    epoch = float(np.median([h["seconds"] for h in history[1:]] or [history[0]["seconds"]]))
    model = create_model("unet", base=64, depth=4).to(device).eval()
    batch = 8 if device == "cuda" else 1
    images = x[:max(batch * 4, 4)]
    predict_segmentation(model, images[:batch], batch_size=batch, device=device)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    t = best_time(lambda: predict_segmentation(model, images, batch_size=batch, device=device), 2)
    per_night = t / len(images)
    return {"nights_timed_per_epoch": n_epoch_nights,
            "epoch_s_for_178_nights": epoch * 178 / n_epoch_nights,
            "ten_epochs_s_for_178_nights": 10 * epoch * 178 / n_epoch_nights,
            "inference_ms_per_night": 1000 * per_night, "inference_batch": batch,
            "input_shape": list(SHAPE), "base": 64, "depth": 4, "train_batch": 4}


def main_spectrogram_only():
    result = {"machine": describe(), "spectrogram_one_day_100Hz": bench_spectrogram()}
    (RESULTS / "iar_spectrogram.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))  # noqa: T201


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="U-Net on CUDA")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if args.gpu else "cpu"
    result = {"machine": describe(), "device": device, "torch_threads": torch.get_num_threads()}
    if device == "cuda":
        result["gpu"] = torch.cuda.get_device_name(0)
    result["spectrogram_one_day_one_core"] = bench_spectrogram()
    print(json.dumps(result["spectrogram_one_day_one_core"]), flush=True)  # noqa: T201
    torch.set_num_threads(os.cpu_count() or 1)
    result["unet_paper_size"] = bench_unet(device, 178 if device == "cuda" else 8)
    result["published"] = {"v100_10_epochs_s": 132, "v100_ms_per_image": 58,
                           "plain_pytorch_h100_10_epochs_s": 22, "plain_pytorch_h100_ms": 5}
    print(json.dumps(result["unet_paper_size"]), flush=True)  # noqa: T201
    name = "iar_gpu.json" if args.gpu else "iar.json"
    (args.out / name).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    if "--spectrogram-only" in sys.argv:
        main_spectrogram_only()
    else:
        main()
