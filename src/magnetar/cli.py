"""Command-line interface: a thin layer that parses arguments and calls ``run_*`` functions."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from . import __version__
from ._options import add_options_config, apply_options_table, write_options_table
from .errors import MagnetarError, ValidationError
from .workflows.cleaning import cli as cleaning_cli
from .workflows.crowdmag import cli as crowdmag_cli
from .workflows.iar import cli as iar_cli
from .workflows.lma import cli as lma_cli

LOGGER = logging.getLogger("magnetar")


def build_parser():
    """Return the argument parser (exposed for documentation and tests)."""
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

    cleaning_cli.add_parser(sub)
    lma_cli.add_parser(sub)
    lma_cli.add_synth_parser(sub)
    crowdmag_cli.add_parser(sub)
    iar_cli.add_parser(sub)


    data = sub.add_parser("datasets", help="list, fetch or locate registered real data files",
                          description="Real data files are registered with their public origin "
                                      "and SHA-256; MAGNETAR_DATA_DIR is read first.")
    dsub = data.add_subparsers(dest="action", metavar="ACTION")
    lst = dsub.add_parser("list", help="list registered files")
    lst.add_argument("prefix", nargs="?", default="", help="only names starting with this")
    for name, text in (("fetch", "download (or find locally) and verify files"),
                       ("path", "print the local path of files")):
        p = dsub.add_parser(name, help=text)
        p.add_argument("names", nargs="*", help="registered names (see 'datasets list')")
        p.add_argument("--all", action="store_true",
                       help="every registered file (prepare an offline data folder)")
    _give_every_leaf_a_config(sub, [])
    return parser


def _give_every_leaf_a_config(subparsers, path):
    """Give every leaf command a ``--config`` option.

    ``--config`` on every leaf command: commands without a config dataclass read a
    ``[command]`` table of their options (:mod:`magnetar._options`).
    """
    for name, leaf in subparsers.choices.items():
        nested = [a for a in leaf._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            _give_every_leaf_a_config(nested[0], [*path, name])
        elif not any("--config" in a.option_strings for a in leaf._actions):
            add_options_config(leaf, ".".join([*path, name]))


def _configure_logging(verbosity):
    level = logging.WARNING - 10 * min(verbosity + 1, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def _cmd_demo(args):
    from .demo import run_demo

    report = run_demo(args.out, progress=sys.stderr.isatty())
    print(json.dumps(report, indent=2, default=str))  # noqa: T201
    print(f"demo outputs written to {args.out}/")  # noqa: T201
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
        names = list(args.names)
        if getattr(args, "all", False):
            names = datasets.list_files()
        if not names:
            msg = "name the files to fetch (see 'magnetar datasets list') or give --all"
            raise ValidationError(msg)
        if args.action == "fetch":
            missing = [n for n in names if not datasets.is_available(n)]
            total = sum(datasets.registry()[n].size for n in missing if n in datasets.registry())
            print(f"{len(missing)} of {len(names)} files to download ({total / 1e6:.1f} MB)")  # noqa: T201
        for name in names:
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
        table = getattr(args, "options_section", None)
        if table is not None:
            given = {a.split("=", 1)[0] for a in (sys.argv[1:] if argv is None else argv)
                     if str(a).startswith("-")}
            apply_options_table(args, given)
        if args.command == "demo":
            code = _cmd_demo(args)
        elif getattr(args, "handler", None) is not None:
            code = args.handler(args, parser)
        else:
            code = _cmd_datasets(args, parser)
        if code == 0 and table is not None:
            write_options_table(args)
        return code
    except MagnetarError as err:
        print(f"magnetar: error: {err}", file=sys.stderr)  # noqa: T201
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
