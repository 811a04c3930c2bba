"""The IAR generator's background and Schumann resonance against real spectra.

Real: 120 twelve-minute amplitude spectra (5-40 Hz) of the Mikhnevo induction magnetometer
(``timeseries/mikhnevo_schumann_spectra.h5``), fitted with a power law plus three Lorentzian
modes (:func:`magnetar.processing.fit_schumann`). Synthetic: nights of the default
:class:`magnetar.synthetic.IARConfig` with only background and Schumann resonance (no IARs,
Pc1, lines, impulses, gaps or band-pass), each night's median spectrum fitted with one mode
over 5-12 Hz (the generator models the first mode only). Compared: the first mode's centre
and full width, its model-free contrast (peak PSD over the PSD at 5 Hz) and the background
level at 5 Hz; for each, the real 5/50/95th percentiles, the synthetic ones, and the fraction
of real spectra inside the synthetic 5-95 % range. Writes
``benchmarks/results/iar/generator_validation.json`` and
``docs/figures/iar/generator_vs_mikhnevo.png``.

Run: ``MAGNETAR_DATA_DIR=../shared/data python benchmarks/validate_iar_generator.py``
"""

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe  # noqa: E402

from magnetar import datasets  # noqa: E402
from magnetar.io import read_schumann_spectra  # noqa: E402
from magnetar.processing import fit_schumann  # noqa: E402
from magnetar.synthetic import IARConfig, synthetic_iar_nights  # noqa: E402

ROOT = Path(__file__).parent.parent
N_NIGHTS = 200
QUANTITIES = ("schumann_hz", "schumann_fwhm", "contrast_db", "level_5hz")


def _percentiles(v):
    return [float(x) for x in np.nanpercentile(v, [5, 50, 95])]


def real_spectra():
    psd = read_schumann_spectra(datasets.fetch("timeseries/mikhnevo_schumann_spectra.h5"))
    fit = fit_schumann(psd, band=(5.0, 24.0), modes=3)
    fit["level_5hz"] = np.log10(psd.sel(frequency=5.0, method="nearest"))
    return psd, fit


def synthetic_spectra(config):
    quiet = replace(config, p_iar=0.0, pc1_events=(0, 0), p_lines=0.0,
                    impulses_per_hour=(0.0, 0.0), gaps=(0, 0), bandpass=None, fmax=12.0,
                    drift_lines=(0, 0), bursts=(0, 0))
    nights = synthetic_iar_nights(N_NIGHTS, quiet, seed=30_000_000, workers=2)
    psd = (10.0 ** nights["spectrogram"]).median("time")  # one spectrum per night
    psd = psd.assign_coords(frequency=nights["frequency"]).rename("psd")
    fit = fit_schumann(psd, band=(5.0, 12.0), modes=1)
    fit["level_5hz"] = np.log10(psd.sel(frequency=5.0, method="nearest"))
    return psd, fit


def main():
    config = IARConfig()
    real_psd, real = real_spectra()
    syn_psd, syn = synthetic_spectra(config)
    out = {"machine": describe(), "n_real_spectra": int(real_psd.sizes["interval"]),
           "n_synthetic_nights": N_NIGHTS,
           "generator_ranges": {"schumann_hz": list(config.schumann_hz),
                                "schumann_fwhm": list(config.schumann_fwhm),
                                "schumann_snr_db": list(config.schumann_snr_db),
                                "background_log10_at_1hz": list(config.background),
                                "alpha": list(config.alpha)},
           "real_fit_residual_db_median": float(np.nanmedian(real["residual_db"])),
           "real_mode_hz_median": [float(v) for v in np.nanmedian(real["mode_hz"], axis=0)],
           "quantities": {}}
    for q in QUANTITIES:
        lo, _, hi = _percentiles(syn[q].values)
        r = real[q].values
        out["quantities"][q] = {"real_p5_p50_p95": _percentiles(r),
                                "synthetic_p5_p50_p95": _percentiles(syn[q].values),
                                "real_inside_synthetic_5_95": float(np.mean((r >= lo) & (r <= hi)))}
    path = ROOT / "benchmarks" / "results" / "iar" / "generator_validation.json"
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out["quantities"], indent=1))  # noqa: T201
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for psd, dim, label, colour in ((real_psd, "interval", "Mikhnevo (120 x 12 min)", "C0"),
                                    (syn_psd, "night", f"generator ({N_NIGHTS} nights)", "C1")):
        amp = np.sqrt(psd) * 1e3  # pT/sqrt(Hz)
        f = psd["frequency"].values
        lo, mid, hi = (amp.quantile(q, dim=dim).values for q in (0.05, 0.5, 0.95))
        ax.fill_between(f, lo, hi, color=colour, alpha=0.25, lw=0)
        ax.plot(f, mid, color=colour, label=f"{label}: median, 5-95 %")
    ax.set(xlabel="frequency (Hz)", ylabel="amplitude (pT/√Hz)", yscale="log", xlim=(4, 25),
           title="Background and first Schumann mode: generator vs real")
    ax.legend()
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "figures" / "iar" / "generator_vs_mikhnevo.png", dpi=120)


if __name__ == "__main__":
    main()
