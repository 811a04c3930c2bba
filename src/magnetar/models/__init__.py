"""Neural-network models (PyTorch) behind a registry: ``create_model``, ``list_models``."""

from ._registry import create_model, list_models, register_model
from .autoencoder import ConvAEConfig, ConvMaskedAE, DenseAE, DenseAEConfig
from .unet import UNet, UNetConfig

__all__ = [
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
