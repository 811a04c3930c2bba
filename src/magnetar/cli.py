"""Command-line interface: a thin layer that parses arguments and calls ``run_*`` functions."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import __version__
from .errors import MagnetarError

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
        return _cmd_datasets(args, parser)
    except MagnetarError as err:
        print(f"magnetar: error: {err}", file=sys.stderr)  # noqa: T201
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
