"""Denoising autoencoders for sparse, noisy anomaly tiles.

Input convention for both models: a float tensor ``(N, 2, H, W)``; channel 0 holds the
normalised tile with unknown pixels set to 0, channel 1 the mask (1 known, 0 unknown).
Output: ``(N, 1, H, W)``, the normalised reconstruction of every pixel.

- :class:`DenseAE`: the published CrowdMag autoencoder (tile flattened, one or two hidden
  layers, an encoding of ``encoding`` units, mirrored decoder). It sees channel 0 only
  unless ``use_mask`` is set.
- :class:`ConvMaskedAE`: a convolutional encoder-decoder with skip connections that takes
  the mask as a second channel (partial observations are its natural input). With
  ``prior_scales`` it also computes, inside the network, normalised-convolution estimates
  of the field (Gaussian-weighted means of the known pixels, ``G*(v m) / G*m``, Knutsson &
  Westin 1993) and their certainties ``G*m`` at those scales in pixels, feeds them as extra
  channels and learns the residual on top of the finest one: the gap-filling prior a
  classical interpolator would use, which the convolutions then correct. With
  ``thin_plate`` it also solves, inside the network and without gradients, the gridded
  thin-plate smoothing spline (:func:`magnetar.grids.thin_plate_solve`) at those
  smoothing weights, feeds each as a channel and learns the residual on top of the first:
  the strongest classical gap filler, which the network then only has to correct.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from ..errors import ValidationError
from ..grids import thin_plate_solve
from ._registry import register_model

__all__ = ["ConvAEConfig", "ConvMaskedAE", "DenseAE", "DenseAEConfig"]


@dataclass
class DenseAEConfig:
    """Published dense autoencoder.

    tile : int
        Tile side in pixels (input H = W = tile).
    hidden : tuple of int
        Hidden layer widths between the input and the encoding (one or two layers).
    encoding : int
        Encoding dimension (published: 50).
    dropout : float
    use_mask : bool
        Also feed the mask (doubles the input width).
    """

    tile: int = 32
    hidden: tuple[int, ...] = (512,)
    encoding: int = 50
    dropout: float = 0.0
    use_mask: bool = False

    def __post_init__(self):
        if self.tile < 4 or self.encoding < 1 or not 1 <= len(self.hidden) <= 3:
            msg = (f"need tile >= 4, encoding >= 1 and 1-3 hidden layers; got tile={self.tile}, "
                   f"encoding={self.encoding}, hidden={self.hidden}")
            raise ValidationError(msg)


class DenseAE(nn.Module):
    """Fully connected autoencoder over a flattened tile (see :class:`DenseAEConfig`)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        n = config.tile * config.tile
        widths = [n * (2 if config.use_mask else 1), *config.hidden]
        layers = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(config.dropout)]
        self.encoder = nn.Sequential(*layers, nn.Linear(widths[-1], config.encoding), nn.ReLU())
        back = [config.encoding, *reversed(config.hidden)]
        layers = []
        for a, b in zip(back[:-1], back[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU(), nn.Dropout(config.dropout)]
        self.decoder = nn.Sequential(*layers, nn.Linear(back[-1], n))

    def forward(self, x):
        """(N, 2, H, W) -> (N, 1, H, W)."""
        _check_input(x, self.config.tile)
        inp = x if self.config.use_mask else x[:, :1]
        z = self.encoder(inp.flatten(1))
        return self.decoder(z).view(x.shape[0], 1, x.shape[2], x.shape[3])


@dataclass
class ConvAEConfig:
    """Convolutional masked autoencoder.

    base : int
        Channels of the first level (doubled at each level down).
    depth : int
        Number of down-sampling levels; inputs are padded to a multiple of 2**depth and
        cropped back.
    dropout : float
    prior_scales : tuple of float
        Gaussian widths (pixels) of the normalised-convolution prior channels; empty: none.
    thin_plate : tuple of float
        Smoothing weights of thin-plate spline prior channels; the output is a residual on
        the first (instead of on the finest normalised-convolution prior). Empty: none.
    """

    base: int = 32
    depth: int = 3
    dropout: float = 0.0
    prior_scales: tuple[float, ...] = ()
    thin_plate: tuple[float, ...] = ()

    def __post_init__(self):
        self.prior_scales = tuple(float(s) for s in self.prior_scales)
        self.thin_plate = tuple(float(s) for s in self.thin_plate)
        if any(s <= 0 for s in self.thin_plate):
            msg = f"thin_plate smoothing weights must be positive, got {self.thin_plate}"
            raise ValidationError(msg)
        if self.base < 1 or not 1 <= self.depth <= 6:
            msg = f"need base >= 1 and 1 <= depth <= 6; got base={self.base}, depth={self.depth}"
            raise ValidationError(msg)
        if any(s <= 0 for s in self.prior_scales):
            msg = f"prior_scales must be positive (pixels), got {self.prior_scales}"
            raise ValidationError(msg)


def _block(a, b, dropout):
    return nn.Sequential(
        nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
        nn.Conv2d(b, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
        nn.Dropout2d(dropout) if dropout else nn.Identity(),
    )


class ConvMaskedAE(nn.Module):
    """Encoder-decoder with skips over (values, mask) channels (see :class:`ConvAEConfig`)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        widths = [config.base * 2**i for i in range(config.depth + 1)]
        for i, sigma in enumerate(config.prior_scales):
            self.register_buffer(f"_kernel{i}", _gaussian_kernel(sigma), persistent=False)
        channels = 2 + 2 * len(config.prior_scales) + len(config.thin_plate)
        self.down = nn.ModuleList([_block(channels, widths[0], config.dropout)] + [
            _block(widths[i], widths[i + 1], config.dropout) for i in range(config.depth)])
        self.up = nn.ModuleList([
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
            for i in reversed(range(config.depth))])
        self.merge = nn.ModuleList([
            _block(2 * widths[i], widths[i], config.dropout)
            for i in reversed(range(config.depth))])
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x):
        """(N, 2, H, W) -> (N, 1, H, W); any H, W."""
        _check_input(x, None)
        h, w = x.shape[-2:]
        residual = 0.0
        extra = []
        if self.config.prior_scales:
            priors, certainties = self._priors(x)
            residual = priors[0]
            extra += [*priors, *certainties]
        if self.config.thin_plate:
            splines = self._thin_plate(x)
            residual = splines[0]
            extra += splines
        if extra:
            x = torch.cat([x, *extra], dim=1)
        m = 2**self.config.depth
        x = F.pad(x, (0, (-w) % m, 0, (-h) % m))
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)[..., :h, :w] + residual

    def _priors(self, x):
        values, known = x[:, :1] * x[:, 1:2], x[:, 1:2]
        priors, certainties = [], []
        for i in range(len(self.config.prior_scales)):
            kernel = getattr(self, f"_kernel{i}").to(x.dtype)
            pad = kernel.shape[-1] // 2
            num = F.conv2d(F.pad(values, (pad,) * 4), kernel)
            den = F.conv2d(F.pad(known, (pad,) * 4), kernel)
            priors.append(num / den.clamp(min=1e-3))
            certainties.append(den)
        return priors, certainties


    @torch.no_grad()
    def _thin_plate(self, x):
        values, known = (x[:, :1] * x[:, 1:2]).float(), x[:, 1:2].float()
        return [thin_plate_solve(values, known, s, max_iter=200, tol=1e-4).to(x.dtype)
                for s in self.config.thin_plate]


def _gaussian_kernel(sigma):
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    k = torch.outer(g, g)
    return (k / k.max())[None, None]


def _check_input(x, tile):
    if x.ndim != 4 or x.shape[1] != 2:
        msg = f"expected a (N, 2, H, W) tensor of values and mask, got {tuple(x.shape)}"
        raise ValidationError(msg)
    if tile is not None and x.shape[2:] != (tile, tile):
        msg = f"this model takes {tile}x{tile} tiles, got {tuple(x.shape[2:])}"
        raise ValidationError(msg)


@register_model("dense_ae")
def dense_ae(**kwargs):
    """Return the published dense autoencoder (:class:`DenseAEConfig` fields as keywords).

    Parameters
    ----------
    **kwargs
        :class:`DenseAEConfig` fields.

    Returns
    -------
    DenseAE
        The model.
    """
    return DenseAE(DenseAEConfig(**kwargs))


@register_model("conv_masked_ae")
def conv_masked_ae(**kwargs):
    """Convolutional masked autoencoder (:class:`ConvAEConfig` fields as keywords).

    Parameters
    ----------
    **kwargs
        :class:`ConvAEConfig` fields.

    Returns
    -------
    ConvMaskedAE
        The model.
    """
    return ConvMaskedAE(ConvAEConfig(**kwargs))
