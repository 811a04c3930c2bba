"""Seafloor-spreading anomaly grids with exact per-node labels.

Why written here: no maintained package generates labelled marine anomaly maps; labelled real
grids are scarce, so the learning workflow trains and is judged on these. The physics is the
textbook Vine-Matthews-Morley model:

1. Crustal age from spreading: distance from a ridge axis divided by the half-rate, with
   asymmetric spreading (different rates on the two flanks), rate changes through time
   (piecewise-constant half-rate history), and ridge segments offset by transform faults.
2. Polarity at each age from a geomagnetic polarity time scale (Cande & Kent 1995 by default;
   ``gpts/timescales.txt`` through the dataset registry, or any file in that format).
3. Magnetisation ``M = M0 * polarity`` (A/m) in a layer from ``z_top`` to
   ``z_top + thickness`` below the sea surface, blurred across the ridge by the width of the
   crustal accretion zone (a few km), reduced along fracture zones.
4. Total-field anomaly by the standard Fourier layer method (Blakely 1995, eq. 11.35;
   Parker 1973 to first order): ``F[dT] = 2 pi C_m Theta_m Theta_f
   (exp(-|k| z_top) - exp(-|k| z_bottom)) F[M]`` with ``Theta = n_z + i (n_x k_x + n_y k_y)/|k|``
   for the remanent and the ambient field directions, so skewness follows their inclinations
   and the ridge azimuth. The map is computed on a larger domain and cropped, so the FFT's
   periodicity does not reach the result.

Non-linear regimes replace spreading fabric in patches, and every node carries whether it is
linear spreading fabric: seamount provinces (shallow magnetised cones, about one per
(35 km)^2, over a volcanic cover that buries the fabric to a quarter), plateau-like chaotic
magnetisation, propagating rifts (an oblique lineation wedge whose pseudofault borders are
non-linear), crossing lineation sets, and continental-like fractal texture. Windows take the
published labelling rule (>= 70 % linear nodes -> 1, <= 30 % -> 0, else ambiguous).

Default parameters: half-rates 10-40 mm/yr (slow to intermediate Atlantic/Indian ridges),
layer 0.5 km thick whose top lies 3-5 km below the sea surface (water depth of young crust),
``M0`` about 5 A/m (extrusive basalt), accretion-zone width 2 km: Vine & Matthews (1963),
Tisseau & Patriat (1981), Blakely (1995) ch. 11.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from ..errors import FileFormatError, ValidationError

__all__ = [
    "SeafloorConfig",
    "layer_anomaly",
    "polarity_at",
    "read_gpts",
    "sample_tracks",
    "synthetic_seafloor",
    "window_labels",
]

CM = 1e-7  # mu_0 / 4 pi (SI)
TIMESCALES = {"GK2007": 1, "CK95": 3, "GTS2004": 5, "GTS2012": 7}
REGIMES = ("seamounts", "plateau", "propagator", "crossing", "continental")


def read_gpts(path=None, *, scale="CK95"):
    """Normal-polarity chrons of a time scale from an EarthByte ``timescales.txt`` file.

    Parameters
    ----------
    path : path-like, optional
        Default: the registered ``gpts/timescales.txt``.
    scale : {"CK95", "GK2007", "GTS2004", "GTS2012"}
        Cande & Kent 1995, Gee & Kent 2007, Gradstein et al. 2004, Ogg 2012.

    Returns
    -------
    pandas.DataFrame
        Columns ``chron``, ``young``, ``old`` (Myr), sorted by age, intervals merged where
        they touch; ``attrs['max_age']`` is the oldest age the scale covers.
    """
    if scale not in TIMESCALES:
        msg = f"scale must be one of {', '.join(TIMESCALES)}; got {scale!r}"
        raise ValidationError(msg)
    if path is None:
        from ..datasets import fetch

        path = fetch("gpts/timescales.txt")
    path = Path(path)
    col = TIMESCALES[scale]
    rows, max_age = [], 0.0
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.startswith("#") or not line.strip():
                continue
            parts = line.split()
            if len(parts) != 18:
                msg = f"expected 18 tab-separated columns, found {len(parts)}"
                raise FileFormatError(msg, path=path, line=number)
            try:
                young = None if parts[col] == "N/A" else float(parts[col])
                old = None if parts[col + 1] == "N/A" else float(parts[col + 1])
                r_old = None if parts[col + 10] == "N/A" else float(parts[col + 10])
            except ValueError:
                msg = f"non-numeric age in column {col + 1} or {col + 2}"
                raise FileFormatError(msg, path=path, line=number) from None
            if young is not None and old is not None and old > young:
                rows.append((parts[0], young, old))
                max_age = max(max_age, old)
            if r_old is not None:
                max_age = max(max_age, r_old)
    if not rows:
        msg = f"no normal chrons for scale {scale}"
        raise FileFormatError(msg, path=path)
    table = pd.DataFrame(rows, columns=["chron", "young", "old"]).sort_values("young")
    merged = []
    for row in table.itertuples(index=False):
        if merged and row.young <= merged[-1][2] + 1e-9:
            merged[-1][2] = max(merged[-1][2], row.old)
        else:
            merged.append([row.chron, row.young, row.old])
    out = pd.DataFrame(merged, columns=["chron", "young", "old"])
    out.attrs["max_age"] = max_age
    out.attrs["scale"] = scale
    return out


def polarity_at(age, chrons):
    """+1 (normal) or -1 (reversed) at each age (Myr) from a :func:`read_gpts` table.

    Parameters
    ----------
    age : numpy.ndarray
        Ages (Myr).
    chrons : pandas.DataFrame
        Polarity intervals (:func:`read_gpts`).

    Returns
    -------
    numpy.ndarray
        +1 or -1, the shape of ``age``.
    """
    age = np.asarray(age, dtype=float)
    if np.nanmax(age) > chrons.attrs.get("max_age", np.inf):
        msg = (f"ages up to {np.nanmax(age):.1f} Myr exceed the {chrons.attrs.get('scale')} "
               f"time scale ({chrons.attrs['max_age']:.1f} Myr); choose a slower rate, a "
               "smaller grid or another scale (GK2007 and GTS2012 reach the M-series)")
        raise ValidationError(msg)
    edges = np.column_stack([chrons["young"], chrons["old"]]).ravel()
    index = np.searchsorted(edges, age, side="right")
    return np.where(index % 2 == 1, 1.0, -1.0)


def _direction(inclination, declination):
    inc, dec = math.radians(inclination), math.radians(declination)
    return (math.cos(inc) * math.sin(dec), math.cos(inc) * math.cos(dec), math.sin(inc))


def layer_anomaly(magnetization, *, spacing, z_top, thickness, field_direction,
                  magnetization_direction=None):
    """Total-field anomaly (nT) of a magnetised layer by the Fourier layer method.

    Parameters
    ----------
    magnetization : ndarray (northing, easting)
        Magnetisation intensity in A/m (signed: negative is reversed).
    spacing : float
        Node spacing in metres (both axes).
    z_top, thickness : float
        Depth of the layer's top below the observation level, and its thickness (m).
    field_direction, magnetization_direction : (inclination, declination) in degrees
        Ambient field and remanent magnetisation directions (default: the field's).

    Returns
    -------
    ndarray
        The anomaly in nT on the same nodes (periodic: pad the input for isolated bodies).
    """
    m = np.asarray(magnetization, dtype=float)
    ny, nx = m.shape
    ky = 2 * np.pi * np.fft.fftfreq(ny, d=spacing)[:, None]
    kx = 2 * np.pi * np.fft.fftfreq(nx, d=spacing)[None, :]
    k = np.hypot(kx, ky)
    k_safe = np.where(k == 0, 1.0, k)
    fx, fy, fz = _direction(*field_direction)
    mx, my, mz = _direction(*(magnetization_direction or field_direction))
    theta_f = fz + 1j * (fx * kx + fy * ky) / k_safe
    theta_m = mz + 1j * (mx * kx + my * ky) / k_safe
    depth = np.exp(-k * z_top) - np.exp(-k * (z_top + thickness))
    transfer = 2 * np.pi * CM * theta_m * theta_f * depth
    transfer[k == 0] = 0.0
    return np.real(np.fft.ifft2(np.fft.fft2(m) * transfer)) * 1e9


def check_shape(shape, *, option, what, maps):
    """Refuse a synthetic grid shape below 16 nodes or too large for memory.

    Parameters
    ----------
    shape : (int, int)
        Nodes (northing, easting).
    option : str
        The option(s) that set it, named in messages.
    what : str
        What is generated ("seafloor grid").
    maps : int
        How many float64 maps of the padded domain (1.5 x the shape) are held at once.

    Returns
    -------
    tuple
        ``shape``.
    """
    from .._utils import check_allocation

    if min(shape) < 16:
        msg = f"{option} must be at least 16 x 16, got {shape}"
        raise ValidationError(msg)
    padded = (1.5 * shape[0] + 16) * (1.5 * shape[1] + 16)
    check_allocation(padded * 8 * maps, option=option,
                     what=f"a {shape[0]} x {shape[1]} {what}")
    return shape


@dataclass(frozen=True)
class SeafloorConfig:
    """Parameters of :func:`synthetic_seafloor` (lengths in km, rates in mm/yr = km/Myr).

    Attributes
    ----------
    shape : (int, int)
        Nodes (northing, easting).
    spacing_km : float
        Node spacing.
    half_rate : (float, float)
        Range the half spreading rate is drawn from.
    asymmetry : float
        Largest fractional rate difference between flanks (0.2: one flank up to 20 % faster).
    rate_changes : int
        Number of rate changes through the history (each multiplies the rate by 0.6-1.6).
    ridge_azimuth : (float, float)
        Range of the ridge strike, degrees clockwise from north.
    segment_length : (float, float)
        Range of ridge-segment lengths; transform offsets between segments
        ``transform_offset``.
    transform_offset : (float, float)
    fracture_zone_width : float
        Width of the weakly magnetised band along fracture zones.
    z_top : (float, float)
        Depth of the magnetised layer below the sea surface.
    thickness : float
        Layer thickness.
    magnetization : float
        Remanent magnetisation M0 (A/m).
    accretion_width : float
        Width of the polarity transition across the ridge (Gaussian sigma, km).
    inclination, declination : float
        Ambient field direction (degrees); the remanence is parallel for normal polarity
        unless ``remanent_inclination``/``remanent_declination`` are given.
    timescale : str
        Polarity time scale (see :func:`read_gpts`).
    regimes : tuple of str
        Non-linear regimes that may appear (subset of seamounts, plateau, propagator,
        crossing, continental).
    nonlinear_fraction : (float, float)
        Range of the fraction of the area given to non-linear patches.
    noise_nT : float
        Gaussian noise added to the anomaly.
    tracks : int
        When positive, the noisy grid is sampled along this many random straight ship
        tracks (every ``track_step`` nodes) and regridded (``track_gridding``, a
        :func:`magnetar.grids.regrid` method) at the same spacing: ``anomaly`` then holds
        the regridded survey, NaN farther than ``track_maxdist_km`` from any track, and
        ``anomaly_full`` the complete noisy grid.
    track_step : int
    track_gridding : str
    track_maxdist_km : float
    """

    shape: tuple[int, int] = (256, 256)
    spacing_km: float = 1.0
    half_rate: tuple[float, float] = (10.0, 40.0)
    asymmetry: float = 0.2
    rate_changes: int = 2
    ridge_azimuth: tuple[float, float] = (0.0, 180.0)
    segment_length: tuple[float, float] = (60.0, 200.0)
    transform_offset: tuple[float, float] = (5.0, 40.0)
    fracture_zone_width: float = 3.0
    z_top: tuple[float, float] = (3.0, 5.0)
    thickness: float = 0.5
    magnetization: float = 5.0
    accretion_width: float = 1.0
    inclination: float = 60.0
    declination: float = 0.0
    remanent_inclination: float | None = None
    remanent_declination: float | None = None
    timescale: str = "CK95"
    regimes: tuple[str, ...] = REGIMES
    nonlinear_fraction: tuple[float, float] = (0.0, 0.5)
    noise_nT: float = 5.0
    tracks: int = 0
    track_step: int = 1
    track_gridding: str = "cubic"
    track_maxdist_km: float = 8.0

    def __post_init__(self):
        if not (np.isfinite(self.spacing_km) and self.spacing_km > 0):
            msg = f"spacing_km (--spacing-km) must be a positive number, got {self.spacing_km}"
            raise ValidationError(msg)
        unknown = [r for r in self.regimes if r not in REGIMES]
        if unknown:
            msg = f"unknown regime(s) {unknown}; choose from {', '.join(REGIMES)}"
            raise ValidationError(msg)
        check_shape(self.shape, option="shape (--size, --grid-size)", what="seafloor grid",
                    maps=24)
        if self.tracks < 0 or self.track_step < 1 or self.track_maxdist_km <= 0:
            msg = ("tracks must be >= 0, track_step >= 1 and track_maxdist_km > 0; got "
                   f"{self.tracks}, {self.track_step}, {self.track_maxdist_km}")
            raise ValidationError(msg)
        for name in ("half_rate", "z_top", "segment_length"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                msg = f"{name} must be an increasing positive range, got {(lo, hi)}"
                raise ValidationError(msg)


def _distance_to_age(distance, *, rates, breaks):
    """Invert cumulative spreading distance (km) to age (Myr) for a piecewise rate history."""
    ages = np.concatenate([[0.0], breaks, [np.inf]])
    cumulative = np.concatenate([[0.0], np.cumsum(np.diff(ages[:-1]) * rates[:-1])])
    segment = np.searchsorted(cumulative, distance, side="right") - 1
    return ages[segment] + (distance - cumulative[segment]) / rates[segment]


def _spreading_age(xx, yy, azimuth, *, rng, cfg, rate, rate_history):
    """Return crustal age and fracture-zone distance of a ridge system.

    Age (Myr) and distance to the nearest fracture zone (km) of ridge segments striking
    ``azimuth`` (radians clockwise from north) at easting ``xx`` and northing ``yy`` (km).
    """
    # along-strike unit vector (east, north) = (sin az, cos az); across = (cos az, -sin az)
    v = xx * math.sin(azimuth) + yy * math.cos(azimuth)
    u = xx * math.cos(azimuth) - yy * math.sin(azimuth)
    v_min, v_max = float(v.min()), float(v.max())
    edges = [v_min - 1]
    while edges[-1] < v_max:
        edges.append(edges[-1] + rng.uniform(*cfg.segment_length))
    edges = np.array(edges)
    offsets = np.cumsum(rng.uniform(*cfg.transform_offset, size=edges.size)
                        * rng.choice([-1, 1], size=edges.size))
    offsets -= offsets.mean()
    segment = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, edges.size - 1)
    distance = u - offsets[segment]
    asym = rng.uniform(-cfg.asymmetry, cfg.asymmetry)
    breaks, factors = rate_history
    age = np.empty_like(distance)
    for side, sign in ((distance >= 0, 1.0), (distance < 0, -1.0)):
        rates = rate * (1 + sign * asym) * factors
        age[side] = _distance_to_age(np.abs(distance[side]), rates=rates, breaks=breaks)
    fz_distance = np.min(np.abs(v[..., None] - edges[None, None, 1:]), axis=-1)
    return age, fz_distance


def _smooth_field(rng, shape, correlation_nodes, beta=None):
    noise = rng.standard_normal(shape)
    if beta is not None:  # fractal (power-law) texture
        ky = np.fft.fftfreq(shape[0])[:, None]
        kx = np.fft.fftfreq(shape[1])[None, :]
        k = np.hypot(kx, ky)
        k[0, 0] = 1.0
        spec = np.fft.fft2(noise) * k ** (-beta / 2)
        spec[0, 0] = 0
        out = np.real(np.fft.ifft2(spec))
    else:
        out = ndimage.gaussian_filter(noise, correlation_nodes, mode="wrap")
    return out / (out.std() or 1.0)


def _patch(rng, shape, area_fraction):
    """Return a smooth blob-shaped mask covering roughly ``area_fraction`` of the domain."""
    ny, nx = shape
    cy, cx = rng.uniform(0.15, 0.85) * ny, rng.uniform(0.15, 0.85) * nx
    radius = math.sqrt(area_fraction * nx * ny / math.pi)
    yy, xx = np.mgrid[0:ny, 0:nx]
    angle = np.arctan2(yy - cy, xx - cx)
    wobble = 1 + 0.25 * np.sin(3 * angle + rng.uniform(0, 6.3)) + 0.1 * np.sin(
        5 * angle + rng.uniform(0, 6.3))
    return np.hypot(yy - cy, xx - cx) < radius * wobble


def _seamount_province(rng, mask, h):
    """Scatter magnetised seamount cones over ``mask``.

    Magnetised cones (A/m) scattered over ``mask``: about one per (35 km)^2 of the patch
    (at least two), radii 3-12 km but never below two nodes, either polarity.
    """
    shape = mask.shape
    seamount = np.zeros(shape)
    inside = np.argwhere(mask)
    n = max(2, round(inside.shape[0] * h * h / 35.0**2))
    for _ in range(n):
        cy, cx = inside[rng.integers(inside.shape[0])]
        radius = max(rng.uniform(3, 12) / h, 2.0)
        r = int(math.ceil(radius))
        y0, y1 = max(cy - r, 0), min(cy + r + 1, shape[0])
        x0, x1 = max(cx - r, 0), min(cx + r + 1, shape[1])
        dist = np.hypot(np.arange(y0, y1)[:, None] - cy, np.arange(x0, x1)[None, :] - cx)
        seamount[y0:y1, x0:x1] += (rng.choice([-1, 1]) * rng.uniform(4, 10)
                                   * np.clip(1 - dist / radius, 0, None))
    return seamount


def _apply_regime(name, mask, magnet, age, extra_sources, ctx):
    """Overprint one non-linear regime on ``mask``; returns (magnetisation, age, truth mask).

    ``extra_sources`` receives shallower bodies (seamounts) as (magnetisation, z_top).
    """
    rng, cfg, h = ctx["rng"], ctx["cfg"], ctx["h"]
    if name == "seamounts":
        seamount = _seamount_province(rng, mask, h)
        # the volcanic cover buries and thermally overprints the spreading fabric
        magnet = np.where(mask, 0.25 * magnet, magnet)
        extra_sources.append((seamount, max(ctx["z_top"] - rng.uniform(1.0, 2.5), 0.5)))
        mask = mask | (np.abs(seamount) > 0)
    elif name == "plateau":
        chaos = cfg.magnetization * _smooth_field(rng, ctx["shape"], rng.uniform(3, 8) / h)
        magnet = np.where(mask, chaos, magnet)
    elif name in ("propagator", "crossing"):
        turn = (math.radians(rng.uniform(20, 45) * rng.choice([-1, 1])) if name == "propagator"
                else math.radians(rng.uniform(50, 90)))
        age2, _ = _spreading_age(ctx["xx"], ctx["yy"], ctx["az"] + turn, rng=rng, cfg=cfg,
                                 rate=ctx["rate"], rate_history=ctx["history"])
        if name == "propagator":
            wedge = cfg.magnetization * ndimage.gaussian_filter(
                polarity_at(age2, ctx["chrons"]), ctx["sigma_nodes"], mode="nearest")
            magnet = np.where(mask, wedge, magnet)
            age = np.where(mask, age2, age)
            border = ndimage.binary_dilation(mask, iterations=max(1, int(4 / h))) & ~(
                ndimage.binary_erosion(mask, iterations=max(1, int(4 / h))))
            mask = border  # the pseudofaults; the oblique lineations inside stay linear
        else:
            second = cfg.magnetization * polarity_at(age2, ctx["chrons"])
            magnet = np.where(mask, 0.6 * magnet + 0.6 * second, magnet)
    else:  # continental
        texture = 2 * cfg.magnetization * _smooth_field(rng, ctx["shape"], 0, beta=3.0)
        magnet = np.where(mask, texture, magnet)
    return magnet, age, mask


def _forward_anomaly(magnet, extra_sources, cfg, *, z_top, h):
    """Total-field anomaly of the magnetised layer plus the shallower bodies (nT)."""
    field_dir = (cfg.inclination, cfg.declination)
    rem_dir = (cfg.remanent_inclination if cfg.remanent_inclination is not None
               else cfg.inclination,
               cfg.remanent_declination if cfg.remanent_declination is not None
               else cfg.declination)
    spacing_m = h * 1000.0
    anomaly = layer_anomaly(magnet, spacing=spacing_m, z_top=z_top * 1000,
                            thickness=cfg.thickness * 1000, field_direction=field_dir,
                            magnetization_direction=rem_dir)
    for body, top in extra_sources:
        anomaly += layer_anomaly(body, spacing=spacing_m, z_top=top * 1000,
                                 thickness=1000.0, field_direction=field_dir,
                                 magnetization_direction=rem_dir)
    return anomaly


def _seafloor_dataset(f, crop, shape, spacing_m, attrs):
    """Return the cropped grids of :func:`synthetic_seafloor` as a Dataset."""
    dims = ("northing", "easting")
    return xr.Dataset(
        {
            "anomaly": (dims, f["noisy"][crop], {"units": "nT",
                                                 "long_name": "total-field anomaly"}),
            "anomaly_clean": (dims, f["anomaly"][crop], {"units": "nT"}),
            "linear": (dims, f["linear"][crop],
                       {"long_name": "node on linear spreading fabric"}),
            "age": (dims, f["age"][crop], {"units": "Myr"}),
            "polarity": (dims, f["polarity"][crop].astype(np.int8)),
            "magnetization": (dims, f["magnet"][crop], {"units": "A/m"}),
            "regime": (dims, f["regime"][crop]),
        },
        coords={"northing": np.arange(shape[0]) * spacing_m,
                "easting": np.arange(shape[1]) * spacing_m},
        attrs=attrs,
    )


def synthetic_seafloor(config=None, *, seed=0, timescale_path=None):
    """Generate one labelled seafloor-spreading anomaly grid.

    Parameters
    ----------
    config : SeafloorConfig, optional
    seed : int
        Same seed, same grid.
    timescale_path : path-like, optional
        A ``timescales.txt`` file (default: the registered one).

    Returns
    -------
    xarray.Dataset
        Dimensions (northing, easting) in metres; ``anomaly`` (nT, with noise),
        ``anomaly_clean`` (nT), ``linear`` (bool truth per node), ``age`` (Myr, NaN off
        spreading fabric), ``polarity`` (+1/-1), ``magnetization`` (A/m), ``regime``
        (0 spreading, 1.. index into ``attrs['regimes']`` + 1); the drawn parameters in attrs.
    """
    cfg = config or SeafloorConfig()
    rng = np.random.default_rng(seed)
    chrons = read_gpts(timescale_path, scale=cfg.timescale)
    ny, nx = cfg.shape
    pad_y, pad_x = ny // 4 + 8, nx // 4 + 8
    shape = (ny + 2 * pad_y, nx + 2 * pad_x)
    h = cfg.spacing_km
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] * h
    yy = yy - yy.mean()
    xx = xx - xx.mean()
    azimuth = rng.uniform(*cfg.ridge_azimuth)
    az = math.radians(azimuth)
    rate = rng.uniform(*cfg.half_rate)
    breaks = np.sort(rng.uniform(0, np.hypot(*shape) * h / rate, size=cfg.rate_changes))
    factors = np.concatenate([[1.0], rng.uniform(0.6, 1.6, size=cfg.rate_changes)])
    history = (breaks, factors)
    age, fz_distance = _spreading_age(xx, yy, az, rng=rng, cfg=cfg, rate=rate,
                                      rate_history=history)
    polarity = polarity_at(age, chrons)
    sigma_nodes = cfg.accretion_width / h
    magnet = cfg.magnetization * ndimage.gaussian_filter(polarity, sigma_nodes, mode="nearest")
    magnet *= 1 + 0.1 * _smooth_field(rng, shape, 4.0)
    magnet *= 1 - 0.7 * np.exp(-0.5 * (fz_distance / max(cfg.fracture_zone_width, 1e-6)) ** 2)
    linear = np.ones(shape, dtype=bool)
    regime = np.zeros(shape, dtype=np.int8)
    extra_sources = []  # (magnetisation map, z_top) of shallower bodies
    z_top = rng.uniform(*cfg.z_top)
    budget = rng.uniform(*cfg.nonlinear_fraction)
    crop = (slice(pad_y, pad_y + ny), slice(pad_x, pad_x + nx))
    area = 0.0
    ctx = {"rng": rng, "cfg": cfg, "shape": shape, "h": h, "xx": xx, "yy": yy, "az": az,
           "rate": rate, "history": history, "chrons": chrons, "sigma_nodes": sigma_nodes,
           "z_top": z_top}
    while cfg.regimes and area < budget:
        name = cfg.regimes[rng.integers(len(cfg.regimes))]
        size = min(budget - area, rng.uniform(0.05, 0.25)) + 0.02
        mask = np.zeros(shape, dtype=bool)
        mask[crop] = _patch(rng, (ny, nx), size)
        magnet, age, mask = _apply_regime(name, mask, magnet, age, extra_sources, ctx)
        linear &= ~mask
        regime[mask] = REGIMES.index(name) + 1
        area = 1 - linear[crop].mean()
    anomaly = _forward_anomaly(magnet, extra_sources, cfg, z_top=z_top, h=h)
    spacing_m = h * 1000.0
    noisy = anomaly + cfg.noise_nT * rng.standard_normal(shape)
    age = np.where(linear, age, np.nan)
    fields = {"noisy": noisy, "anomaly": anomaly, "linear": linear, "age": age,
              "polarity": polarity, "magnet": magnet, "regime": regime}
    attrs = {"ridge_azimuth_deg": azimuth, "half_rate_mm_per_yr": rate, "z_top_km": z_top,
             "rate_change_ages_myr": breaks.tolist(), "rate_factors": factors.tolist(),
             "regimes": ",".join(REGIMES), "seed": seed, "timescale": cfg.timescale,
             "config": str(asdict(cfg))}
    ds = _seafloor_dataset(fields, crop, (ny, nx), spacing_m, attrs)
    if cfg.tracks:
        ds = _survey_along_tracks(ds, cfg, seed=int(rng.integers(2**31)))
    return ds


def _survey_along_tracks(ds, cfg, *, seed):
    """Replace ``anomaly`` by a regridded survey along random ship tracks."""
    from ..grids import regrid

    points = sample_tracks(ds, n_tracks=cfg.tracks, step=cfg.track_step, seed=seed)
    spacing = float(ds.easting[1] - ds.easting[0])
    region = (float(ds.easting[0]), float(ds.easting[-1]),
              float(ds.northing[0]), float(ds.northing[-1]))
    gridded = regrid(points, spacing=spacing, region=region, method=cfg.track_gridding,
                     maxdist=cfg.track_maxdist_km * 1000.0)
    gridded = gridded.assign_coords(northing=ds.northing, easting=ds.easting)
    return ds.assign(
        anomaly_full=ds["anomaly"],
        anomaly=gridded.assign_attrs(ds["anomaly"].attrs, n_tracks=cfg.tracks,
                                     n_track_points=int(points.sizes["point"])),
    )


def window_labels(linear, *, size, stride, linear_min=0.7, nonlinear_max=0.3):
    """Label sliding windows by their fraction of linear nodes (the published rule).

    Parameters
    ----------
    linear : numpy.ndarray of bool
        Truth per node.
    size, stride : int
        Window side and step (nodes).
    linear_min, nonlinear_max : float
        Linear fraction at or above which a window is linear, at or below which non-linear.

    Returns
    -------
    pandas.DataFrame
        One row per window: ``row``, ``col`` (top-left node), ``fraction`` and ``label``
        (1 linear, 0 non-linear, -1 ambiguous).
    """
    lin = np.asarray(linear, dtype=float)
    if size > min(lin.shape):
        msg = f"window size {size} exceeds the grid {lin.shape}"
        raise ValidationError(msg)
    integral = np.pad(lin.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    rows = np.arange(0, lin.shape[0] - size + 1, stride)
    cols = np.arange(0, lin.shape[1] - size + 1, stride)
    r, c = np.meshgrid(rows, cols, indexing="ij")
    total = (integral[r + size, c + size] - integral[r, c + size] - integral[r + size, c]
             + integral[r, c]) / size**2
    label = np.where(total >= linear_min, 1, np.where(total <= nonlinear_max, 0, -1))
    return pd.DataFrame({"row": r.ravel(), "col": c.ravel(), "fraction": total.ravel(),
                         "label": label.ravel()})


def sample_tracks(grid, *, n_tracks=12, step=1, noise_nT=0.0, seed=0, variable="anomaly"):
    """Sample a grid along random straight ship tracks; returns a point Dataset.

    Tracks cross the whole grid at random headings; samples every ``step`` nodes with
    nearest-node values plus Gaussian noise. Coordinates are ``easting``/``northing``.

    Parameters
    ----------
    grid : xarray.Dataset or xarray.DataArray
        A synthetic grid (:func:`synthetic_seafloor`) or one variable of it.
    n_tracks : int
        Number of tracks.
    step : int
        Nodes between samples along a track.
    noise_nT : float
        Standard deviation of the added noise.
    seed : int
        Random seed.
    variable : str
        Variable sampled.

    Returns
    -------
    xarray.Dataset
        Dimension ``point``: the sampled ``variable`` (nT) with ``easting``/``northing``.
    """
    da = grid[variable] if isinstance(grid, xr.Dataset) else grid
    rng = np.random.default_rng(seed)
    ny, nx = da.shape
    ys, xs = [], []
    for _ in range(n_tracks):
        heading = rng.uniform(0, np.pi)
        cy, cx = rng.uniform(0, ny), rng.uniform(0, nx)
        length = np.hypot(ny, nx)
        t = np.arange(-length, length, step)
        y = cy + t * np.cos(heading)
        x = cx + t * np.sin(heading)
        inside = (y >= 0) & (y <= ny - 1) & (x >= 0) & (x <= nx - 1)
        ys.append(y[inside])
        xs.append(x[inside])
    iy = np.round(np.concatenate(ys)).astype(int)
    ix = np.round(np.concatenate(xs)).astype(int)
    values = da.values[iy, ix] + noise_nT * rng.standard_normal(iy.size)
    ydim, xdim = da.dims
    return xr.Dataset({variable: ("point", values, {"units": "nT"})},
                      coords={xdim: ("point", da[xdim].values[ix]),
                              ydim: ("point", da[ydim].values[iy])})

