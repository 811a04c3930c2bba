"""Neural-network models (PyTorch) behind a registry: ``create_model``, ``list_models``."""

from ._registry import create_model, list_models, register_model
from .autoencoder import ConvAEConfig, ConvMaskedAE, DenseAE, DenseAEConfig

__all__ = [
    "ConvAEConfig",
    "ConvMaskedAE",
    "DenseAE",
    "DenseAEConfig",
    "create_model",
    "list_models",
    "register_model",
]
