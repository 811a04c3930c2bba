"""``magnetar clean``: the cleaning workflow's sub-command (arguments in, ``run_clean`` out).

Every method option defaults to ``None`` here and falls back to :class:`CleaningConfig`, the
single source of defaults; ``--config`` reads a ``[clean]`` TOML table first.
"""

from __future__ import annotations

import sys

from .config import RULES

__all__ = ["add_parser", "run_command"]

_OVERRIDES = ("k", "min_stations", "tolerance", "rule", "cutoff_period_s", "components",
              "zero_phase", "apply_sync", "review")


def _add_method_options(parser):
    group = parser.add_argument_group("method options (override --config)")
    group.add_argument("--k", type=float, help="detection threshold in multiples of sigma "
                       "(default 6 for the peer rule, 3 for the published rules; the published "
                       "study also used 6 and 60)")
    group.add_argument("--min-stations", type=int, dest="min_stations",
                       help="an event seen at this many stations is natural (default 2)")
    group.add_argument("--tolerance", type=int,
                       help="samples by which peers' detections may differ (default 1)")
    group.add_argument("--rule", choices=RULES,
                       help="'peer' (default): each station predicted from its peers, spikes "
                            "found on the residual by shape and MAD sigma, classified by the "
                            "peers' amplitude, replaced by the prediction; 'published': the "
                            "coincidence rule as published; 'sharp': published plus one-station "
                            "spikes during natural activity")
    group.add_argument("--cutoff-period", type=float, dest="cutoff_period_s",
                       help="high-pass cut-off period in seconds (default: max(600 s, 30 "
                            "samples), i.e. 600 s at 1-second and 1800 s at 1-minute cadence)")
    group.add_argument("--components", type=lambda s: tuple(s.split(",")),
                       help="comma-separated components to clean (default: all shared)")
    group.add_argument("--causal", dest="zero_phase", action="store_false", default=None,
                       help="causal filter as in streaming (default: zero-phase)")
    group.add_argument("--apply-sync", dest="apply_sync", action="store_true", default=None,
                       help="shift stations by the lags the synchronisation check finds")
    group.add_argument("--no-review", dest="review", action="store_false", default=None,
                       help="peer rule: skip the review test (spikes whose flanks are too "
                            "rough for the shape test but depart from the station's learnt "
                            "interpolation are then not flagged)")


def add_parser(subparsers):
    """Add ``clean`` to the top-level sub-parsers; returns its parser."""
    clean = subparsers.add_parser(
        "clean", help="clean magnetograms of several observatories (peer or coincidence rule)",
        description="Read IAGA-2002 or ImagCDF files of two or more stations, aligned on "
                    "their common span; find one-station spikes (default: the peer rule, "
                    "which predicts each station from the others and keeps what they also "
                    "see; --rule published for the paper's coincidence rule), replace them, "
                    "and write cleaned IAGA-2002 and/or ImagCDF files, cleaned.nc (with "
                    "originals, flags and the noise sigma over time), events.csv, summary.csv "
                    "and figures. Input files are never modified.")
    clean.add_argument("files", nargs="+",
                       help="IAGA-2002 files (.min/.sec, .gz, .zip) or ImagCDF files (.cdf)")
    clean.add_argument("--out", required=True, help="output folder")
    clean.add_argument("--format", dest="formats", default="iaga2002",
                       type=lambda s: tuple(s.split(",")),
                       help="per-station output formats, comma-separated: iaga2002, imagcdf "
                            "(default iaga2002)")
    clean.add_argument("--config", help="TOML file with a [clean] table of options (a "
                                        "config.toml written by an earlier run reads back)")
    clean.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    scale = clean.add_argument_group(
        "archive scale (many days: processed day by day on Dask, memory bounded by one day; "
        "decisions identical to one in-memory run with period_s = 86400)")
    scale.add_argument("--workers", type=int, default=None,
                       help="clean day by day on a local Dask cluster of this many worker "
                            "processes (1: day by day in this process)")
    scale.add_argument("--scheduler", help="address of an existing Dask scheduler "
                                           "(e.g. tcp://10.0.0.5:8786); its workers must see "
                                           "the input files and --out")
    _add_method_options(clean)
    clean.set_defaults(handler=run_command)
    return clean


def run_command(args, parser=None):
    """Resolve the config (file, then options), run the cleaning, print its summary.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed ``clean`` options.
    parser : argparse.ArgumentParser, optional
        Unused (the dispatcher's signature).

    Returns
    -------
    int
        Exit status (0).
    """
    from ...config import load_config
    from .config import CleaningConfig
    from .run import run_clean, summary_lines

    overrides = {key: getattr(args, key) for key in _OVERRIDES}
    config = load_config(CleaningConfig, args.config, overrides=overrides, section="clean")
    if args.workers is not None or args.scheduler is not None:
        from .archive import clean_archive

        out = clean_archive(args.files, args.out, config, workers=1 if args.workers is None else args.workers,
                            scheduler=args.scheduler, formats=args.formats,
                            progress=sys.stderr.isatty())
        events = out["events"]
        counts = events["class"].value_counts().to_dict() if len(events) else {}
        layout = out["layout"]
        print(f"{len(layout.stations)} stations x {len(layout.days)} days: {len(events)} "  # noqa: T201
              f"events, {counts.get('interference', 0)} interference (replaced), "
              f"{counts.get('natural', 0)} natural, {counts.get('undetermined', 0)} "
              "undetermined (kept)")
        print(out["summary"].to_string())  # noqa: T201
        print(f"outputs written to {args.out}/ ({len(out['written'])} files)")  # noqa: T201
        return 0
    result, written = run_clean(args.files, args.out, config, figures=not args.no_figures,
                                progress=sys.stderr.isatty(), formats=args.formats)
    for line in summary_lines(result):
        print(line)  # noqa: T201
    print(f"outputs written to {args.out}/ ({len(written)} files)")  # noqa: T201
    return 0
