"""Anomaly-grid preprocessing: outliers, regridding, SVD denoising, coherence diffusion.

The published marine workflow's steps, in order: :func:`iqr_outliers`, :func:`regrid` /
:func:`fill_gaps` (with :func:`suggest_spacing`), :func:`svd_denoise`,
:func:`coherence_diffusion`. ``magnetar.workflows.lma.preprocess`` chains them.
Gap filling of tiles: :func:`inpaint`, :func:`thin_plate_fill`. Real continental surveys
as grids: :func:`survey_grid`.
"""

from ._diffusion import DiffusionConfig, coherence_diffusion, diffusion_reach
from ._inpaint import INPAINT_METHODS, inpaint
from ._preprocess import fill_gaps, iqr_outliers, regrid, suggest_spacing, svd_denoise
from ._surveys import SURVEYS, survey_grid
from ._thin_plate import thin_plate_fill, thin_plate_solve
from ._windows import (
    attach_labels,
    calibrate_windows,
    crop_map,
    iter_window_batches,
    normalise_windows,
    pad_edges,
    read_window_labels,
    region_map,
    sliding_windows,
    split_windows,
    write_window_labels,
)

__all__ = [
    "attach_labels",
    "calibrate_windows",
    "crop_map",
    "iter_window_batches",
    "normalise_windows",
    "pad_edges",
    "read_window_labels",
    "region_map",
    "sliding_windows",
    "split_windows",
    "write_window_labels",
    "INPAINT_METHODS",
    "DiffusionConfig",
    "coherence_diffusion",
    "diffusion_reach",
    "fill_gaps",
    "inpaint",
    "iqr_outliers",
    "regrid",
    "suggest_spacing",
    "SURVEYS",
    "survey_grid",
    "svd_denoise",
    "thin_plate_fill",
    "thin_plate_solve",
]
