"""U-Net for segmenting IAR fringes in spectrograms (Ronneberger et al. 2015).

As in Hodnett et al. (2024): ``depth`` levels of two 3x3 convolutions (batch norm, ReLU),
max-pooling down and transposed convolutions up with skip connections, dropout, a 1x1
head giving one logit per pixel. Unlike the published code it runs at native resolution:
inputs whose sides are not multiples of ``2**depth`` are padded (reflect) and the output
is cropped back, so a (389, 432) night spectrogram gives a (389, 432) mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from ..errors import ValidationError
from ._registry import register_model

__all__ = ["INITIALISERS", "UNet", "UNetConfig"]

INITIALISERS = ("he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal",
                "lecun_uniform", "orthogonal")


@dataclass
class UNetConfig:
    """U-Net options.

    depth : int
        Down-sampling levels (published: 4).
    base : int
        Channels of the first level, doubled per level (published: 64).
    dropout : float
        Dropout after each level's convolutions.
    init : str
        Weight initialiser of the convolutions, one of :data:`INITIALISERS`.
    in_channels : int
    """

    depth: int = 4
    base: int = 64
    dropout: float = 0.1
    init: str = "he_normal"
    in_channels: int = 1

    def __post_init__(self):
        if not 1 <= self.depth <= 6 or self.base < 1 or self.in_channels < 1:
            msg = (f"need 1 <= depth <= 6, base >= 1 and in_channels >= 1; got depth="
                   f"{self.depth}, base={self.base}, in_channels={self.in_channels}")
            raise ValidationError(msg)
        if self.init not in INITIALISERS:
            msg = f"init must be one of {', '.join(INITIALISERS)}; got {self.init!r}"
            raise ValidationError(msg)
        if not 0 <= self.dropout < 1:
            msg = f"dropout must be in [0, 1), got {self.dropout}"
            raise ValidationError(msg)


def _block(a, b, dropout):
    return nn.Sequential(
        nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
        nn.Conv2d(b, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
        nn.Dropout2d(dropout) if dropout else nn.Identity(),
    )


def _initialise(module, name):
    if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return
    w = module.weight
    if name == "orthogonal":
        nn.init.orthogonal_(w)
    else:
        kind, dist = name.split("_")
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(w)
        fan = {"he": fan_in, "lecun": fan_in, "glorot": (fan_in + fan_out) / 2}[kind]
        gain = 2.0 if kind == "he" else 1.0
        std = (gain / fan) ** 0.5
        with torch.no_grad():
            if dist == "normal":
                nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)
            else:
                bound = (3 * gain / fan) ** 0.5
                w.uniform_(-bound, bound)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


class UNet(nn.Module):
    """(N, C, H, W) -> (N, 1, H, W) logits, any H and W (see :class:`UNetConfig`)."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        widths = [config.base * 2**i for i in range(config.depth + 1)]
        self.down = nn.ModuleList([_block(config.in_channels, widths[0], config.dropout)] + [
            _block(widths[i], widths[i + 1], config.dropout) for i in range(config.depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                 for i in reversed(range(config.depth))])
        self.merge = nn.ModuleList([_block(2 * widths[i], widths[i], config.dropout)
                                    for i in reversed(range(config.depth))])
        self.head = nn.Conv2d(widths[0], 1, 1)
        self.apply(lambda m: _initialise(m, config.init))

    def forward(self, x):
        """Return the fringe logits of a batch of spectrograms."""
        if x.ndim != 4 or x.shape[1] != self.config.in_channels:
            msg = f"expected (N, {self.config.in_channels}, H, W), got {tuple(x.shape)}"
            raise ValidationError(msg)
        h, w = x.shape[-2:]
        m = 2**self.config.depth
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips[:-1]), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)[..., :h, :w]


@register_model("unet")
def unet(**kwargs):
    """U-Net segmentation model (:class:`UNetConfig` fields as keywords).

    Parameters
    ----------
    **kwargs
        :class:`UNetConfig` fields.

    Returns
    -------
    UNet
        The model.
    """
    return UNet(UNetConfig(**kwargs))
