"""Configuration dataclasses: load from TOML, override, validate, save beside outputs.

Each workflow has one frozen dataclass. The CLI loads a TOML file (``--config``), applies flag
overrides, validates (unknown keys and wrong types are errors naming the key and the valid
choices) and writes the resolved configuration next to every output, so a run can be
reproduced from its outputs alone.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import types
import typing
from pathlib import Path

from ._utils import write_text_atomic
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "check_table",
    "config_from_dict",
    "config_to_toml",
    "load_config",
    "options_given",
    "save_config",
]


def _coerce(value, annotation, *, key, source):
    """Coerce a TOML value to the field's annotated type or raise ConfigError."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        nested = None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key=key, source=source)
            except ConfigError as err:
                if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                    nested = err  # the table's own problem says more than the union
                continue
        if nested is not None:
            raise nested
        msg = f"{source}: option '{key}' = {value!r} does not fit type {annotation}"
        raise ConfigError(msg)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            msg = f"{source}: option '{key}' must be a list, got {value!r}"
            raise ConfigError(msg)
        inner = args[0] if args else str
        return tuple(_coerce(v, inner, key=key, source=source) for v in value)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        if isinstance(value, annotation):
            return value
        if isinstance(value, dict):  # a nested table: checked key by key
            return config_from_dict(annotation, value, source=f"{source}, table '{key}'")
        msg = f"{source}: option '{key}' must be a table of {annotation.__name__} options"
        raise ConfigError(msg)
    return _coerce_scalar(value, annotation, key=key, source=source)


def _coerce_scalar(value, annotation, *, key, source):
    """Coerce a TOML value to bool, int, float or str, or raise ConfigError."""
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif annotation in (int, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                annotation is float or isinstance(value, int)):
            return annotation(value)
        if isinstance(value, str):
            try:
                return annotation(value)
            except ValueError:
                pass
    elif annotation is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - only the types above are used in configs
        return value
    msg = f"{source}: option '{key}' = {value!r} is not a valid {annotation.__name__}"
    raise ConfigError(msg)


def options_given(args, names):
    """Return the command-line options among ``names`` that were given.

    The command-line options among ``names`` that were given (not None), as a dict: what
    overrides a config's defaults or its file.
    """
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def check_table(cls, values, *, key):
    """Check a sub-configuration table against its dataclass.

    Check a sub-configuration held as a plain dict (e.g. a workflow's ``train`` table)
    against the dataclass it will build: unknown keys and wrong types raise ConfigError
    naming ``key`` and the option. Returns the built dataclass.
    """
    if not isinstance(values, dict):
        msg = f"option '{key}' must be a table of {cls.__name__} options, got {values!r}"
        raise ConfigError(msg)
    return config_from_dict(cls, values, source=f"table '{key}'")


def config_from_dict(cls, values, *, source="configuration"):
    """Build a config dataclass from a mapping, rejecting unknown keys and bad types.

    Parameters
    ----------
    cls : type
        A dataclass type.
    values : mapping
        Option names and values (strings are converted, as from command-line flags).
    source : str
        Where the values came from, for error messages.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        msg = (
            f"{source}: unknown option(s) {', '.join(unknown)} for {cls.__name__}; "
            f"valid options are: {', '.join(sorted(fields))}"
        )
        raise ConfigError(msg)
    kwargs = {
        key: _coerce(value, hints[key], key=key, source=source) for key, value in values.items()
    }
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        if isinstance(err, ConfigError):
            raise
        msg = f"{source}: {err}"
        raise ConfigError(msg) from err


def _read_toml(path):
    """Return the TOML mapping of ``path``; ConfigError naming it for anything unreadable."""
    if path.is_dir():
        msg = f"configuration {path} is a folder, not a TOML file"
        raise ConfigError(msg)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError as err:
        msg = f"configuration file not found: {path}"
        raise ConfigError(msg) from err
    except UnicodeDecodeError as err:
        msg = f"{path}: not UTF-8 text (byte {err.start}): not a TOML configuration"
        raise ConfigError(msg) from None
    except OSError as err:
        msg = f"{path}: cannot read ({err.strerror})"
        raise ConfigError(msg) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = f"{path}: not valid TOML: {err}"
        raise ConfigError(msg) from None


def load_config(cls, path=None, *, overrides=None, section=None):
    """Load a config dataclass from a TOML file (optional) and apply overrides.

    Parameters
    ----------
    cls : type
        The config dataclass.
    path : str or path-like, optional
        A TOML file. With ``section``, only that table is read (missing is fine).
    overrides : mapping, optional
        Values that win over the file (``None`` values are ignored).
    section : str, optional
        Name of a TOML table holding this config.
    """
    values = {}
    source = "overrides"
    if path is not None:
        path = Path(path)
        source = str(path)
        data = _read_toml(path)
        if section is not None:
            if data and section not in data:
                found = ", ".join(f"[{k}]" if isinstance(v, dict) else k
                                  for k, v in data.items())
                msg = f"{path}: no [{section}] table (it has {found})"
                raise ConfigError(msg)
            data = data.get(section, {})
            if not isinstance(data, dict):
                msg = f"{path}: [{section}] must be a table"
                raise ConfigError(msg)
        values.update(data)
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = value
    return config_from_dict(cls, values, source=source)


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if math.isnan(value):
            return "nan"
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        items = (f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    msg = f"cannot write {value!r} to TOML"
    raise ConfigError(msg)


def config_to_toml(config, *, section=None, header=None):
    """Render a config dataclass as TOML text (``None`` fields are left out)."""
    lines = []
    if header:
        lines.extend(f"# {line}" for line in header.splitlines())
    if section:
        lines.append(f"[{section}]")
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value is None:
            continue
        lines.append(f"{field.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save_config(config, path, *, section=None, header=None):
    """Write the resolved configuration atomically as TOML; returns the path."""
    return write_text_atomic(path, config_to_toml(config, section=section, header=header))
