"""IAR detection: time series -> spectrograms -> U-Net fringe masks -> resonance parameters.

Steps: :func:`run_spectrogram` (read, band-pass, Welch, night split, netCDF + PNG),
:func:`run_synth` (labelled synthetic nights), :func:`run_train` (U-Net on synthetic
nights; threshold chosen on validation nights by sweeping 0.4-0.9), :func:`run_predict`
(probability and mask with the input's coordinates), :func:`run_params` (f_n, delta_f per
night: CSV + netCDF + figure), :func:`run_evaluate` (held-out nights drawn with other
seeds and wider ranges: U-Net vs the peak-detection baseline, negative control, delta_f
error), :func:`run_crossval` (k-fold) and :func:`run_search` (Optuna).
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..._utils import (
    atomic_path,
    check_allocation,
    check_number,
    existing_file,
    output_file,
    output_folder,
    progress_bar,
    unique_stems,
    write_text_atomic,
)
from ...config import check_table, save_config
from ...errors import FileFormatError, MagnetarError, ValidationError

__all__ = [
    "IARPipelineConfig",
    "choose_threshold",
    "evaluate_nights",
    "labelled_nights_from_png",
    "labelled_pairs",
    "run_crossval",
    "run_evaluate",
    "run_params",
    "run_predict",
    "run_search",
    "run_spectrogram",
    "run_synth",
    "run_train",
]

LOGGER = logging.getLogger(__name__)
ANTI_ALIAS_FRACTION = 0.8  # usable fraction of the Nyquist frequency
THRESHOLDS = tuple(np.round(np.arange(0.4, 0.901, 0.05), 2))
TEST_SEED = 10_000_000
NEGATIVE_SEED = 20_000_000


@dataclass
class IARPipelineConfig:
    """Options of the IAR workflow.

    n_train, n_val : synthetic nights for training and threshold choice (published: 178
        labelled nights in all)
    seed : first training seed (validation follows; test nights use seeds from 10,000,000
        and a generator with ranges widened by ``test_widen``)
    synth : :class:`magnetar.synthetic.IARConfig` fields overriding the defaults
    train : :class:`magnetar.training.segmentation.SegmentationConfig` fields
    labelled : folder of hand-labelled PNG nights trained on instead of synthetic ones
        (:func:`labelled_nights_from_png`; "" for synthetic), ``val_fraction`` of them
        (seeded) kept for validation and the threshold
    """

    n_train: int = 178
    n_val: int = 32
    seed: int = 0
    workers: int = 1
    test_widen: float = 1.25
    synth: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    labelled: str = ""
    val_fraction: float = 0.2

    def __post_init__(self):
        if not 0 < self.val_fraction < 1:
            msg = f"val_fraction must be in (0, 1), got {self.val_fraction}"
            raise ValidationError(msg)
        if self.synth:
            from ...synthetic import IARConfig

            check_table(IARConfig, self.synth, key="synth")
        if self.train:
            from ...training.segmentation import SegmentationConfig

            check_table(SegmentationConfig, self.train, key="train")
        check_number(self.n_train, option="n_train (--nights)", minimum=1, integer=True)
        check_number(self.n_val, option="n_val (--val-nights)", minimum=1, integer=True)
        sy = self.synth_config()
        pixels = (sy.hours * 3600 / sy.segment_s) * (sy.fmax - sy.fmin) * sy.nfft / sy.sampling_rate
        check_allocation((self.n_train + self.n_val) * pixels * 4 * 3,
                         option="--nights, --val-nights",
                         what=f"{self.n_train + self.n_val} synthetic nights in memory")

    def synth_config(self):
        """Return the synthetic-night generator's config."""
        from ...synthetic import IARConfig

        return IARConfig(**self.synth)

    def train_config(self):
        """Return the segmentation training config."""
        from ...training.segmentation import SegmentationConfig

        return SegmentationConfig(**self.train)


def labelled_pairs(folder):
    """List the labelled PNG pairs of a folder.

    ``(image, mask)`` PNG pairs of a folder: every ``NAME.png`` with a ``NAME_mask.png``
    beside it (the naming of ``magnetar iar synth --png``), sorted by name.
    """
    folder = Path(folder)
    if not folder.is_dir():
        msg = f"no such folder of labelled nights: {folder}"
        raise ValidationError(msg)
    images = sorted(p for p in folder.glob("*.png") if not p.stem.endswith("_mask"))
    pairs = [(p, p.with_name(f"{p.stem}_mask.png")) for p in images]
    missing = [str(m.name) for _, m in pairs if not m.is_file()]
    if missing:
        msg = f"{folder}: images without their mask: {', '.join(missing[:5])}"
        raise ValidationError(msg)
    if not pairs:
        msg = f"{folder} holds no NAME.png + NAME_mask.png pairs"
        raise ValidationError(msg)
    return pairs


def labelled_nights_from_png(pairs, *, shape=None):
    """Stack hand-labelled PNG nights like synthetic ones.

    Hand-labelled nights from ``(spectrogram PNG, mask PNG)`` pairs, stacked like synthetic
    nights (``spectrogram`` and ``mask`` over night, frequency, time) for :func:`run_train`.

    Images of any size: every night is brought to ``shape`` (default: the first image's;
    spectrogram bilinear, mask nearest neighbour) so they stack; values are those the PNG
    stores (physical when written by :func:`magnetar.io.write_spectrogram_png`, else grey
    levels: the model input is standardised per night either way).
    """
    from skimage.transform import resize

    from ...io import read_label_mask, read_spectrogram_png

    specs, masks = [], []
    for image, mask in pairs:
        spec = read_spectrogram_png(image).values
        shape = spec.shape if shape is None else tuple(shape)
        if spec.shape != shape:
            spec = resize(spec, shape, order=1, preserve_range=True, anti_aliasing=True)
        specs.append(spec)
        masks.append(read_label_mask(mask, shape=shape))
    nights = [str(Path(p).stem) for p, _ in pairs]
    return xr.Dataset({"spectrogram": (("night", "frequency", "time"), np.stack(specs)),
                       "mask": (("night", "frequency", "time"),
                                np.stack(masks).astype(np.uint8))},
                      coords={"night": nights})


def _nights(n, synth, seed, progress=False, workers=1):
    from ...synthetic import synthetic_iar_nights

    if n < 1:
        msg = f"need at least one night (-n / --nights / --val-nights), got {n}"
        raise ValidationError(msg)
    return synthetic_iar_nights(n, synth, seed=seed, workers=workers, progress=progress)


EDGE_PAD = 32  # frequency rows mirrored beyond each band edge, in training and prediction


def _mirror_edges(values, pad=EDGE_PAD):
    """Mirror ``pad`` rows (the frequency axis, second to last) beyond each band edge."""
    pad = min(int(pad), values.shape[-2] - 1)
    width = [(0, 0)] * (values.ndim - 2) + [(pad, pad), (0, 0)]
    return np.pad(values, width, mode="reflect") if pad > 0 else values


def _cut_edges(values, rows):
    """Drop what :func:`_mirror_edges` added, given the unpadded number of rows."""
    pad = (values.shape[-2] - rows) // 2
    return values[..., pad:pad + rows, :]


def _inputs(nights):
    """Standardised spectrograms with mirrored band edges (the U-Net's input)."""
    from ...training.segmentation import standardise_spectrogram

    return _mirror_edges(standardise_spectrogram(nights["spectrogram"].values))


def _targets(nights):
    """Fringe masks mirrored as :func:`_inputs` mirrors the spectrograms."""
    return _mirror_edges(nights["mask"].values)


def _probability(model, x, rows, **kwargs):
    """Return the U-Net's probability on mirrored inputs ``x``, cut back to ``rows`` rows."""
    from ...training.segmentation import predict_segmentation

    return _cut_edges(predict_segmentation(model, x, **kwargs), rows)


def choose_threshold(probability, truth, thresholds=THRESHOLDS):
    """Return the threshold (of ``thresholds``) with the highest pooled IoU, and the table."""
    rows = []
    t = np.asarray(truth, bool)
    for th in thresholds:
        p = np.asarray(probability) > th
        union = np.sum(p | t)
        rows.append({"threshold": float(th),
                     "iou": float(np.sum(p & t) / union) if union else 1.0})
    best = max(rows, key=lambda r: r["iou"])
    return best["threshold"], rows


def run_synth(out, *, n, config=None, seed=0, png=False, progress=False):
    """Write labelled synthetic nights.

    Write ``n`` labelled synthetic nights to ``out`` (netCDF; PNGs of spectrogram and
    mask per night with ``png``).

    Parameters
    ----------
    out : path-like
        Output folder.
    n : int
        Nights.
    config : IARPipelineConfig, optional
        Generator options.
    seed : int
        First seed.
    png, progress : bool
        Images per night; progress bar.

    Returns
    -------
    pathlib.Path
        ``nights.nc``.
    """
    from ...io import write_spectrogram_png

    config = IARPipelineConfig() if config is None else config
    nights = _nights(n, config.synth_config(), seed, progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "nights.nc", suffix=".nc") as tmp:
        nights.to_netcdf(tmp)
    save_config(config, out / "iar.config.toml", section="iar")
    if png:
        for i in range(n):
            night = nights.isel(night=i)
            write_spectrogram_png(night["spectrogram"], out / f"night_{seed + i:06d}.png")
            write_spectrogram_png(night["mask"], out / f"night_{seed + i:06d}_mask.png",
                                  vmin=0, vmax=1)
    return out / "nights.nc"


def run_train(out, config=None, *, train=None, val=None, resume=False, progress=False):
    """Train the fringe U-Net.

    Train the U-Net on synthetic nights (or the hand-labelled PNG nights of
    ``config.labelled``); choose the threshold on validation nights.

    Writes ``best.pt`` (with the chosen threshold in its config), ``last.pt``,
    ``history.json``, ``threshold.json``, ``iar.config.toml`` and a learning curve.

    Parameters
    ----------
    out : path-like
        Output folder.
    config : IARPipelineConfig, optional
        Nights, generator and training options.
    train, val : xarray.Dataset, optional
        Nights to use instead of generating them.
    resume : bool
        Continue from ``out/last.pt``.
    progress : bool
        Progress bars.

    Returns
    -------
    (torch.nn.Module, list of dict, dict)
        The best model, the history and the written paths (with the chosen threshold).
    """
    from ...training.checkpoint import update_metadata
    from ...training.segmentation import fit_segmentation, load_segmentation

    config = IARPipelineConfig() if config is None else config
    config.train_config()  # refuse bad training options before drawing nights
    out = output_folder(out)
    synth = config.synth_config()
    if config.labelled and train is None and val is None:
        nights = labelled_nights_from_png(labelled_pairs(config.labelled))
        order = np.random.default_rng(config.seed).permutation(nights.sizes["night"])
        n_val = max(1, round(config.val_fraction * len(order)))
        if len(order) - n_val < 1:
            msg = f"{config.labelled}: {len(order)} labelled nights; need at least two"
            raise ValidationError(msg)
        val, train = nights.isel(night=order[:n_val]), nights.isel(night=order[n_val:])
        LOGGER.info("%d labelled nights: %d for training, %d for validation",
                    len(order), train.sizes["night"], val.sizes["night"])
    train = _nights(config.n_train, synth, config.seed, progress, config.workers) if train is None else train
    val = (_nights(config.n_val, synth, config.seed + config.n_train, progress, config.workers)
           if val is None else val)
    out = Path(out)
    model, history = fit_segmentation(_inputs(train), _targets(train), _inputs(val),
                                      _targets(val), config.train_config(), out_dir=out,
                                      resume=resume, progress=progress)
    prob = _probability(model, _inputs(val), val.sizes["frequency"],
                        batch_size=config.train_config().batch_size)
    threshold, sweep = choose_threshold(prob, val["mask"].values)
    saved = load_segmentation(out / "best.pt")[2]["config"]
    update_metadata(out / "best.pt", config={**saved, "threshold": threshold})
    write_text_atomic(out / "threshold.json", json.dumps({"threshold": threshold,
                                                          "sweep": sweep}, indent=1))
    save_config(config, out / "iar.config.toml", section="iar")
    written = {"checkpoint": out / "best.pt", "history": out / "history.json",
               "threshold": threshold}
    from ...plot import can_plot, plot_history, save_figure

    if not can_plot():  # figures are optional: results are written
        return model, history, written
    written["figure"] = save_figure(plot_history(history), out / "learning_curve.png")
    return model, history, written


def _as_nights(spec):
    """Return a spectrogram DataArray (frequency, time) or (night, frequency, time) -> 3-D."""
    if spec.ndim == 2:
        return spec.transpose("frequency", "time").expand_dims("night")
    return spec.transpose("night", "frequency", "time")


def predict_nights(model, spec, *, threshold=0.5, batch_size=8, progress=False,
                   edge_pad=EDGE_PAD):
    """Return the fringe probability and mask of spectrogram nights.

    The band's edges are mirrored (``edge_pad`` rows each side) before the U-Net and cut
    off after, as in training (since session 17): a convolutional network's zero padding
    makes the first and last rows of an input unlike any inside the band, and on a
    138-row real night the model trained without it marked the top four rows throughout
    (LLO).

    Parameters
    ----------
    model : torch.nn.Module
        Segmentation model.
    spec : xarray.DataArray
        ``(frequency, time)`` or ``(night, frequency, time)`` log10 power.
    threshold : float
        Probability threshold of the mask.
    batch_size : int
        Nights per forward pass.
    progress : bool
        Progress bar.
    edge_pad : int
        Rows mirrored at each band edge (0: none).

    Returns
    -------
    xarray.Dataset
        ``probability`` and ``mask`` with the input's coordinates.
    """
    from ...training.segmentation import standardise_spectrogram

    nights = _as_nights(spec)
    x = _mirror_edges(standardise_spectrogram(nights.values), edge_pad)
    prob = _probability(model, x, nights.shape[1], batch_size=batch_size, progress=progress)
    prob = np.where(np.isfinite(nights.values), prob, 0.0)
    out = xr.Dataset({"probability": (nights.dims, prob.astype(np.float32),
                                      {"long_name": "IAR fringe probability"}),
                      "mask": (nights.dims, (prob > threshold).astype(np.uint8),
                               {"long_name": "IAR fringe mask", "threshold": threshold})},
                     coords=nights.coords)
    return out.squeeze("night", drop=True) if spec.ndim == 2 else out


def model_grid(model_path, *, band=False):
    """Return the frequency step (Hz) and column length (s) a segmentation model was trained on.

    Read from the workflow config beside the checkpoint (``NAME.iar.config.toml`` of a shipped
    model, ``iar.config.toml`` of an ``iar train`` run); the generator's defaults otherwise.

    Parameters
    ----------
    model_path : path-like
        The checkpoint.

    band : bool
        Also return the band ``(fmin, fmax)`` (Hz) the model saw.

    Returns
    -------
    (float, float) or (float, float, (float, float))
        Frequency step ``sampling_rate / nfft`` and column length ``segment_s`` (and band).
    """
    from ...config import load_config

    path = Path(model_path)
    candidates = (path.with_suffix(".iar.config.toml"), path.parent / "iar.config.toml")
    found = next((c for c in candidates if c.is_file()), None)
    config = load_config(IARPipelineConfig, found, section="iar") if found else \
        IARPipelineConfig()
    synth = config.synth_config()
    grid = synth.sampling_rate / synth.nfft, float(synth.segment_s)
    return (*grid, (synth.fmin, synth.fmax)) if band else grid


def _bin_axis(values, axis, source, target, step):
    """Bring log-power values on ``source`` coordinates to ``target`` along ``axis``.

    Power is averaged over each target bin when the source is finer; log power is
    interpolated linearly when it is coarser.
    """
    power = 10.0 ** np.moveaxis(values, axis, -1)
    out = np.full(power.shape[:-1] + (target.size,), np.nan)
    lo = np.searchsorted(source, target - step / 2)
    hi = np.searchsorted(source, target + step / 2)
    source_coarser = step <= np.median(np.diff(source))  # target bins no wider than its
    for k in range(target.size):
        if hi[k] > lo[k] + 1 or (hi[k] == lo[k] + 1 and source_coarser):
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bins stay NaN
                out[..., k] = np.log10(np.nanmean(power[..., lo[k]:hi[k]], axis=-1))
        else:
            for idx in np.ndindex(power.shape[:-1]):
                out[idx + (k,)] = np.interp(target[k], source, np.log10(power[idx]),
                                            left=np.nan, right=np.nan)
    return np.moveaxis(out, -1, axis)


def to_model_grid(spec, *, df, dt, tolerance=0.1):
    """Resample a spectrogram to a model's frequency step and column length.

    A spectrogram whose frequency step or column length differs from the model's by more
    than ``tolerance`` (relative) is brought to the model's grid: finer bins are averaged in
    power (what a coarser Welch estimate would have given), coarser ones interpolated in log
    power. The model is never fed a grid it was not trained on.

    Parameters
    ----------
    spec : xarray.DataArray
        ``(frequency, time)`` log10 power.
    df, dt : float
        The model's frequency step (Hz) and column length (s) (:func:`model_grid`).
    tolerance : float
        Relative difference accepted as the same grid.

    Returns
    -------
    xarray.DataArray
        The spectrogram on the model's grid (the input itself when it already is);
        ``attrs["resampled_from"]`` records the input's steps.
    """
    freq = spec["frequency"].values
    step_f = float(np.median(np.diff(freq)))
    out = spec.transpose("frequency", "time")
    note = []
    if abs(step_f / df - 1) > tolerance:
        target = np.arange(np.ceil(freq[0] / df) * df, freq[-1] + df / 2, df)
        values = _bin_axis(out.values, 0, freq, target, df)
        out = xr.DataArray(values, dims=out.dims, coords={"frequency": target,
                                                          "time": out["time"].values},
                           attrs=dict(spec.attrs))
        note.append(f"frequency step {step_f:.5g} Hz")
    times = out["time"].values
    seconds = (times - times[0]) / np.timedelta64(1, "s") if np.issubdtype(
        times.dtype, np.datetime64) else np.asarray(times, float)
    step_t = float(np.median(np.diff(seconds))) if seconds.size > 1 else dt
    if abs(step_t / dt - 1) > tolerance:
        target = np.arange(seconds[0], seconds[-1] + dt / 2, dt)
        values = _bin_axis(out.values, 1, seconds, target, dt)
        new_times = (times[0] + (target * 1e9).astype("timedelta64[ns]")
                     if np.issubdtype(times.dtype, np.datetime64) else target)
        out = xr.DataArray(values, dims=out.dims, coords={"frequency": out["frequency"].values,
                                                          "time": new_times},
                           attrs=dict(spec.attrs))
        note.append(f"column length {step_t:.5g} s")
    if note:
        LOGGER.warning("spectrogram resampled to the model's grid (%.5g Hz, %.5g s) from %s",
                       df, dt, " and ".join(note))
        out.attrs["resampled_from"] = "; ".join(note)
    return out


def run_predict(spectrogram_path, model_path, out_path, *, variable="spectrogram",
                dims=("frequency", "time"), scale="log10", batch_size=8, progress=False):
    """Read a spectrogram netCDF, predict fringes, write probability + mask (netCDF).

    Parameters
    ----------
    spectrogram_path : path-like
        netCDF with a (frequency, time) spectrogram.
    model_path : path-like
        Segmentation checkpoint (its chosen threshold is used).
    out_path : path-like
        Output netCDF.
    variable : str
        Variable holding the spectrogram.
    dims : (str, str)
        Its frequency and time dimensions in the file (:func:`magnetar.io.read_spectrogram`).
    scale : {"log10", "power", "amplitude"}
        What its values are.
    batch_size : int
        Nights per forward pass.
    progress : bool
        Progress bar.

    Returns
    -------
    xarray.Dataset
        ``probability``, ``mask`` and the input spectrogram.
    """
    from ...io import read_spectrogram
    from ...training.segmentation import load_segmentation

    df, dt, band = model_grid(model_path, band=True)
    spec = read_spectrogram(spectrogram_path, variable=variable, dims=dims, scale=scale)
    spec = to_model_grid(crop_to_model_band(spec, band), df=df, dt=dt)
    model, cfg, _ = load_segmentation(model_path)
    pred = predict_nights(model, spec, threshold=cfg.threshold, batch_size=batch_size,
                          progress=progress)
    pred[variable] = spec
    pred.attrs.update({"model": str(model_path), "input": str(spectrogram_path)})
    for key in ("night_coverage", "partial_night"):  # a partial night stays flagged
        if key in spec.attrs:
            pred.attrs[key] = spec.attrs[key]
    if spec.attrs.get("partial_night"):
        LOGGER.warning("%s: a partial night (%.0f %% covered): counts and durations are "
                       "lower bounds", spectrogram_path, 100 * spec.attrs["night_coverage"])
    with atomic_path(out_path, suffix=".nc") as tmp:
        pred.to_netcdf(tmp)
    return pred


def crop_to_model_band(spec, band):
    """Crop a spectrogram to the band the model was trained on, refusing one outside it.

    Parameters
    ----------
    spec : xarray.DataArray
        ``(frequency, time)`` spectrogram.
    band : (float, float)
        The model's band in Hz (``model_grid(model_path, band=True)[2]``).

    Returns
    -------
    xarray.DataArray
        The rows inside the model's band (a warning names what was cut).
    """
    lo, hi = band
    freq = spec["frequency"].values
    inside = (freq >= lo) & (freq <= hi)
    if inside.sum() < 2:
        msg = (f"the spectrogram covers {freq.min():g}-{freq.max():g} Hz, outside the "
               f"model's band {lo:g}-{hi:g} Hz: nothing to predict")
        raise ValidationError(msg)
    if not inside.all():
        LOGGER.warning("spectrogram cropped to the model's band %g-%g Hz (it covers %g-%g Hz)",
                       lo, hi, freq.min(), freq.max())
        spec = spec.isel(frequency=np.flatnonzero(inside))
        spec.attrs["cropped_to_model_band_hz"] = [lo, hi]
    return spec


def run_params(prediction_path, out_csv, *, delta_f_range=(0.1, 1.5), smooth=5, figure=True):
    """Resonance parameters of each night of a prediction file: CSV + netCDF (+ PNG).

    Parameters
    ----------
    prediction_path : path-like
        netCDF written by :func:`run_predict`.
    out_csv : path-like
        Output CSV (netCDF and PNG beside it).
    delta_f_range : (float, float)
        Spacings searched (Hz).
    smooth : int
        Columns averaged (:func:`magnetar.processing.resonance_parameters`).
    figure : bool
        Write one figure per night.

    Returns
    -------
    (pandas.DataFrame, dict)
        Per night and column: f_n, delta_f, fringe count; and the written paths.
    """
    from ...processing import resonance_parameters

    prediction_path = existing_file(prediction_path)
    out_csv = output_file(out_csv, inputs=[prediction_path], suffixes=(".csv",))
    try:
        ds = xr.load_dataset(prediction_path)
    except (OSError, ValueError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        msg = f"not a readable netCDF file ({first})"
        raise FileFormatError(msg, path=prediction_path) from None
    missing = [v for v in ("mask", "probability") if v not in ds]
    if missing:
        msg = (f"not a prediction of 'magnetar iar predict': no {' or '.join(missing)} "
               f"variable (it has {', '.join(ds.data_vars) or 'none'})")
        raise FileFormatError(msg, path=prediction_path)
    nights = [ds] if "night" not in ds.dims else [ds.isel(night=i)
                                                   for i in range(ds.sizes["night"])]
    tables, params = [], []
    for i, night in enumerate(nights):
        p = resonance_parameters(night["mask"], night["probability"],
                                 delta_f_range=delta_f_range, smooth=smooth)
        table = pd.DataFrame({"night": i, "partial_night": int(ds.attrs.get("partial_night", 0)),
                              "time": pd.DatetimeIndex(p["time"].values)
                              if np.issubdtype(p["time"].dtype, np.datetime64)
                              else p["time"].values,
                              "delta_f_hz": p["delta_f"].values,
                              "n_fringes": p["n_fringes"].values})
        for k in range(p.sizes["fringe"]):
            table[f"f{k + 1}_hz"] = p["fringe_frequency"].values[k]
        tables.append(table)
        # fringe numbers as a coordinate, so nights with different counts concatenate
        params.append(p.assign_coords(fringe=np.arange(1, p.sizes["fringe"] + 1)))
    table = pd.concat(tables, ignore_index=True)
    with atomic_path(out_csv, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    merged = xr.concat(params, dim="night", join="outer") if len(params) > 1 else params[0]
    with atomic_path(out_csv.with_suffix(".nc"), suffix=".nc") as tmp:
        merged.to_netcdf(tmp)
    written = {"csv": out_csv, "netcdf": out_csv.with_suffix(".nc")}
    if figure:
        from ...plot import plot_iar_night, save_figure

        for i, night in enumerate(nights):  # one figure per night
            spec = night.get("spectrogram")
            if spec is None:
                continue
            # a labelled file (synthetic nights) also shows TP / FN / FP pixels
            fig = plot_iar_night(spec, night["mask"], params=params[i],
                                 truth=night.get("truth"),
                                 true_delta_f=night.get("true_delta_f"))
            name = (out_csv.with_suffix(".png") if len(nights) == 1
                    else out_csv.with_name(f"{out_csv.stem}_night{i}.png"))
            written[f"figure_{i}" if len(nights) > 1 else "figure"] = save_figure(fig, name)
    return table, written


def evaluate_nights(model, nights, *, threshold, baseline=True, params=True, batch_size=8):
    """Pooled metrics of the model (and the baseline) on labelled nights.

    Pixel IoU, Dice, precision, recall; precision, recall and F1 within 1 and 2 frequency
    rows and the centre-line recall (:func:`magnetar.training.tolerant_segmentation_metrics`);
    the median absolute error of delta_f where both the truth and the prediction have one.

    Parameters
    ----------
    model : torch.nn.Module
        Segmentation model.
    nights : xarray.Dataset
        ``spectrogram``, ``mask`` (night, frequency, time), ``has_iar``, ``delta_f``.
    threshold : float
        Probability threshold.
    baseline, params : bool
        Also score the peak-detection baseline; also compare delta_f.
    batch_size : int
        Nights per forward pass.

    Returns
    -------
    (dict, xarray.Dataset)
        ``{"unet": ..., "baseline": ..., "delta_f_median_abs_error_hz": ...}`` and the
        prediction.
    """
    from ...processing import peak_detection_mask, resonance_parameters
    from ...training import segmentation_metrics, tolerant_segmentation_metrics

    def scores(mask):
        return {**segmentation_metrics(truth, mask),
                **tolerant_segmentation_metrics(truth, mask, rows=(1, 2), axis=1)}

    nights = nights.transpose("night", "frequency", "time", ...)
    pred = predict_nights(model, nights["spectrogram"], threshold=threshold,
                          batch_size=batch_size)
    truth = nights["mask"].values.astype(bool)
    result = {"unet": scores(pred["mask"].values)}  # (night, frequency, time), as nights
    if baseline:
        base = np.stack([peak_detection_mask(nights["spectrogram"].isel(night=i)).values
                         for i in range(nights.sizes["night"])])
        result["baseline"] = scores(base)
    errors = []
    if params:
        for i in range(nights.sizes["night"]):
            if not int(nights["has_iar"][i]):
                continue
            p = resonance_parameters(pred["mask"].isel(night=i), pred["probability"].isel(night=i))
            true_df = nights["delta_f"].values[i]
            ok = np.isfinite(true_df) & np.isfinite(p["delta_f"].values)
            errors.extend(np.abs(p["delta_f"].values[ok] - true_df[ok]))
        result["delta_f_median_abs_error_hz"] = float(np.median(errors)) if errors else None
        result["delta_f_columns_compared"] = len(errors)
    return result, pred


def run_evaluate(model_path, out, config=None, *, n=64, n_negative=32, progress=False):
    """Evaluate a model on held-out synthetic nights.

    Held-out evaluation: ``n`` nights with seeds from 10,000,000 drawn from ranges widened
    by ``config.test_widen``, and ``n_negative`` nights without IARs (negative control).

    Parameters
    ----------
    model_path : path-like
        Checkpoint (``best.pt``) of :func:`run_train`.
    out : path-like
        Output folder (``evaluation.json``, a figure).
    config : IARPipelineConfig, optional
        Generator options and ``test_widen``.
    n, n_negative : int
        Test nights, and nights without IARs.
    progress : bool
        Progress bars.

    Returns
    -------
    (dict, dict)
        The summary (U-Net and baseline metrics, targets met) and the written paths.
    """
    from ...training.segmentation import load_segmentation

    config = IARPipelineConfig() if config is None else config
    model, cfg, _ = load_segmentation(model_path)
    wide = config.synth_config().wider(config.test_widen)
    test = _nights(n, wide, TEST_SEED + config.seed, progress, config.workers)
    metrics, pred = evaluate_nights(model, test, threshold=cfg.threshold)
    negative = _nights(n_negative, type(wide)(**{**asdict(wide), "p_iar": 0.0}),
                       NEGATIVE_SEED + config.seed, progress, config.workers)
    neg_metrics, _ = evaluate_nights(model, negative, threshold=cfg.threshold, params=False)
    summary = {"model": str(model_path), "threshold": cfg.threshold, "n_test": n,
               "n_test_with_iar": int(test["has_iar"].sum()), "test_widen": config.test_widen,
               "unet": metrics["unet"], "baseline": metrics["baseline"],
               "iou_margin_over_baseline": metrics["unet"]["iou"] - metrics["baseline"]["iou"],
               "delta_f_median_abs_error_hz": metrics["delta_f_median_abs_error_hz"],
               "delta_f_columns_compared": metrics["delta_f_columns_compared"],
               "negative_control_false_positive_fraction":
                   neg_metrics["unet"]["false_positive_fraction"],
               "negative_control_baseline_false_positive_fraction":
                   neg_metrics["baseline"]["false_positive_fraction"]}
    summary["targets_met"] = {
        "f1_rows2>=0.85": summary["unet"]["f1_rows2"] >= 0.85,
        "iou>=0.75": summary["unet"]["iou"] >= 0.75,
        "margin>=0.15": summary["iou_margin_over_baseline"] >= 0.15,
        "negative_fp<=0.5%": summary["negative_control_false_positive_fraction"] <= 0.005,
        "delta_f_error<=0.03Hz": (summary["delta_f_median_abs_error_hz"] is not None
                                  and summary["delta_f_median_abs_error_hz"] <= 0.03)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "evaluation.json", json.dumps(summary, indent=1))
    written = {"json": out / "evaluation.json"}
    from ...plot import can_plot, plot_iar_night, save_figure
    from ...processing import resonance_parameters

    if not can_plot():  # figures are optional: results are written
        return summary, written
    i = int(np.flatnonzero(test["has_iar"].values)[0]) if test["has_iar"].any() else 0
    night = test.isel(night=i)
    params = resonance_parameters(pred["mask"].isel(night=i), pred["probability"].isel(night=i))
    fig = plot_iar_night(night["spectrogram"], pred["mask"].isel(night=i), truth=night["mask"],
                         params=params, true_delta_f=night["delta_f"])
    written["figure"] = save_figure(fig, out / "test_night.png")
    return summary, written


def run_crossval(out, config=None, *, k=2, progress=False):
    """Cross-validate the U-Net on the training nights.

    k-fold cross-validation (scikit-learn KFold, seeded) of the U-Net on the training
    nights: per-fold IoU at the fold's chosen threshold; writes ``crossval.json``.

    Parameters
    ----------
    out : path-like
        Output folder.
    config : IARPipelineConfig, optional
        Nights, generator and training options.
    k : int
        Folds.
    progress : bool
        Progress bars.

    Returns
    -------
    dict
        ``k``, the per-fold results (IoU at each fold's threshold) and their mean (as
        written to ``crossval.json``).
    """
    from sklearn.model_selection import KFold

    from ...training.segmentation import fit_segmentation

    config = IARPipelineConfig() if config is None else config
    nights = _nights(config.n_train, config.synth_config(), config.seed, progress, config.workers)
    x, y, masks = _inputs(nights), _targets(nights), nights["mask"].values
    rows = nights.sizes["frequency"]
    folds = []
    for fold, (tr, te) in enumerate(KFold(k, shuffle=True, random_state=config.seed).split(x)):
        model, _ = fit_segmentation(x[tr], y[tr], x[te], y[te], config.train_config())
        threshold, sweep = choose_threshold(_probability(model, x[te], rows), masks[te])
        folds.append({"fold": fold, "n_train": len(tr), "n_test": len(te),
                      "threshold": threshold, "iou": max(r["iou"] for r in sweep)})
    summary = {"k": k, "folds": folds, "mean_iou": float(np.mean([f["iou"] for f in folds])),
               "std_iou": float(np.std([f["iou"] for f in folds]))}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "crossval.json", json.dumps(summary, indent=1))
    return summary


SEARCH_SPACE = {
    "batch_size": [2, 4, 8],
    "dropout": [0.0, 0.1, 0.3],
    "lr": [1e-4, 3e-4, 1e-3],
    "optimizer": ["adam", "sgd", "rmsprop"],
    "init": ["he_normal", "glorot_uniform", "lecun_normal", "orthogonal"],
}


def run_search(out, config=None, *, n_trials=10, sampler="random", progress=False):
    """Search the U-Net's hyperparameters with Optuna.

    Optuna search (grid or random sampler) over batch size, dropout, learning rate,
    optimiser and initialiser (the published Table 3) on validation IoU; writes
    ``search.csv`` and ``search.json`` (:func:`magnetar.training.search.run_search`).

    Parameters
    ----------
    out : path-like
        Output folder.
    config : IARPipelineConfig, optional
        Nights and fixed training options.
    n_trials : int
        Trials.
    sampler : {"random", "grid"}
        Optuna sampler.
    progress : bool
        Progress bars.

    Returns
    -------
    (pandas.DataFrame, dict)
        The trials table and the best configuration
        (:func:`magnetar.training.search.run_search`).
    """
    from ...training import search
    from ...training.segmentation import fit_segmentation

    config = IARPipelineConfig() if config is None else config
    config.train_config()
    check_number(n_trials, option="--trials", minimum=1, integer=True)
    synth = config.synth_config()
    train = _nights(config.n_train, synth, config.seed, progress, config.workers)
    val = _nights(config.n_val, synth, config.seed + config.n_train, progress, config.workers)
    x, y, vx, vy = _inputs(train), _targets(train), _inputs(val), _targets(val)
    rows = val.sizes["frequency"]

    def objective(p):
        kwargs = {**config.train.get("model_kwargs", {}), "dropout": p["dropout"],
                  "init": p["init"]}
        cfg = config.train_config()
        cfg = type(cfg)(**{**asdict(cfg), "batch_size": p["batch_size"], "lr": p["lr"],
                           "optimizer": p["optimizer"], "model_kwargs": kwargs})
        model, _ = fit_segmentation(x, y, vx, vy, cfg)
        _, sweep = choose_threshold(_probability(model, vx, rows), val["mask"].values)
        return max(r["iou"] for r in sweep)

    return search.run_search(objective, SEARCH_SPACE, out, n_trials=n_trials,
                             direction="maximize", sampler=sampler, seed=config.seed,
                             score_name="value_iou", progress=progress)


def flat_band(*, low, high, order, sampling_rate, min_gain=0.5):
    """Return the flat band of the band-pass filter.

    The frequencies where the zero-phase band-pass passes at least ``min_gain`` (half) of the
    power (its squared magnitude, squared again by forward-backward filtering): the band a
    spectrogram is cropped to, so no row shows the filter's roll-off as if it were data.

    Returns
    -------
    (float, float)
        Lowest and highest flat frequency in Hz.
    """
    from scipy import signal

    sos = signal.butter(order, [low, high], btype="bandpass", fs=sampling_rate, output="sos")
    freq, response = signal.sosfreqz(sos, worN=16384, fs=sampling_rate)
    flat = freq[np.abs(response) ** 4 >= min_gain]
    if flat.size == 0:
        msg = (f"the band-pass {low:g}-{high:g} Hz (order {order}) has no flat part at "
               f"{sampling_rate:g} Hz; widen --band")
        raise ValidationError(msg)
    return float(flat.min()), float(flat.max())


def _check_clock(text, option):
    """Refuse a time of day that is not HH:MM (00:00-23:59), naming the option."""
    try:
        hours, minutes = (int(v) for v in str(text).split(":"))
        ok = 0 <= hours < 24 and 0 <= minutes < 60
    except ValueError:
        ok = False
    if not ok:
        msg = f"{option} must be a UT time HH:MM, got {text!r}"
        raise ValidationError(msg)


def run_spectrogram(paths, out, *, low=0.5, high=10.0, order=4, segment_s=100.0, nfft=4096,
                    overlap=0.5, fmin=0.5, fmax=10.0, night_start="18:00", night_end="06:00",
                    sampling_rate=None, png=True, progress=False):
    """Compute spectrograms of time-series files, one per night.

    Time-series files -> band-passed Welch spectrogram (netCDF) -> one netCDF (and PNG)
    per night covered; returns the written paths.

    Parameters
    ----------
    paths : sequence of path-like
        Time-series files (miniSEED, IAGA-2002, .npy, text).
    out : path-like
        Output folder.
    low, high, order : float, float, int
        Zero-phase Butterworth band-pass.
    segment_s, nfft, overlap :
        Welch column length (s), FFT length and window overlap.
    fmin, fmax : float
        Crop (never beyond the filter's flat band).
    night_start, night_end : str
        UT clock times of a night.
    sampling_rate : float, optional
        Hz, for .npy and text files.
    png, progress : bool
        Images per night; progress bar.

    Returns
    -------
    list of pathlib.Path
        The written files.
    """
    check_number(segment_s, option="--segment-s", minimum=0, inclusive=False)
    check_number(nfft, option="--nfft", minimum=16, integer=True)
    check_number(overlap, option="--overlap", minimum=0, maximum=0.95)
    check_number(order, option="--order", minimum=1, maximum=12, integer=True)
    check_number(low, option="--band (low)", minimum=0, inclusive=False)
    check_number(high, option="--band (high)", minimum=low, inclusive=False)
    for option, clock in (("--night (start)", night_start), ("--night (end)", night_end)):
        _check_clock(clock, option)
    out = output_folder(out)
    paths = list(paths)
    stems = unique_stems(paths, clean=lambda name: Path(name).stem.replace(".", "_"))
    out.mkdir(parents=True, exist_ok=True)
    options = {"low": low, "high": high, "order": order, "segment_s": segment_s, "nfft": nfft,
               "overlap": overlap, "fmin": fmin, "fmax": fmax, "night_start": night_start,
               "night_end": night_end, "sampling_rate": sampling_rate, "png": png}
    written, rows = [], []
    for path in progress_bar(paths, enabled=progress, desc="spectrograms", unit="file"):
        try:  # each file on its own: one bad file does not lose the others
            files = _spectrogram_one(path, out / stems[str(path)], **options)
        except MagnetarError as err:
            rows.append({"file": str(path), "status": f"failed: {err}", "outputs": 0})
            continue
        written += files
        rows.append({"file": str(path), "status": "ok", "outputs": len(files)})
    with atomic_path(out / "spectrogram_summary.csv", suffix=".csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        msg = (f"{len(failed)} of {len(rows)} files failed (each file's status is in "
               f"{out / 'spectrogram_summary.csv'}); first: {failed[0]['status'][8:]}")
        raise ValidationError(msg)
    return written


def file_spectrogram(path, *, low=0.5, high=10.0, order=4, segment_s=100.0, nfft=4096,
                     overlap=0.5, fmin=0.5, fmax=10.0, sampling_rate=None, start=None):
    """One time-series file -> band-passed Welch spectrogram cropped to the flat band.

    ``start`` (first sample time) is needed for ``.npy`` and text tables only.
    """
    from ...io import read_timeseries
    from ...processing import bandpass, crop_band, welch_spectrogram

    extra = {} if start is None else {"start": start}
    series = read_timeseries(path, sampling_rate=sampling_rate, **extra)
    fs = series.attrs["sampling_rate"]
    # digitisers' anti-alias filters roll off from about 0.8 x Nyquist: above it the power
    # falls steeply (the LLO 10 Hz record from ~4.2 Hz), a ridge a model would call a fringe
    hi = min(high, ANTI_ALIAS_FRACTION * fs / 2)
    spec = welch_spectrogram(bandpass(series, low=low, high=hi, order=order),
                             segment_s=segment_s, nfft=nfft, overlap=overlap)
    flat_lo, flat_hi = flat_band(low=low, high=hi, order=order, sampling_rate=fs)
    spec = crop_band(spec, fmin=max(fmin, flat_lo), fmax=min(fmax, flat_hi))
    spec.attrs["flat_band_hz"] = [flat_lo, flat_hi]
    spec.attrs["source"] = str(path)
    return spec


def _spectrogram_one(path, stem, *, low, high, order, segment_s, nfft, overlap, fmin, fmax,
                     night_start, night_end, sampling_rate, png):
    """One time-series file -> its spectrogram and one netCDF (and PNGs) per night."""
    from ...io import write_spectrogram_png
    from ...processing import split_nights

    spec = file_spectrogram(path, low=low, high=high, order=order, segment_s=segment_s,
                            nfft=nfft, overlap=overlap, fmin=fmin, fmax=fmax,
                            sampling_rate=sampling_rate)
    target = stem.with_name(f"{stem.name}_spectrogram.nc")
    with atomic_path(target, suffix=".nc") as tmp:
        spec.to_dataset(name="spectrogram").to_netcdf(tmp)
    written = [target]
    for date, night in split_nights(spec, start=night_start, end=night_end,
                                    min_fraction=0.0).items():
        night_path = stem.with_name(f"{stem.name}_night_{date}.nc")
        with atomic_path(night_path, suffix=".nc") as tmp:
            night.to_dataset(name="spectrogram").to_netcdf(tmp)
        written.append(night_path)
        if png:  # the raw image (for labelling) and a figure with axes and colour bar
            written.append(write_spectrogram_png(night, night_path.with_suffix(".png")))
            from ...plot import plot_spectrogram, save_figure

            written.append(save_figure(plot_spectrogram(night), night_path.with_name(
                f"{night_path.stem}_figure.png")))
    return written
