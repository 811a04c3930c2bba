"""Training utilities: tiles and corruption, metrics, the training loop, search.

``data`` and ``metrics`` need only NumPy/SciPy; ``loop`` and ``search`` need torch
(``pip install 'magnetar[ml]'``) and are imported from their modules.
"""

from .data import (
    MASK_KINDS,
    corrupt,
    cut_tiles,
    denormalise,
    normalise,
    resample_grid,
    split_columns,
)
from .metrics import (
    classification_metrics,
    kl_divergence,
    mae,
    psnr,
    reconstruction_metrics,
    rmse,
    segmentation_metrics,
    ssim,
    tolerant_segmentation_metrics,
    wasserstein,
)

__all__ = [
    "MASK_KINDS",
    "classification_metrics",
    "corrupt",
    "cut_tiles",
    "denormalise",
    "kl_divergence",
    "mae",
    "normalise",
    "psnr",
    "reconstruction_metrics",
    "resample_grid",
    "rmse",
    "segmentation_metrics",
    "split_columns",
    "ssim",
    "tolerant_segmentation_metrics",
    "wasserstein",
]
