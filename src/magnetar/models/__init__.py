"""Neural-network models (PyTorch) behind a registry: ``create_model``, ``list_models``."""

from ._registry import create_model, list_models, register_model
from .autoencoder import ConvAEConfig, ConvMaskedAE, DenseAE, DenseAEConfig
from .classifiers import BACKBONES, LMACNN, TransferClassifier, WeightsUnavailableError
from .unet import UNet, UNetConfig

__all__ = [
    "BACKBONES",
    "LMACNN",
    "TransferClassifier",
    "WeightsUnavailableError",
    "ConvAEConfig",
    "ConvMaskedAE",
    "DenseAE",
    "DenseAEConfig",
    "UNet",
    "UNetConfig",
    "create_model",
    "list_models",
    "register_model",
]
