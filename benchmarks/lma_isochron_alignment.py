"""Do the real oceanic tiles' anomalies run along the isochrons? (issue 25 evidence)

Seafloor-spreading lineations strike along isochrons, i.e. perpendicular to the gradient of
crustal age. For every window of oceanic crust of reversal-rich age (age-grid weak label 1)
this compares the anomaly's dominant stripe direction (energy-weighted structure tensor of
the tile, the direction *along* which the anomaly varies least) with the isochron strike
from the EarthByte age grid (its gradient, 20 arc-minutes). Controls: the same with the tile
transposed (a mis-read tile), and synthetic seafloor grids (age and anomaly from the
generator: the rate at which a resolved fabric aligns). Label-free with respect to any
classifier: no model is involved.

    MAGNETAR_DATA_DIR=../shared/data .venv/bin/python benchmarks/lma_isochron_alignment.py

Writes benchmarks/results/lma/isochron_alignment.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar import datasets  # noqa: E402
from magnetar.workflows.lma.weak import real_tile, weak_labels  # noqa: E402

SIZE, STRIDE = 64, 16


def _stripe_azimuth(values, *, dx=1.0, dy=1.0):
    """Dominant stripe strike (radians from north toward east, mod pi) and its coherence."""
    v = np.where(np.isfinite(values), values, np.nanmean(values))
    gy, gx = np.gradient(v, dy, dx)
    a, b, c = (gx * gx).sum(), (gx * gy).sum(), (gy * gy).sum()
    # gradient direction (from east toward north) of the largest eigenvector
    theta = 0.5 * np.arctan2(2 * b, a - c)
    coherence = np.sqrt((a - c) ** 2 + 4 * b * b) / max(a + c, 1e-12)
    grad_azimuth = np.pi / 2 - theta  # from north toward east
    return (grad_azimuth + np.pi / 2) % np.pi, float(coherence)


def _isochron_azimuth(age, *, dx=1.0, dy=1.0):
    gy, gx = np.gradient(age, dy, dx)
    gx, gy = np.nanmean(gx), np.nanmean(gy)
    grad_azimuth = np.arctan2(gx, gy)  # from north toward east
    return (grad_azimuth + np.pi / 2) % np.pi


def _difference(a, b):
    d = np.abs(a - b) % np.pi
    return np.degrees(np.minimum(d, np.pi - d))


def _summary(diffs, coherences):
    diffs = np.asarray(diffs)
    return {"windows": int(diffs.size),
            "within_30_deg": float(np.mean(diffs <= 30)) if diffs.size else None,
            "median_difference_deg": float(np.median(diffs)) if diffs.size else None,
            "across_60_deg_or_more": float(np.mean(diffs >= 60)) if diffs.size else None,
            "median_fabric_coherence": float(np.median(coherences)) if diffs.size else None,
            "chance_within_30_deg": 1 / 3, "chance_across_60_deg_or_more": 1 / 3}


def real_tiles():
    age = xr.open_dataset(datasets.fetch("grids/age.3.20.nc"))["z"].load()
    out = {}
    for label in (1164, 1299, 675, 782):
        tile = real_tile(label)
        lon = ((tile.longitude + 180) % 360) - 180
        node_age = age.interp(lat=tile.latitude, lon=lon, method="linear").values
        table = weak_labels(tile, age, size=SIZE, stride=STRIDE)
        table = table[table["label"] == 1]
        coslat = np.cos(np.radians(float(tile.latitude.mean())))
        values = tile.values
        res = {"as_read": ([], []), "transposed": ([], [])}
        for r, c in zip(table["row"], table["col"], strict=True):
            win = (slice(r, r + SIZE), slice(c, c + SIZE))
            iso = _isochron_azimuth(node_age[win], dx=coslat)
            for key, v in (("as_read", values[win]), ("transposed", values[win].T)):
                az, coh = _stripe_azimuth(v, dx=coslat)
                res[key][0].append(_difference(az, iso))
                res[key][1].append(coh)
        if len(table):
            out[str(label)] = {k: _summary(*v) for k, v in res.items()}
    return out


def synthetic(n=6):
    from magnetar.synthetic import SeafloorConfig, synthetic_seafloor

    cfg = SeafloorConfig(shape=(256, 256), spacing_km=3.7, z_top=(7.0, 9.0),
                         half_rate=(25.0, 75.0), nonlinear_fraction=(0.0, 0.0),
                         timescale="GTS2012", inclination=45.0)
    diffs, cohs = [], []
    for seed in range(n):
        ds = synthetic_seafloor(cfg, seed=9000 + seed)
        for r in range(0, 256 - SIZE + 1, 32):
            for c in range(0, 256 - SIZE + 1, 32):
                win = (slice(r, r + SIZE), slice(c, c + SIZE))
                age = ds["age"].values[win]
                if np.isnan(age).mean() > 0.1:
                    continue
                az, coh = _stripe_azimuth(ds["anomaly"].values[win])
                diffs.append(_difference(az, _isochron_azimuth(age)))
                cohs.append(coh)
    return _summary(diffs, cohs)


def figure(report, path):
    """Each tile's anomaly with the age grid's isochrons (every 10 Myr) over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    age = xr.open_dataset(datasets.fetch("grids/age.3.20.nc"))["z"].load()
    fig, axes = plt.subplots(1, 4, figsize=(20, 5.4), constrained_layout=True)
    for ax, label in zip(axes, (675, 782, 1164, 1299), strict=True):
        tile = real_tile(label)
        lon = tile.longitude.values
        lat = tile.latitude.values
        mesh = ax.pcolormesh(lon, lat, tile.values, cmap="RdBu_r", vmin=-200, vmax=200,
                             shading="auto")
        sub = age.sel(lat=slice(lat.min(), lat.max()),
                      lon=slice(((lon.min() + 180) % 360) - 180, ((lon.max() + 180) % 360) - 180))
        ax.contour(sub.lon, sub.lat, sub.values, levels=np.arange(0, 200, 10), colors="k",
                   linewidths=0.6)
        ax.contourf(sub.lon, sub.lat, np.isnan(sub.values), levels=[0.5, 1.5],
                    colors="none", hatches=["..."])
        stats = report["real"].get(str(label), {}).get("as_read")
        title = f"tile {label}"
        if stats:
            title += (f": {100 * stats['within_30_deg']:.0f} % of oceanic windows\n"
                      f"align with isochrons (chance 33 %)")
        ax.set_title(title)
        ax.set_aspect(1 / np.cos(np.radians(lat.mean())))
    fig.colorbar(mesh, ax=axes, label="anomaly (nT, +-200 clip)", shrink=0.8)
    fig.suptitle("EMAG2v3 tiles with isochrons every 10 Myr (EarthByte age grid); dotted: "
                 "continental (no age)")
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    report = {"machine": describe(), "window_nodes": SIZE, "stride": STRIDE,
              "real": real_tiles(), "synthetic_seafloor_control": synthetic()}
    out = Path(__file__).parent / "results" / "lma" / "isochron_alignment.json"
    out.write_text(json.dumps(report, indent=2))
    figure(report, Path(__file__).parents[1] / "docs" / "figures" / "lma" / "tiles_isochrons.png")
    print(json.dumps(report, indent=2))  # noqa: T201
