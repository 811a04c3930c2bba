"""``--config`` for commands whose options are their whole configuration.

Commands with a workflow config dataclass (``clean``, ``lma train``, ``iar train``, ...)
load it with :func:`magnetar.config.load_config`. The others (``iar spectrogram``,
``lma predict``, ``crowdmag denoise``, ``datasets fetch``, ...) are configured by their
options alone; for them ``--config FILE`` reads a ``[<command>]`` table (``[iar.spectrogram]``,
keys as the options' names, ``-`` or ``_``) whose values stand in for options not given on
the command line, and each run writes the options it used beside its outputs (``--out`` a
folder: ``options.toml`` in it; a file: ``NAME.options.toml`` beside it), which the same
command reads back. Unknown keys, positional arguments and values of the wrong type are
refused, naming the key and the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import __version__
from ._utils import write_text_atomic
from .config import _read_toml, _toml_value
from .errors import ConfigError

__all__ = ["add_options_config", "apply_options_table", "write_options_table"]

_SKIP = {"help", "config", "verbose", "version", "command", "action", "handler"}


def add_options_config(parser, section):
    """Give ``parser`` (a leaf command) ``--config`` reading the ``[section]`` table."""
    parser.add_argument("--config", help=f"TOML file with a [{section}] table of these "
                                         "options (the options.toml an earlier run wrote "
                                         "reads back); options given here override it")
    parser.set_defaults(options_section=section, options_parser=parser)
    return parser


def _options(parser):
    return {a.dest: a for a in parser._actions  # argparse keeps no public list of actions
            if a.dest not in _SKIP and not a.dest.startswith("options_")}


def _value(action, value, key, path):
    """Return a TOML value as the option would have parsed it."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        if not isinstance(value, bool):
            msg = f"{path}: {key} must be true or false, got {value!r}"
            raise ConfigError(msg)
        return value
    out = value
    if action.type is not None:
        # the text the option would have been given: a TOML list is a comma-separated
        # option (e.g. --band 0.5,10), a number its digits
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        try:
            out = action.type(text)
        except (TypeError, ValueError) as err:
            msg = f"{path}: {key} = {value!r} is not valid for {action.option_strings[0]}"
            raise ConfigError(msg) from err
    if action.choices is not None and out not in action.choices:
        msg = f"{path}: {key} must be one of {', '.join(map(str, action.choices))}; got {out!r}"
        raise ConfigError(msg)
    return out


def apply_options_table(args, argv_given):
    """Fill the options not given on the command line from ``args.config``'s table."""
    if getattr(args, "config", None) is None:
        return args
    path = Path(args.config)
    section = args.options_section
    data = _read_toml(path)
    table = data
    for part in section.split("."):
        if not isinstance(table, dict) or part not in table:
            found = ", ".join(f"[{k}]" for k in data) or "nothing"
            msg = f"{path}: no [{section}] table (it has {found})"
            raise ConfigError(msg)
        table = table[part]
    if not isinstance(table, dict):
        msg = f"{path}: [{section}] must be a table"
        raise ConfigError(msg)
    options = _options(args.options_parser)
    for key, value in table.items():
        dest = key.replace("-", "_")
        action = options.get(dest)
        if action is None:
            known = ", ".join(sorted(d for d, a in options.items() if a.option_strings))
            msg = f"{path}: unknown option '{key}' in [{section}]; known: {known}"
            raise ConfigError(msg)
        if not action.option_strings:
            msg = (f"{path}: '{key}' is a positional argument of the command; give it on "
                   "the command line")
            raise ConfigError(msg)
        if any(flag in argv_given for flag in action.option_strings):
            continue  # the command line wins
        setattr(args, dest, _value(action, value, key, path))
    return args


def write_options_table(args):
    """Write the options a command ran with beside its outputs; returns the path or None."""
    out = getattr(args, "out", None)
    if out is None:
        return None
    out = Path(out)
    if out.is_dir():
        target = out / "options.toml"
    elif out.parent.is_dir():
        target = out.with_name(f"{out.stem}.options.toml")
    else:
        return None
    lines = [f"# Options of this run (magnetar {__version__}); re-run with --config "
             f"{target.name}", f"[{args.options_section}]"]
    for dest, action in _options(args.options_parser).items():
        value = getattr(args, dest, None)
        if not action.option_strings or value is None or dest == "out":
            continue
        if isinstance(value, Path):
            value = str(value)
        lines.append(f"{dest} = {_toml_value(value)}")
    return write_text_atomic(target, "\n".join(lines) + "\n")
