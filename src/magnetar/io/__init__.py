"""Readers and writers: paths in, xarray out (and back)."""

from ._iaga2002 import merge_stations, read_iaga2002, read_stations, write_iaga2002

__all__ = ["merge_stations", "read_iaga2002", "read_stations", "write_iaga2002"]
