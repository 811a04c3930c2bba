"""Anomaly-grid preprocessing: outliers, regridding, SVD denoising, coherence diffusion.

The published marine workflow's steps, in order: :func:`iqr_outliers`, :func:`regrid` /
:func:`fill_gaps` (with :func:`suggest_spacing`), :func:`svd_denoise`,
:func:`coherence_diffusion`. ``magnetar.pipelines.grid_preprocessing`` chains them.
"""

from ._diffusion import DiffusionConfig, coherence_diffusion, diffusion_reach
from ._inpaint import INPAINT_METHODS, inpaint
from ._preprocess import fill_gaps, iqr_outliers, regrid, suggest_spacing, svd_denoise

__all__ = [
    "INPAINT_METHODS",
    "DiffusionConfig",
    "coherence_diffusion",
    "diffusion_reach",
    "fill_gaps",
    "inpaint",
    "iqr_outliers",
    "regrid",
    "suggest_spacing",
    "svd_denoise",
]
