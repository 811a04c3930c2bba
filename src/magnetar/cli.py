"""Command-line interface: a thin layer that parses arguments and calls ``run_*`` functions."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import __version__
from .errors import ConfigError, MagnetarError

LOGGER = logging.getLogger("magnetar")


def _add_clean_options(parser):
    group = parser.add_argument_group("method options (override --config)")
    group.add_argument("--k", type=float, help="detection threshold in multiples of sigma "
                       "(default 3; the published study also used 6 and 60)")
    group.add_argument("--min-stations", type=int, dest="min_stations",
                       help="an event seen at this many stations is natural (default 2)")
    group.add_argument("--tolerance", type=int,
                       help="samples by which peers' detections may differ (default 1)")
    group.add_argument("--rule", choices=("published", "sharp"),
                       help="coincidence rule: 'published', or 'sharp' which also catches "
                            "one-station spikes during natural activity")
    group.add_argument("--cutoff-period", type=float, dest="cutoff_period_s",
                       help="high-pass cut-off period in seconds (default: max(600 s, 30 samples), "
                            "i.e. 600 s at 1-second and 1800 s at 1-minute cadence)")
    group.add_argument("--components", type=lambda s: tuple(s.split(",")),
                       help="comma-separated components to clean (default: all shared)")
    group.add_argument("--causal", dest="zero_phase", action="store_false", default=None,
                       help="causal filter as in streaming (default: zero-phase)")
    group.add_argument("--apply-sync", dest="apply_sync", action="store_true", default=None,
                       help="shift stations by the lags the synchronisation check finds")


def build_parser():
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="magnetar",
        description="Signal processing and deep learning for geomagnetic data.",
    )
    parser.add_argument("--version", action="version", version=f"magnetar {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="run the main workflow on embedded defaults and write figures",
        description="Clean synthetic multi-observatory data with known interference (always) "
                    "and the Barrow/Deadhorse real data (when MAGNETAR_DATA_DIR holds it); "
                    "write cleaned files, tables and figures.")
    demo.add_argument("--out", default="demo-output", help="output folder (default demo-output)")

    clean = sub.add_parser(
        "clean", help="clean magnetograms of several observatories (coincidence rule)",
        description="Read IAGA-2002 files of two or more stations, detect spikes "
                    "(|high-passed| > k sigma), keep those seen at several stations (natural), "
                    "replace those seen at one (interference) from the clean stations, and "
                    "write cleaned IAGA-2002 files, cleaned.nc (with originals and flags), "
                    "events.csv, summary.csv and figures. Input files are never modified.")
    clean.add_argument("files", nargs="+", help="IAGA-2002 files (.min/.sec, .gz, .zip)")
    clean.add_argument("--out", required=True, help="output folder")
    clean.add_argument("--config", help="TOML file with a [clean] table of options")
    clean.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    _add_clean_options(clean)

    lma = sub.add_parser("lma", help="marine linear magnetic anomalies: grid preprocessing",
                         description="Anomaly-grid workflow of the marine study.")
    lsub = lma.add_subparsers(dest="action", metavar="ACTION")
    pre = lsub.add_parser(
        "preprocess", help="outliers, regridding, SVD denoising, coherence diffusion",
        description="Run any subset of the published preprocessing steps, in order: Tukey "
                    "outliers (--outliers), regridding/gap filling (--regrid), SVD low-rank "
                    "denoising (--svd), coherence-enhancing diffusion (--diffuse). Input: a "
                    "netCDF/GMT grid, a GeoTIFF, a PNG tile, an MGD77+ cruise or a point "
                    "table. Writes OUT (CF netCDF), OUT.config.toml, a figure of the stages and, "
                    "with --intermediates, every stage and removed part.")
    pre.add_argument("grid", help="input grid or points file (never modified)")
    pre.add_argument("--out", required=True, help="output netCDF path")
    pre.add_argument("--config", help="TOML file with a [preprocess] table of options")
    pre.add_argument("--outliers", nargs="?", const=1.5, type=float, default=None, metavar="C",
                     help="remove values outside [Q1 - C IQR, Q3 + C IQR] (C default 1.5)")
    pre.add_argument("--regrid", type=float, dest="regrid_spacing", metavar="SPACING",
                     help="grid/re-grid at this spacing (coordinate units, e.g. degrees)")
    pre.add_argument("--regrid-method", dest="regrid_method",
                     choices=("spline", "cubic", "linear", "nearest", "surface"),
                     help="gridding method (default spline)")
    pre.add_argument("--svd", type=float, dest="svd_energy", metavar="ENERGY",
                     help="SVD denoising keeping this energy fraction (e.g. 0.98)")
    pre.add_argument("--svd-rank", type=int, dest="svd_rank", help="keep exactly k values")
    pre.add_argument("--diffuse", metavar="SIGMA,RHO,T",
                     help="coherence-enhancing diffusion with noise scale, integration scale "
                          "and diffusion time, e.g. 1,6,5")
    pre.add_argument("--backend", choices=("numpy", "torch"), help="diffusion backend")
    pre.add_argument("--chunks", type=int, help="diffuse in chunks of N x N nodes (Dask)")
    pre.add_argument("--intermediates", action="store_true", help="write every stage")
    pre.add_argument("--no-figure", action="store_true", help="skip the stages figure")

    synth = sub.add_parser("synth", help="physics-based synthetic data with ground truth")
    ssub = synth.add_subparsers(dest="action", metavar="ACTION")
    sea = ssub.add_parser(
        "seafloor", help="seafloor-spreading anomaly grids with linear/non-linear labels",
        description="Write labelled synthetic marine anomaly grids (netCDF: anomaly, "
                    "anomaly_clean, linear, age, polarity, magnetization, regime) from "
                    "spreading, a polarity time scale and the Fourier layer method.")
    sea.add_argument("--out", required=True, help="output folder")
    sea.add_argument("-n", type=int, default=4, help="number of grids (default 4)")
    sea.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    sea.add_argument("--config", help="TOML file with a [seafloor] table of options")
    sea.add_argument("--size", type=int, help="grid size in nodes (square)")
    sea.add_argument("--spacing-km", type=float, dest="spacing_km", help="node spacing in km")
    sea.add_argument("--noise", type=float, dest="noise_nT", help="noise in nT")
    sea.add_argument("--timescale", choices=("CK95", "GK2007", "GTS2004", "GTS2012"),
                     help="polarity time scale (default CK95)")
    sea.add_argument("--tracks", type=int,
                     help="sample along N random ship tracks and regrid (anomaly then has "
                          "gaps; the full grid is kept as anomaly_full)")
    sea.add_argument("--track-gridding", dest="track_gridding",
                     choices=("cubic", "linear", "nearest", "spline", "surface"),
                     help="gridding method for the tracks (default cubic)")

    data = sub.add_parser("datasets", help="list, fetch or locate registered real data files",
                          description="Real data files are registered with their public origin "
                                      "and SHA-256; MAGNETAR_DATA_DIR is read first.")
    dsub = data.add_subparsers(dest="action", metavar="ACTION")
    lst = dsub.add_parser("list", help="list registered files")
    lst.add_argument("prefix", nargs="?", default="", help="only names starting with this")
    for name, text in (("fetch", "download (or find locally) and verify files"),
                       ("path", "print the local path of files")):
        p = dsub.add_parser(name, help=text)
        p.add_argument("names", nargs="+", help="registered names (see 'datasets list')")
    return parser


def _configure_logging(verbosity):
    level = logging.WARNING - 10 * min(verbosity + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _cmd_demo(args):
    from .pipelines.demo import run_demo

    report = run_demo(args.out, progress=sys.stderr.isatty())
    print(json.dumps(report, indent=2, default=str))  # noqa: T201
    print(f"demo outputs written to {args.out}/")  # noqa: T201
    return 0


def _cmd_clean(args):
    from .config import load_config
    from .pipelines.observatory_cleaning import CleaningConfig
    from .pipelines.run_cleaning import run_clean, summary_lines

    overrides = {key: getattr(args, key) for key in (
        "k", "min_stations", "tolerance", "rule", "cutoff_period_s", "components",
        "zero_phase", "apply_sync")}
    config = load_config(CleaningConfig, args.config, overrides=overrides, section="clean")
    result, written = run_clean(args.files, args.out, config, figures=not args.no_figures,
                                progress=sys.stderr.isatty())
    for line in summary_lines(result):
        print(line)  # noqa: T201
    print(f"outputs written to {args.out}/ ({len(written)} files)")  # noqa: T201
    return 0


def _cmd_lma(args, parser):
    from .config import load_config
    from .pipelines.grid_preprocessing import PreprocessConfig, run_preprocess

    if args.action != "preprocess":
        parser.parse_args(["lma", "--help"])
        return 2
    overrides = {key: getattr(args, key) for key in (
        "outliers", "regrid_spacing", "regrid_method", "svd_energy", "svd_rank", "backend",
        "chunks")}
    if args.diffuse:
        try:
            sigma, rho, time = (float(v) for v in args.diffuse.split(","))
        except ValueError:
            msg = f"--diffuse expects SIGMA,RHO,T (three numbers), got {args.diffuse!r}"
            raise ConfigError(msg) from None
        overrides.update(diffuse=True, sigma=sigma, rho=rho, time=time)
    config = load_config(PreprocessConfig, args.config, overrides=overrides,
                         section="preprocess")
    written = run_preprocess(args.grid, args.out, config, intermediates=args.intermediates,
                             figure=not args.no_figure)
    for key, path in written.items():
        print(f"{key}: {path}")  # noqa: T201
    return 0


def _cmd_synth(args, parser):
    from .config import load_config
    from .pipelines.grid_preprocessing import run_synth_seafloor
    from .synthetic import SeafloorConfig

    if args.action != "seafloor":
        parser.parse_args(["synth", "--help"])
        return 2
    overrides = {"spacing_km": args.spacing_km, "noise_nT": args.noise_nT,
                 "timescale": args.timescale, "tracks": args.tracks,
                 "track_gridding": args.track_gridding,
                 "shape": None if args.size is None else (args.size, args.size)}
    config = load_config(SeafloorConfig, args.config, overrides=overrides, section="seafloor")
    written = run_synth_seafloor(args.out, n=args.n, seed=args.seed, config=config)
    print(f"{len(written)} files written to {args.out}/")  # noqa: T201
    return 0


def _cmd_datasets(args, parser):
    from . import datasets

    if args.action == "list":
        for name in datasets.list_files(args.prefix):
            entry = datasets.registry()[name]
            mark = "local" if datasets.is_available(name) else "remote"
            print(f"{name}\t{entry.size}\t{mark}\t{entry.repo}@{entry.commit[:10]}")  # noqa: T201
        return 0
    if args.action in ("fetch", "path"):
        for name in args.names:
            path = datasets.fetch(name, download=args.action == "fetch")
            print(path)  # noqa: T201
        return 0
    parser.parse_args(["datasets", "--help"])
    return 2


def main(argv=None):
    """Entry point of the ``magnetar`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "demo":
            return _cmd_demo(args)
        if args.command == "clean":
            return _cmd_clean(args)
        if args.command == "lma":
            return _cmd_lma(args, parser)
        if args.command == "synth":
            return _cmd_synth(args, parser)
        return _cmd_datasets(args, parser)
    except MagnetarError as err:
        print(f"magnetar: error: {err}", file=sys.stderr)  # noqa: T201
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
