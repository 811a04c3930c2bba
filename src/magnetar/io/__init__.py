"""Readers and writers: paths in, xarray out (and back)."""

from ._crowdmag import read_crowdmag
from ._grids import (
    check_grid,
    grid_from_table,
    read_grid,
    read_mgd77,
    read_png_tile,
    read_points,
    write_grid,
    write_png_tile,
)
from ._iaga2002 import (
    merge_stations,
    read_iaga2002,
    read_magnetogram,
    read_stations,
    write_iaga2002,
)
from ._imagcdf import read_imagcdf, write_imagcdf
from ._picks import grid_agreement, pick_agreement, read_emag2v3_tile, read_picks
from ._schumann import read_schumann_spectra
from ._spectra import read_spectrogram
from ._spectrogram_png import read_label_mask, read_spectrogram_png, write_spectrogram_png
from ._timeseries import read_timeseries, timeseries_from_array, write_mseed

__all__ = [
    "check_grid",
    "grid_agreement",
    "grid_from_table",
    "merge_stations",
    "pick_agreement",
    "read_crowdmag",
    "read_emag2v3_tile",
    "read_grid",
    "read_iaga2002",
    "read_imagcdf",
    "read_magnetogram",
    "read_label_mask",
    "read_mgd77",
    "read_picks",
    "read_png_tile",
    "read_points",
    "read_schumann_spectra",
    "read_spectrogram",
    "read_spectrogram_png",
    "read_stations",
    "read_timeseries",
    "timeseries_from_array",
    "write_mseed",
    "write_grid",
    "write_iaga2002",
    "write_imagcdf",
    "write_png_tile",
    "write_spectrogram_png",
]
