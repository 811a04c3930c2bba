"""Forward-modelled non-oceanic crust: the negatives a linear-anomaly classifier must reject.

Why written here: the seafloor generator's non-linear patches are oceanic (seamounts,
plateaus, crossing fabric), and its fractal "continental" texture has no geology in it, so a
classifier trained on them calls real continental grids linear (docs/lma.md). No library
draws random geological scenes; the magnetic fields themselves are computed with harmonica's
prism forward model (Nagy et al. 2000 / Fukushima 2020 kernels) for discrete bodies and with
the Fourier layer method (:func:`magnetar.synthetic.layer_anomaly`, Blakely 1995 eq. 11.35)
for laterally varying layers.

A scene is observed ``height_km`` above the ground (EMAG2v3: 4 km) and built from the
textbook sources of continental magnetic maps (Blakely 1995 ch. 12; Purucker & Whaler 2007):

- basement terranes: Voronoi blocks 40-250 km across, each with its own magnetisation
  (0-1 A/m, induced), from the basement surface down to a
  Curie depth of 20-35 km;
- sedimentary basins: areas where the basement lies 3-10 km deep (non-magnetic cover), so
  their anomalies are smooth;
- fold-and-thrust belts: sinuous, segmented bands 3-15 km wide of alternating magnetisation
  along a curved strike, their amplitude varying along strike, in a belt 60-250 km wide;
- plutons: near-vertical bodies 4-30 km across (stacks of prisms approximating cylinders),
  magnetised 0.5-4 A/m, either sign of remanence;
- dyke swarms: a few thin (50-300 m) dykes up to 150 km long, radiating or parallel;
- volcanic fields: clusters of small shallow cones (harmonica prisms).

Every node is non-linear (``linear`` all False); ``regime`` names the source that dominates
there. The scene is computed on a domain padded by a quarter on each side and cropped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import xarray as xr
from scipy import ndimage

from ..errors import MissingDependencyError, ValidationError
from ._seafloor import _direction, _smooth_field, check_shape, layer_anomaly

__all__ = ["GEOLOGY_SOURCES", "GeologyConfig", "synthetic_geology"]

GEOLOGY_SOURCES = ("terranes", "basins", "belts", "plutons", "dykes", "volcanics")


@dataclass(frozen=True)
class GeologyConfig:
    """Parameters of :func:`synthetic_geology` (lengths in km, magnetisation in A/m).

    Attributes
    ----------
    shape : (int, int)
        Grid size in nodes, northing by easting.
    spacing_km : float
        Distance between nodes.
    height_km : float
        Observation height above the ground (EMAG2v3: 4 km).
    sources : tuple of str
        Which of ``GEOLOGY_SOURCES`` may appear (each scene draws a random subset, terranes
        always when listed).
    inclination : (float, float)
        Range of the ambient field inclination (degrees; sign drawn too).
    curie_depth : (float, float)
        Range of the bottom of the magnetic crust.
    noise_nT : float
        Gaussian noise added to the anomaly.
    """

    shape: tuple[int, int] = (256, 256)
    spacing_km: float = 3.7
    height_km: float = 4.0
    sources: tuple[str, ...] = GEOLOGY_SOURCES
    inclination: tuple[float, float] = (10.0, 80.0)
    curie_depth: tuple[float, float] = (20.0, 35.0)
    noise_nT: float = 5.0

    def __post_init__(self):
        unknown = [s for s in self.sources if s not in GEOLOGY_SOURCES]
        if unknown:
            msg = f"unknown geology source(s) {unknown}; choose from {', '.join(GEOLOGY_SOURCES)}"
            raise ValidationError(msg)
        if not (np.isfinite(self.spacing_km) and self.spacing_km > 0):
            msg = f"spacing_km must be a positive number, got {self.spacing_km}"
            raise ValidationError(msg)
        check_shape(self.shape, option="shape (--grid-size)", what="geology scene", maps=16)
        if self.height_km < 0:
            msg = f"height_km must be >= 0, got {self.height_km}"
            raise ValidationError(msg)


def _voronoi(rng, shape, h, size_km):
    """Label map of Voronoi cells about ``size_km`` across (integer per node)."""
    ny, nx = shape
    n = max(2, round(ny * nx * h * h / size_km**2))
    seeds = np.column_stack([rng.uniform(0, ny, n), rng.uniform(0, nx, n)])
    from scipy.spatial import cKDTree

    yy, xx = np.mgrid[0:ny, 0:nx]
    # wobbly borders: distort the coordinates before the nearest-seed query
    warp = 0.15 * size_km / h
    yy = yy + warp * _smooth_field(rng, shape, 20.0 / h)
    xx = xx + warp * _smooth_field(rng, shape, 20.0 / h)
    _, label = cKDTree(seeds).query(np.column_stack([yy.ravel(), xx.ravel()]))
    return label.reshape(shape), n


def _blob(rng, shape, h, size_km, *, elongation=1.0, azimuth=0.0):
    """Smooth random blob about ``size_km`` across (bool), optionally elongated."""
    ny, nx = shape
    cy, cx = rng.uniform(0.1, 0.9) * ny, rng.uniform(0.1, 0.9) * nx
    yy, xx = np.mgrid[0:ny, 0:nx]
    u = (xx - cx) * math.cos(azimuth) - (yy - cy) * math.sin(azimuth)
    v = (xx - cx) * math.sin(azimuth) + (yy - cy) * math.cos(azimuth)
    r = np.hypot(u / elongation, v) * h
    wobble = 1 + 0.3 * _smooth_field(rng, shape, 25.0 / h)
    return r < 0.5 * size_km * wobble


def _belt(rng, shape, h):
    """Magnetisation (A/m) of a fold-and-thrust belt and its mask."""
    ny, nx = shape
    azimuth = rng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:ny, 0:nx] * h
    yy, xx = yy - yy.mean(), xx - xx.mean()
    along = xx * math.sin(azimuth) + yy * math.cos(azimuth)
    across = xx * math.cos(azimuth) - yy * math.sin(azimuth)
    # curved strike and folds: the across-strike coordinate bends along strike
    bend = rng.uniform(0.5, 3.0) * 1e-3 * along**2 * rng.choice([-1, 1])
    fold = rng.uniform(3, 20) * np.sin(2 * math.pi * along / rng.uniform(30, 120)
                                        + rng.uniform(0, 6.3))
    s = across - bend - fold + rng.uniform(-0.3, 0.3) * nx * h
    width = rng.uniform(60, 250)
    mask = np.abs(s) < width / 2
    band = rng.uniform(3, 15)
    phase = np.floor(s / band)
    amp = rng.uniform(0.3, 2.0) * np.cos(1.7 * phase + rng.uniform(0, 6.3))
    along_strike = 0.3 + np.abs(_smooth_field(rng, shape, rng.uniform(15, 60) / h))
    segmented = _smooth_field(rng, shape, rng.uniform(10, 40) / h) > -0.3
    return np.where(mask & segmented, amp * along_strike, 0.0), mask


def _prism_cylinder(cx, cy, radius, top, bottom, *, sides=6):
    """Prisms (w, e, s, n, bottom, top; m) filling a vertical cylinder, horizontal slabs."""
    edges = np.linspace(-radius, radius, sides + 1)
    out = []
    for y0, y1 in zip(edges[:-1], edges[1:], strict=True):
        half = math.sqrt(max(radius**2 - (0.5 * (y0 + y1)) ** 2, 0.0))
        if half > 0:
            out.append((cx - half, cx + half, cy + y0, cy + y1, bottom, top))
    return out


def _bodies(rng, cfg, kinds, extent_m):
    """Prisms and their magnetisation (A/m, signed intensity) of the discrete bodies."""
    prisms, intensity = [], []
    width, height = extent_m
    for kind in kinds:
        if kind == "plutons":
            for _ in range(rng.integers(2, 12)):
                cx, cy = rng.uniform(0, width), rng.uniform(0, height)
                radius = rng.uniform(2e3, 15e3)
                top = -rng.uniform(0.0, 3e3)
                body = _prism_cylinder(cx, cy, radius, top - rng.uniform(5e3, 15e3), top)
                prisms += body
                intensity += [rng.choice([-1, 1], p=[0.3, 0.7]) * rng.uniform(0.5, 4)] * len(body)
        elif kind == "dykes":
            n = rng.integers(3, 9)
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            radial = rng.random() < 0.5
            base = rng.uniform(0, math.pi)
            for _ in range(n):
                az = rng.uniform(0, math.pi) if radial else base + rng.normal(0, 0.1)
                length = rng.uniform(30e3, 150e3)
                thick = rng.uniform(50, 300) * 10  # wide enough to show at km spacing
                x0 = cx + rng.normal(0, 40e3)
                y0 = cy + rng.normal(0, 40e3)
                for step in range(int(length // 10e3)):  # 10-km segments along strike
                    sx = x0 + step * 10e3 * math.sin(az)
                    sy = y0 + step * 10e3 * math.cos(az)
                    prisms.append((sx - thick / 2, sx + thick / 2, sy - 5e3, sy + 5e3,
                                   -10e3, -rng.uniform(0, 1e3)))
                    intensity.append(rng.uniform(1, 4) * rng.choice([-1, 1]))
        elif kind == "volcanics":
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            for _ in range(rng.integers(10, 40)):
                x, y = cx + rng.normal(0, 30e3), cy + rng.normal(0, 30e3)
                r = rng.uniform(1e3, 4e3)
                prisms.append((x - r, x + r, y - r, y + r, -rng.uniform(1e3, 2e3), 0.0))
                intensity.append(rng.choice([-1, 1]) * rng.uniform(2, 6))
    return np.asarray(prisms, dtype=float).reshape(-1, 6), np.asarray(intensity, dtype=float)


def _prism_anomaly(prisms, intensity, field_dir, rem_dir, shape, spacing_m, height_m):
    """Total-field anomaly (nT) of the prisms on the node lattice (harmonica)."""
    try:
        import harmonica as hm
    except ImportError as err:  # pragma: no cover - depends on the environment
        msg = ("forward-modelled geology needs harmonica: "
               "pip install 'magnetar[grids]'")
        raise MissingDependencyError(msg) from err
    ny, nx = shape
    if prisms.shape[0] == 0:
        return np.zeros(shape)
    easting, northing = np.meshgrid(np.arange(nx) * spacing_m, np.arange(ny) * spacing_m)
    mx, my, mz = _direction(*rem_dir)
    # harmonica wants (east, north, up); _direction gives (east, north, down)
    magnetisation = (intensity * mx, intensity * my, -intensity * mz)
    coords = (easting.ravel(), northing.ravel(), np.full(easting.size, height_m))
    be, bn, bu = hm.prism_magnetic(coords, prisms, magnetisation, field="b",
                                   parallel=True, disable_checks=True)
    fx, fy, fz = _direction(*field_dir)
    # harmonica's upward component against the layer method's downward-positive z
    return (be * fx + bn * fy - bu * fz).reshape(shape)


def _layers(rng, cfg, kinds, shape, h):
    """Layers (magnetisation map, top, bottom in km below ground) and the regime map."""
    regime = np.zeros(shape, dtype=np.int8)
    labels, n = _voronoi(rng, shape, h, rng.uniform(40, 250))
    block_m = rng.uniform(0, 1, n) * rng.choice([-1, 1], n, p=[0.2, 0.8])
    basement = block_m[labels] * (1 + 0.3 * _smooth_field(rng, shape, 5.0 / h))
    depth = np.full(shape, rng.uniform(0.0, 1.5))
    regime[:] = GEOLOGY_SOURCES.index("terranes") + 1
    if "basins" in kinds:
        for _ in range(rng.integers(1, 4)):
            mask = _blob(rng, shape, h, rng.uniform(100, 400), elongation=rng.uniform(1, 3),
                         azimuth=rng.uniform(0, math.pi))
            depth = np.where(mask, rng.uniform(3, 10), depth)
            regime[mask] = GEOLOGY_SOURCES.index("basins") + 1
        depth = ndimage.gaussian_filter(depth, 10.0 / h)
    bottom = rng.uniform(*cfg.curie_depth)
    layers = []
    # basement depth varies: one layer per depth class (1 km classes)
    for top in np.unique(np.round(depth)):
        part = np.where(np.round(depth) == top, basement, 0.0)
        layers.append((part, float(top), bottom))
    if "belts" in kinds:
        for _ in range(rng.integers(1, 3)):
            belt, mask = _belt(rng, shape, h)
            layers.append((belt, rng.uniform(0.0, 2.0), rng.uniform(6, 15)))
            regime[mask & (belt != 0)] = GEOLOGY_SOURCES.index("belts") + 1
    return layers, regime


def synthetic_geology(config=None, *, seed=0):
    """Generate one forward-modelled non-oceanic (continental) magnetic anomaly grid.

    Parameters
    ----------
    config : GeologyConfig, optional
        Scene parameters (defaults: EMAG2v3-like 3.7 km spacing, 4 km above the ground).
    seed : int
        Same seed, same grid.

    Returns
    -------
    xarray.Dataset
        Dimensions (northing, easting) in metres: ``anomaly`` (nT, with noise),
        ``anomaly_clean``, ``linear`` (all False: no spreading fabric), ``regime``
        (1 + index into ``attrs['sources']``); the drawn parameters in attrs.
    """
    cfg = config or GeologyConfig()
    rng = np.random.default_rng(seed)
    ny, nx = cfg.shape
    pad_y, pad_x = ny // 4 + 8, nx // 4 + 8
    shape = (ny + 2 * pad_y, nx + 2 * pad_x)
    h = cfg.spacing_km
    optional = [s for s in cfg.sources if s != "terranes"]
    kinds = [s for s in optional if rng.random() < 0.6]
    inclination = rng.uniform(*cfg.inclination) * rng.choice([-1, 1])
    field_dir = (inclination, rng.uniform(-20, 20))
    rem_dir = (inclination + rng.normal(0, 15), field_dir[1] + rng.normal(0, 20))
    layers, regime = _layers(rng, cfg, kinds, shape, h)
    anomaly = np.zeros(shape)
    for magnet, top, bottom in layers:
        if np.any(magnet):
            anomaly += layer_anomaly(magnet, spacing=h * 1e3,
                                     z_top=(top + cfg.height_km) * 1e3,
                                     thickness=(bottom - top) * 1e3,
                                     field_direction=field_dir,
                                     magnetization_direction=field_dir)
    bodies = [k for k in kinds if k in ("plutons", "dykes", "volcanics")]
    prisms, intensity = _bodies(rng, cfg, bodies, (shape[1] * h * 1e3, shape[0] * h * 1e3))
    crop = (slice(pad_y, pad_y + ny), slice(pad_x, pad_x + nx))
    body_field = _prism_anomaly(prisms, intensity, field_dir, rem_dir, shape, h * 1e3,
                                cfg.height_km * 1e3)
    anomaly += body_field
    strong = np.abs(body_field) > 0.5 * np.abs(anomaly - body_field).std()
    if bodies:  # nodes where the bodies dominate take the first body kind
        regime[strong] = GEOLOGY_SOURCES.index(bodies[0]) + 1
    noisy = anomaly + cfg.noise_nT * rng.standard_normal(shape)
    dims = ("northing", "easting")
    spacing_m = h * 1e3
    return xr.Dataset(
        {"anomaly": (dims, noisy[crop], {"units": "nT", "long_name": "total-field anomaly"}),
         "anomaly_clean": (dims, anomaly[crop], {"units": "nT"}),
         "linear": (dims, np.zeros((ny, nx), dtype=bool),
                    {"long_name": "node on linear spreading fabric"}),
         "regime": (dims, regime[crop])},
        coords={"northing": np.arange(ny) * spacing_m, "easting": np.arange(nx) * spacing_m},
        attrs={"sources": ",".join(GEOLOGY_SOURCES), "drawn": ",".join(["terranes", *kinds]),
               "inclination_deg": float(inclination), "seed": seed,
               "config": str(asdict(cfg))})
