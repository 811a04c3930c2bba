"""Where do the EMAG2v3 tiles lie? Their 1-degree block means against the independent EMAG2 v2
grid: at the place the reader gives, at 40 random places (the null) and with the reading used
before session 14 (latitude mirrored, 180 degrees of longitude). Writes
benchmarks/results/lma/tile_geometry.json.

Run: MAGNETAR_DATA_DIR=../shared/data .venv/bin/python benchmarks/lma_tile_geometry.py
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar import datasets  # noqa: E402
from magnetar.io import grid_agreement, read_emag2v3_tile, read_grid  # noqa: E402

TILES = (675, 782, 1164, 1299)


def main():
    v2 = read_grid(datasets.fetch("grids/EMAG2_V2_1x1.grd"))
    rng = np.random.default_rng(0)
    out = {"machine": describe(), "tiles": {}}
    for label in TILES:
        tile = read_emag2v3_tile(datasets.fetch(f"grids/emag2v3_tiles/gts/example_{label}.png"))
        old = tile.assign_coords(latitude=-tile.latitude.values[::-1],
                                 longitude=tile.longitude.values + 180)
        null = []
        for _ in range(40):
            shifted = tile.assign_coords(
                latitude=np.clip(tile.latitude.values + rng.uniform(-40, 40), -89.9, 89.9),
                longitude=tile.longitude.values + rng.uniform(-180, 180))
            null.append(grid_agreement(shifted, v2))
        null = np.array([r for r in null if np.isfinite(r)])
        out["tiles"][str(label)] = {
            "centre_lat": float(tile.latitude.mean()), "centre_lon": float(tile.longitude.mean()),
            "r_here": grid_agreement(tile, v2), "r_old_reading": grid_agreement(old, v2),
            "r_random_median": float(np.median(null)),
            "r_random_95th_percentile": float(np.percentile(null, 95)),
        }
    path = Path(__file__).parent / "results" / "lma" / "tile_geometry.json"
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out["tiles"], indent=1))  # noqa: T201


if __name__ == "__main__":
    main()
