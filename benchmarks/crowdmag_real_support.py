"""CrowdMag denoise on real recordings: screening counts, value range and support (issue 26).

Two models: a 1-epoch stand-in trained on noise, which checks what the pipeline guarantees
whatever the model (screening, the map left empty beyond the data, an uncertainty layer),
and the shipped model (``shipped`` in the JSON), which shows what a user gets. Neither says
how good a reconstruction is (nothing is known between the tracks). Writes
benchmarks/results/crowdmag_real_support.json.

Run: MAGNETAR_DATA_DIR=../shared/data .venv/bin/python benchmarks/crowdmag_real_support.py
"""
import json
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

from magnetar.training.reconstruction import TrainConfig, fit
from magnetar.workflows.crowdmag.run import run_denoise


def main():
    tmp = Path(tempfile.mkdtemp())
    tiles = np.random.default_rng(0).normal(size=(16, 32, 32))
    fit(tiles, tiles[:4], TrainConfig(model_kwargs={"base": 4, "depth": 2}, epochs=1, device="cpu"), out_dir=tmp / "ae")
    from magnetar import datasets  # noqa: E402

    D = Path(datasets.fetch("crowdmag/crowdmag_profile1_iPhone13,1_2022-06-17 000534.csv")).parent
    files = {"thunderbird": (D / "crowdmag_Walk around Thunderbird, AK_iPhone14,4_2022-03-24 17 11 18.csv", 2.0),
             "profile1": (D / "crowdmag_profile1_iPhone13,1_2022-06-17 000534.csv", 2.0),
             "stationary night (Boulder)": (D / "crowdmag_Boulder 3_13_22 - 3_14_22 11 pm to 7 am_iPhone14,4_2022-03-24 17 10 58.csv", 2.0)}
    out = {}
    for model, checkpoint in (("", tmp / "ae" / "best.pt"), ("shipped ", None)):
        out.update(_denoised(files, tmp, model, checkpoint))
    Path(__file__).with_name("results").joinpath("crowdmag_real_support.json").write_text(
        json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))  # noqa: T201


def _denoised(files, tmp, model, checkpoint):
    out = {}
    for name, (f, km) in files.items():
        folder = tmp / f"{model}{name.split()[0]}".replace(" ", "_")
        t = run_denoise([f], folder, checkpoint=checkpoint, tile_km=km)
        row = t.iloc[0]
        with xr.open_dataset(row["netcdf"]) as ds:
            rec = ds["reconstruction"].values
            g = ds["gridded"].values
            out[model + name] = {"points_kept": int(row["points"]), "screened_range": int(row["screened_range"]),
                         "screened_mad": int(row["screened_mad"]), "known_pixels": int(row["known_pixels"]),
                         "support_pixels": int(row["support_pixels"]), "tile_pixels": int(rec.size),
                         "max_abs_gridded_nT": float(np.nanmax(np.abs(g))),
                         "max_abs_reconstruction_nT": float(np.nanmax(np.abs(rec))) if np.isfinite(rec).any() else None,
                         "uncertainty_present": bool(np.isfinite(ds["uncertainty"].values).any()),
                         "observatory": ds.attrs["observatory"]}
    return out


if __name__ == "__main__":
    main()
