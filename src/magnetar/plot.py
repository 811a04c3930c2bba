"""Figures: functions taking results and returning matplotlib Axes (matplotlib imported inside)."""

from __future__ import annotations

import logging

import numpy as np

from ._utils import atomic_path, require

LOGGER = logging.getLogger(__name__)

__all__ = [
    "plot_cleaning",
    "plot_crowdmag_tile",
    "plot_grid_stages",
    "plot_history",
    "plot_iar_night",
    "plot_spectrogram",
    "plot_lma_map",
    "plot_reconstructions",
    "plot_seafloor",
    "plot_sigma_daily",
    "plot_window_sweep",
    "save_figure",
]


def _pyplot():
    mpl = require("matplotlib", extra="plot", feature="Plotting")
    mpl.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def can_plot():
    """Return whether matplotlib is installed; log once that figures are skipped if not.

    Workflows write their results whatever happens and add figures only when this is true,
    so a missing ``magnetar[plot]`` extra costs the figures, not a finished training run.

    Returns
    -------
    bool
        True when matplotlib can be imported.
    """
    import importlib.util

    if importlib.util.find_spec("matplotlib") is not None:
        return True
    if not getattr(can_plot, "warned", False):
        LOGGER.warning("matplotlib is not installed: figures are skipped "
                       "(pip install 'magnetar[plot]')")
        can_plot.warned = True
    return False


def save_figure(fig, path, *, dpi=120):
    """Save a figure atomically as PNG and close it."""
    plt = _pyplot()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(fig)
    return path


def plot_cleaning(cleaned, component, *, events=None, max_points=20000):
    """Magnetograms of every station for one component with replaced samples marked.

    Parameters
    ----------
    cleaned : xarray.Dataset
        ``CleaningResult.cleaned``.
    component : str
        Component to draw.
    events : pandas.DataFrame, optional
        Events table; natural events are shaded.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    stations = [str(s) for s in cleaned["station"].values]
    fig, axes = plt.subplots(len(stations), 1, figsize=(11, 2.0 * len(stations) + 0.8),
                             sharex=True, squeeze=False)
    times = cleaned["time"].values
    step = max(1, times.size // max_points)
    for ax, name in zip(axes[:, 0], stations, strict=False):
        orig = cleaned[f"{component}_original"].sel(station=name).values
        new = cleaned[component].sel(station=name).values
        flag = cleaned[f"{component}_flag"].sel(station=name).values
        ax.plot(times[::step], orig[::step], color="0.6", lw=0.7, label="original")
        ax.plot(times[::step], new[::step], color="C0", lw=0.8, label="cleaned")
        for code, colour, label in ((1, "C3", "replaced from peers"), (2, "C1", "interpolated")):
            sel = flag == code
            if sel.any():
                ax.plot(times[sel], orig[sel], "x", color=colour, ms=4, label=f"{label} (was)")
                ax.plot(times[sel], new[sel], ".", color=colour, ms=3)
        if events is not None and len(events):
            nat = events[(events["station"] == name) & (events["component"] == component)
                         & (events["class"] == "natural")]
            for row in nat.itertuples():
                ax.axvspan(row.start, row.end, color="C2", alpha=0.15, lw=0)
        finite = np.isfinite(new)
        if finite.any():
            lo, hi = np.percentile(new[finite], [0.5, 99.5])
            pad = 0.3 * (hi - lo) + 1.0
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_ylabel(f"{name} {component} (nT)")
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=4)
    axes[-1, 0].set_xlabel("time (UTC)")
    fig.suptitle(f"{component}: cleaned magnetograms (green: natural events kept)")
    fig.autofmt_xdate()
    return fig


def plot_sigma_daily(sigma_daily):
    """Noise sigma per station and day, one panel per component (a failing sensor stands out).

    Parameters
    ----------
    sigma_daily : xarray.Dataset
        From :func:`magnetar.processing.noise_sigma_daily` (day, station) per component.
    """
    plt = _pyplot()
    comps = list(sigma_daily.data_vars)
    fig, axes = plt.subplots(1, len(comps), figsize=(3.2 * len(comps) + 1, 3), squeeze=False)
    for ax, comp in zip(axes[0], comps, strict=False):
        da = sigma_daily[comp]
        for name in da["station"].values:
            ax.plot(da["day"].values, da.sel(station=name).values, "o-", label=str(name))
        ax.set_title(comp)
        ax.set_ylabel("sigma (nT)")
        ax.tick_params(axis="x", labelrotation=45)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Noise sigma of high-passed data per day")
    fig.tight_layout()
    return fig


def _grid_panel(ax, grid, title, *, vmax=None, cmap="RdBu_r"):
    ydim, xdim = grid.dims
    values = np.asarray(grid.values, float)
    if vmax is None:
        finite = values[np.isfinite(values)]
        vmax = float(np.percentile(np.abs(finite), 98)) if finite.size else 1.0
    x, y = grid[xdim].values, grid[ydim].values
    image = ax.imshow(values, origin="lower", cmap=cmap, vmin=-vmax, vmax=vmax,
                      extent=(x[0], x[-1], y[0], y[-1]), aspect="auto", interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xdim)
    return image


def plot_grid_stages(stages):
    """Preprocessing stages side by side (as in the published figures).

    Parameters
    ----------
    stages : list of (title, xarray.DataArray)
        Grids in order (original, outliers removed, regridded, SVD, removed part, diffused).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    n = len(stages)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.8), squeeze=False)
    first = np.asarray(stages[0][1].values, float)
    vmax = float(np.nanpercentile(np.abs(first), 98)) if np.isfinite(first).any() else None
    for ax, (title, grid) in zip(axes[0], stages, strict=False):
        image = _grid_panel(ax, grid, title, vmax=None if "removed by" in title else vmax)
        fig.colorbar(image, ax=ax, shrink=0.8, label=grid.attrs.get("units", "nT"))
    axes[0, 0].set_ylabel(stages[0][1].dims[0])
    fig.tight_layout()
    return fig


def plot_seafloor(grids):
    """Synthetic seafloor grids with their linear-fabric labels outlined."""
    plt = _pyplot()
    n = len(grids)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 4), squeeze=False)
    for ax, ds in zip(axes[0], grids, strict=False):
        da = ds["anomaly"].assign_coords(northing=ds["northing"] / 1000,
                                         easting=ds["easting"] / 1000)
        image = _grid_panel(ax, da, f"seed {ds.attrs['seed']}, "
                                    f"{ds.attrs['half_rate_mm_per_yr']:.0f} mm/yr")
        ax.contour(da["easting"], da["northing"], ds["linear"].values.astype(float), [0.5],
                   colors="k", linewidths=0.8)
        ax.set_xlabel("easting (km)")
        fig.colorbar(image, ax=ax, shrink=0.8, label="nT")
    axes[0, 0].set_ylabel("northing (km)")
    fig.suptitle("synthetic seafloor spreading (black: border of non-linear regimes)")
    fig.tight_layout()
    return fig


def plot_history(history):
    """Learning curve: training and validation loss per epoch."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    epochs = [h["epoch"] + 1 for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="training")
    ax.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (normalised units)")
    ax.legend(loc="upper left")
    if history and "val_accuracy" in history[0]:
        acc = ax.twinx()
        acc.plot(epochs, [h["val_accuracy"] for h in history], "k--", label="val. accuracy")
        acc.set_ylabel("validation accuracy")
        acc.legend(loc="upper right")
    fig.tight_layout()
    return fig


def plot_lma_map(result):
    """Anomaly with non-linear areas shaded, and the calibrated probability of "linear"."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    grid = result["anomaly"]
    image = _grid_panel(axes[0], grid, "anomaly; hatched: predicted non-linear")
    fig.colorbar(image, ax=axes[0], shrink=0.8, label=grid.attrs.get("units", "nT"))
    ydim, xdim = grid.dims
    x, y = grid[xdim].values, grid[ydim].values
    nonlinear = (result["linear"].values == 0).astype(float)
    axes[0].contourf(x, y, nonlinear, levels=[0.5, 1.5], colors="none", hatches=["///"])
    axes[0].contour(x, y, nonlinear, [0.5], colors="k", linewidths=0.8)
    prob = result["probability_calibrated"]
    im2 = axes[1].imshow(prob.values, origin="lower", cmap="viridis", vmin=0, vmax=1,
                         extent=(x[0], x[-1], y[0], y[-1]), aspect="auto",
                         interpolation="nearest")
    fig.colorbar(im2, ax=axes[1], shrink=0.8, label="P(linear)")
    axes[1].set_title(f"calibrated probability; linear "
                      f"{result.attrs['linear_percentage']:.1f} % of the mapped area",
                      fontsize=10)
    axes[1].set_xlabel(xdim)
    axes[0].set_ylabel(ydim)
    fig.tight_layout()
    return fig


def plot_window_sweep(table):
    """Percentage of the area predicted linear against window size."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(table["window_size"], table["linear_percentage"], "o-")
    ax.set_xlabel("window size (nodes)")
    ax.set_ylabel("area predicted linear (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_reconstructions(truth, corrupted, reconstruction):
    """Original / corrupted / reconstruction triplets (rows) and the value histograms."""
    plt = _pyplot()
    n = len(truth)
    fig, axes = plt.subplots(n, 4, figsize=(13, 3 * n), squeeze=False)
    for i in range(n):
        lo, hi = np.nanpercentile(truth[i], [1, 99])
        for ax, tile, title in zip(axes[i, :3], (truth[i], corrupted[i], reconstruction[i]),
                                   ("original", "corrupted", "reconstruction"), strict=True):
            image = ax.imshow(tile, origin="lower", cmap="RdBu_r", vmin=lo, vmax=hi)
            ax.set_title(title)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(image, ax=axes[i, 2], shrink=0.8, label="nT")
        bins = np.linspace(np.nanmin(truth[i]), np.nanmax(truth[i]), 30)
        axes[i, 3].hist(truth[i].ravel(), bins=bins, alpha=0.6, label="original")
        axes[i, 3].hist(reconstruction[i].ravel(), bins=bins, alpha=0.6, label="reconstruction")
        axes[i, 3].set_xlabel("nT")
        axes[i, 3].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_crowdmag_tile(anomalies, tile):
    """Plot CrowdMag points, the gridded sparse tile, the reconstruction and its uncertainty.

    Parameters
    ----------
    anomalies : xarray.Dataset
        Screened points (:func:`magnetar.processing.screen_points`).
    tile : xarray.Dataset
        ``gridded``, ``reconstruction`` and, when present, ``uncertainty``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    plt = _pyplot()
    with_spread = "uncertainty" in tile
    fig, axes = plt.subplots(1, 4 if with_spread else 3,
                             figsize=(18.5 if with_spread else 14, 4.2))
    v = anomalies["anomaly"].values
    lo, hi = np.nanpercentile(v, [2, 98])
    sc = axes[0].scatter(anomalies["longitude"], anomalies["latitude"], c=v, s=6,
                         cmap="RdBu_r", vmin=lo, vmax=hi)
    axes[0].set_title(f"points ({v.size})")
    fig.colorbar(sc, ax=axes[0], label="nT")
    for ax, name in zip(axes[1:3], ("gridded", "reconstruction"), strict=True):
        image = tile[name].plot.imshow(ax=ax, cmap="RdBu_r", vmin=lo, vmax=hi,
                                       add_colorbar=False)
        ax.set_title(name)
    fig.colorbar(image, ax=axes[2], label="nT")
    if with_spread:
        spread = tile["uncertainty"].plot.imshow(ax=axes[3], cmap="magma_r", vmin=0,
                                                 add_colorbar=False)
        axes[3].set_title("uncertainty (spread of 8 views)")
        fig.colorbar(spread, ax=axes[3], label="nT")
    fig.suptitle(str(anomalies.attrs.get("recording", "")))
    fig.tight_layout()
    return fig


def plot_spectrogram(spectrogram, *, title=None):
    """Return a spectrogram (frequency, time) with labelled axes and a colour bar in its units."""
    plt = _pyplot()
    spec = spectrogram.transpose("frequency", "time")
    fig, ax = plt.subplots(figsize=(11, 4))
    lo, hi = np.nanpercentile(spec.values, [2, 99.5]) if np.isfinite(spec.values).any() \
        else (0.0, 1.0)
    mesh = ax.pcolormesh(spec["time"].values, spec["frequency"].values, spec.values,
                         cmap="viridis", vmin=lo, vmax=hi, shading="auto")
    fig.colorbar(mesh, ax=ax, label=spec.attrs.get("units", "log10 power"))
    ax.set_xlabel("time (UT)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title or f"spectrogram {spec.attrs.get('source', '')}".strip())
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_iar_night(spectrogram, mask, *, truth=None, params=None, true_delta_f=None):
    """Plot a night's spectrogram with its fringe mask and parameters.

    A night's spectrogram, its fringe mask overlaid (with ``truth``: true positive,
    false negative and false positive pixels in distinct colours), and the resonance
    parameters ``f_n(t)`` and ``delta_f(t)`` (with the true spacing when given).
    """
    from matplotlib.colors import ListedColormap

    plt = _pyplot()
    spec = spectrogram.transpose("frequency", "time")
    t = spec["time"].values
    f = spec["frequency"].values
    rows = 3 if params is not None else 2
    fig, axes = plt.subplots(rows, 1, figsize=(11, 3.2 * rows), sharex=True, squeeze=False,
                             layout="constrained")
    axes = axes[:, 0]
    lo, hi = np.nanpercentile(spec.values, [2, 99.5])
    mesh = axes[0].pcolormesh(t, f, spec.values, cmap="viridis", vmin=lo, vmax=hi,
                              shading="auto")
    # one colour bar beside the whole column, drawn at the spectrogram's height, so every
    # panel keeps the same width and the times line up
    fig.colorbar(mesh, ax=list(axes), shrink=1 / rows, anchor=(0.0, 1.0), pad=0.01,
                 label=spec.attrs.get("units", "log10 power"))
    axes[0].set_ylabel("frequency (Hz)")
    axes[0].set_title(f"spectrogram ({spec.attrs.get('units', 'log10 power')})")
    axes[1].pcolormesh(t, f, spec.values, cmap="Greys_r", vmin=lo, vmax=hi, shading="auto")
    m = np.asarray(mask.transpose("frequency", "time").values, bool)
    if truth is not None:
        tr = np.asarray(truth.transpose("frequency", "time").values, bool)
        code = np.full(m.shape, np.nan)
        code[m & tr], code[~m & tr], code[m & ~tr] = 0, 1, 2
        cmap = ListedColormap(["#2ca02c", "#1f77b4", "#d62728"])
        axes[1].pcolormesh(t, f, code, cmap=cmap, vmin=-0.5, vmax=2.5, shading="auto",
                           alpha=0.8)
        axes[1].set_title("mask: true positive (green), false negative (blue), "
                          "false positive (red)")
    else:
        axes[1].pcolormesh(t, f, np.where(m, 1.0, np.nan), cmap=ListedColormap(["#d62728"]),
                           shading="auto", alpha=0.7)
        axes[1].set_title("IAR fringe mask")
    axes[1].set_ylabel("frequency (Hz)")
    if params is not None:
        fn = params["fringe_frequency"].values
        for k in range(fn.shape[0]):
            axes[0].plot(params["time"].values, fn[k], "w.", ms=1.5)
        axes[2].plot(params["time"].values, params["delta_f"].values, "k-", label="estimated")
        if not np.isfinite(params["delta_f"].values).any():
            axes[2].text(0.5, 0.5, "no spacing in any time step", transform=axes[2].transAxes,
                         ha="center", va="center")
        if true_delta_f is not None:
            axes[2].plot(true_delta_f["time"].values, true_delta_f.values, "r--", label="true")
        axes[2].set_ylabel("delta_f (Hz)")
        axes[2].legend()
    axes[-1].set_xlabel("time (UT)" if np.issubdtype(t.dtype, np.datetime64)
                        else f"time ({spec['time'].attrs.get('units', 'index')})")
    return fig
