"""Window classifiers for linear magnetic anomalies.

Window classifiers for linear magnetic anomalies: the study's plain CNN, transfer
classifiers on torchvision backbones, and a classical structure-tensor coherence baseline.

Registered names: ``lma_cnn``, ``lma_coherence`` and one per backbone (``vgg16``,
``vgg19``, ``inception_v3``, ``mobilenet_v2``, ``mobilenet_v3``, ``alexnet``, ``resnet18``,
``resnet34``, ``resnet50``, ``resnet101``). Every model takes ``(batch, 1, H, W)`` windows
normalised to [0, 1] and returns one logit per window (sigmoid = probability of "linear").

Transfer classifiers, as in the study, put four dense layers (256, 128, 64, 1) on a
convolutional base. Single-channel windows are fed to the three-channel ImageNet backbones
by resizing to the backbone's input size (224 x 224; 299 x 299 for Inception v3; bilinear
with antialiasing), repeating the channel three times and applying the ImageNet mean and
standard deviation, which is what the pretrained filters expect of a grey image. The base
ends in global average pooling (torchvision's own pooling for each family), so the head's
size does not depend on the window size.

Weights: ``weights="imagenet"`` takes torchvision's default weights through its weights API
and the standard torch hub cache (``$TORCH_HOME/hub/checkpoints``); if they are neither
cached nor downloadable, :class:`WeightsUnavailableError` names the file and the folder to
put it in (never a silent random init). ``weights_path`` loads a local file: a torchvision
state dict, or a magnetar checkpoint of a classifier with the same backbone (domain
pretraining on the synthetic seafloor corpus, see ``magnetar.workflows.lma.run``).
``freeze=True`` (default for transfer) freezes the base and keeps it in eval mode.
"""

from __future__ import annotations

import math
import pickle
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from ..errors import MagnetarError, ValidationError
from ._registry import register_model

__all__ = [
    "BACKBONES", "LMACNN", "TextureClassifier", "TransferClassifier", "WeightsUnavailableError",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# name -> (torchvision builder name, input size)
BACKBONES = {
    "vgg16": ("vgg16", 224), "vgg19": ("vgg19", 224), "inception_v3": ("inception_v3", 299),
    "mobilenet_v2": ("mobilenet_v2", 224), "mobilenet_v3": ("mobilenet_v3_large", 224),
    "alexnet": ("alexnet", 224), "resnet18": ("resnet18", 224), "resnet34": ("resnet34", 224),
    "resnet50": ("resnet50", 224), "resnet101": ("resnet101", 224),
}


class WeightsUnavailableError(MagnetarError, FileNotFoundError):
    """Pretrained weights were asked for but are neither cached nor downloadable."""


def _dense_head(width, hidden=(256, 128, 64), dropout=0.5):
    layers, prev = [], width
    for i, h in enumerate(hidden):
        layers += [nn.Linear(prev, h), nn.ReLU(inplace=True)]
        if i == 0 and dropout:
            layers.append(nn.Dropout(dropout))
        prev = h
    layers.append(nn.Linear(prev, 1))
    return nn.Sequential(*layers)


class LMACNN(nn.Module):
    """The study's plain CNN.

    The study's plain CNN: four 3x3 convolutions (32, 32, 64, 64), two max-pools, three
    dropouts and four dense layers (256, 128, 64, 1).

    Departure from the study: adaptive average pooling to ``pooled x pooled`` before the
    dense layers (at 250 x 250 input the flattened map would need a 63 M-parameter first
    dense layer); any window size is accepted.
    """

    def __init__(self, *, dropout=0.25, pooled=8, batch_norm=False):
        super().__init__()

        def conv(c_in, c_out):
            norm = [nn.BatchNorm2d(c_out)] if batch_norm else []
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm), *norm,
                    nn.ReLU(inplace=True)]

        self.base = nn.Sequential(
            *conv(1, 32), *conv(32, 32), nn.MaxPool2d(2), nn.Dropout(dropout),
            *conv(32, 64), *conv(64, 64), nn.MaxPool2d(2), nn.Dropout(dropout),
            nn.AdaptiveAvgPool2d(pooled), nn.Flatten())
        self.head = _dense_head(64 * pooled * pooled, dropout=2 * dropout)
        self.frozen = False

    def features(self, x):
        """Return the pooled features of a batch of windows."""
        return self.base(x)

    def forward(self, x):
        """Return the logit of each window of a batch."""
        return self.head(self.base(x))[:, 0]


def _build_base(name):
    from torchvision import models

    tv_name, _ = BACKBONES[name]
    kwargs = {"aux_logits": False, "init_weights": False} if name == "inception_v3" else {}
    net = models.get_model(tv_name, weights=None, **kwargs)
    if name.startswith("resnet") or name == "inception_v3":
        width = net.fc.in_features
        net.fc = nn.Identity()
        return net, width, net
    if name.startswith("vgg") or name == "alexnet":
        width = 256 if name == "alexnet" else 512
    else:  # mobilenets
        width = next(m for m in net.classifier if isinstance(m, nn.Linear)).in_features
    return nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten()), width, net


def _cached_file(url):
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def imagenet_state_dict(name):
    """ImageNet weights of a backbone from the torch hub cache or its download address.

    Parameters
    ----------
    name : str
        torchvision backbone name (e.g. ``resnet18``).

    Returns
    -------
    dict
        The state dict (hash-checked).
    """
    from torchvision import models

    weights = models.get_model_weights(BACKBONES[name][0]).DEFAULT
    target = _cached_file(weights.url)
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (OSError, RuntimeError, ValueError) as err:
        msg = (f"ImageNet weights for {name} ({weights}) are not cached and could not be "
               f"downloaded ({type(err).__name__}: {err}). Download {weights.url} and place "
               f"it at {target}, or pass a local file with weights_path=")
        raise WeightsUnavailableError(msg) from None


class TransferClassifier(nn.Module):
    """A torchvision convolutional base plus the study's four dense layers."""

    def __init__(self, *, backbone="vgg19", weights=None, weights_path=None, freeze=True,
                 input_size=None, dropout=0.5):
        super().__init__()
        if backbone not in BACKBONES:
            msg = f"unknown backbone {backbone!r}; choose from {', '.join(BACKBONES)}"
            raise ValidationError(msg)
        if weights not in (None, "imagenet"):
            msg = f"weights must be None or 'imagenet', got {weights!r}"
            raise ValidationError(msg)
        self.backbone_name = backbone
        self.input_size = int(input_size or BACKBONES[backbone][1])
        base, width, net = _build_base(backbone)
        if weights == "imagenet":
            net.load_state_dict(_drop_classifier(imagenet_state_dict(backbone), net),
                                strict=False)
        self.base = base
        if weights_path is not None:
            self._load_local(weights_path, net)
        self.head = _dense_head(width, dropout=dropout)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.frozen = bool(freeze)
        if self.frozen:
            for p in self.base.parameters():
                p.requires_grad_(False)

    def _load_local(self, path, net):
        path = Path(path)
        if not path.is_file():
            msg = f"weights file {path} does not exist"
            raise WeightsUnavailableError(msg)
        try:  # weights only: a crafted pickle is refused before any of it runs
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, EOFError, KeyError, RuntimeError, ValueError,
                zipfile.BadZipFile) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
            msg = f"{path} is not a weights file (loaded as weights only): {first}"
            raise WeightsUnavailableError(msg) from None
        if isinstance(state, dict) and "model_state" in state:  # a magnetar checkpoint
            kwargs = state.get("config", {}).get("model_kwargs", {})
            if state.get("config", {}).get("model") != self.backbone_name and \
                    kwargs.get("backbone") != self.backbone_name:
                msg = (f"{path} is a checkpoint of {state.get('config', {}).get('model')!r}, "
                       f"not of backbone {self.backbone_name!r}")
                raise ValidationError(msg)
            base_state = {k[len("base."):]: v for k, v in state["model_state"].items()
                          if k.startswith("base.")}
            self.base.load_state_dict(base_state)
        else:
            missing, unexpected = net.load_state_dict(_drop_classifier(state, net),
                                                      strict=False)
            if len(unexpected) or len(missing) > 4:
                msg = (f"{path} does not fit backbone {self.backbone_name}: "
                       f"{len(missing)} missing and {len(unexpected)} unexpected keys")
                raise ValidationError(msg)

    def train(self, mode=True):
        """Set training mode, keeping a frozen backbone in evaluation mode."""
        super().train(mode)
        if self.frozen:
            self.base.eval()  # frozen batch-norm statistics stay the pretrained ones
        return self

    def prepare(self, x):
        """(B, 1, H, W) in [0, 1] -> resized, three-channel, ImageNet-normalised input."""
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        return (x.expand(-1, 3, -1, -1) - self.mean) / self.std

    def features(self, x):
        """Return the pooled features of a batch of windows."""
        return self.base(self.prepare(x))

    def forward(self, x):
        """Return the logit of each window of a batch."""
        return self.head(self.features(x))[:, 0]


def _drop_classifier(state, net):
    """Keep only the keys the (headless) torchvision net has."""
    own = net.state_dict()
    return {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}


@dataclass
class _Factory:
    backbone: str

    def __call__(self, **kwargs):
        return TransferClassifier(backbone=self.backbone, **kwargs)


class CoherenceClassifier(nn.Module):
    """Classical baseline: orientation coherence of the structure tensor, logistic head.

    Why written here: no library classifies windows by lineation coherence, and the study has
    no classical baseline to show what the networks add. Linear magnetic anomalies are
    stripes of one orientation over hundreds of km; seamounts, plateaus and continental
    texture have no dominant orientation. For each window: Gaussian smoothing (``sigma``
    nodes), central-difference gradients, the structure tensor J = [gx^2, gx gy; gx gy, gy^2]
    averaged over non-overlapping blocks of each of ``scales`` nodes, and per block the
    coherence (l1 - l2) / (l1 + l2) (Weickert 1999; 1 for perfect stripes, 0 for isotropic
    texture). Features: the mean over textured blocks (a block whose gradient energy is below
    1e-4 of the window's mean, e.g. inside a gap filled with the window mean, has no
    orientation and is left out) and the energy-weighted mean coherence at each scale
    (2 x len(scales)); the head is batch normalisation plus one logistic unit. The base has
    no parameters (``frozen``: its features are cached and only the head is trained).
    """

    def __init__(self, *, scales=(5, 15, 45), sigma=1.0):
        super().__init__()
        radius = max(1, int(math.ceil(3 * sigma)))
        g = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32)
                              / sigma) ** 2)
        self.register_buffer("gauss", (g / g.sum()).view(1, 1, 1, -1))
        self.register_buffer("diff", torch.tensor([-0.5, 0.0, 0.5]).view(1, 1, 1, 3))
        self.scales = tuple(int(k) for k in scales)
        self.head = nn.Sequential(nn.BatchNorm1d(2 * len(self.scales)),
                                  nn.Linear(2 * len(self.scales), 1))
        self.frozen = True

    def _smooth(self, x, kernel):
        pad = kernel.shape[-1] // 2
        x = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="replicate"), kernel)
        return F.conv2d(F.pad(x, (0, 0, pad, pad), mode="replicate"), kernel.transpose(-1, -2))

    def _gradients(self, x):
        """Central-difference gradients (gx, gy) of the Gaussian-smoothed windows."""
        x = self._smooth(x.float(), self.gauss)
        gx = F.conv2d(F.pad(x, (1, 1, 0, 0), mode="replicate"), self.diff)
        gy = F.conv2d(F.pad(x, (0, 0, 1, 1), mode="replicate"), self.diff.transpose(-1, -2))
        return gx, gy

    def features(self, x):
        return self._block_coherence(*self._gradients(x))

    def _block_coherence(self, gx, gy):
        """Mean and energy-weighted coherence of the structure tensor at each scale."""
        tensor = torch.cat([gx * gx, gx * gy, gy * gy], dim=1)
        out = []
        for k in self.scales:
            k = min(k, *gx.shape[-2:])  # small windows: one block at most
            a, b, c = F.avg_pool2d(tensor, k, stride=k).unbind(1)
            trace = a + c
            spread = torch.sqrt((a - c) ** 2 + 4 * b * b)
            coherence = spread / trace.clamp_min(1e-12)
            # blocks without texture (a gap filled with the window mean) have no
            # orientation: left out of the mean instead of counting as incoherent
            textured = trace > 1e-4 * trace.mean(dim=(-2, -1), keepdim=True)
            count = textured.sum(dim=(-2, -1)).clamp_min(1)
            out += [(coherence * textured).sum(dim=(-2, -1)) / count,
                    spread.sum(dim=(-2, -1)) / trace.sum(dim=(-2, -1)).clamp_min(1e-12)]
        return torch.stack(out, dim=1)

    def forward(self, x):
        return self.head(self.features(x))[:, 0]


class TextureClassifier(CoherenceClassifier):
    """Coherence plus spectral and amplitude-shape features of a window, logistic head.

    Why written here: no library has it; it is the classical model meant for real grids.
    Orientation coherence alone calls continental texture linear (docs/lma.md: smooth,
    elongated continental anomalies are as coherent as spreading fabric at 2 arc-minutes).
    Seafloor spreading differs in ways the physics predicts: one trend over the whole window
    (a ridge system), power concentrated in one azimuth at the wavelengths of the polarity
    sequence, a power spectrum that falls steeply with wavenumber (sources 4-10 km below
    the sensor, no shallow bodies), and near-Gaussian values and gradients (no isolated
    intense bodies: plutons, dykes and volcanic centres give heavy tails). Features, all
    invariant to the window's scaling: the coherence features of
    :class:`CoherenceClassifier`; the energy-weighted orientation concentration of the whole
    window; the doubled-angle concentration of the Hann-tapered power spectrum in two bands
    (4-12 and 12-40 nodes' wavelength); the log-log slope of the radially averaged spectrum
    over 3-60 nodes; the excess kurtosis of the values and of the gradient magnitude; and the
    share of gradient energy in the strongest orientation sector (+-15 degrees) and in the
    strongest sector 30 degrees or more away from it.
    """

    def __init__(self, *, scales=(5, 15, 45), sigma=1.0):
        super().__init__(scales=scales, sigma=sigma)
        n = 2 * len(self.scales) + 8
        self.head = nn.Sequential(nn.BatchNorm1d(n), nn.Linear(n, 1))

    @staticmethod
    def _spectral(x):
        """Return the band concentrations and the spectral slope of (B, 1, H, W) windows."""
        b, _, h, w = x.shape
        win = (torch.hann_window(h, periodic=False, device=x.device)[:, None]
               * torch.hann_window(w, periodic=False, device=x.device)[None, :])
        z = (x[:, 0] - x[:, 0].mean(dim=(-2, -1), keepdim=True)) * win
        power = torch.fft.fft2(z).abs() ** 2
        ky = torch.fft.fftfreq(h, device=x.device)[:, None].expand(h, w)
        kx = torch.fft.fftfreq(w, device=x.device)[None, :].expand(h, w)
        k = torch.hypot(kx, ky)
        phase = torch.exp(2j * torch.atan2(ky, kx))
        out = []
        for lo, hi in ((1 / 12, 1 / 4), (1 / 40, 1 / 12)):
            band = ((k >= lo) & (k < hi)).float()
            p = power * band
            out.append((p * phase).sum(dim=(-2, -1)).abs()
                       / p.sum(dim=(-2, -1)).clamp_min(1e-12))
        edges = torch.logspace(math.log10(1 / 60), math.log10(1 / 3), 9, device=x.device)
        logk, logp = [], []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            band = ((k >= lo) & (k < hi)).float()
            mean = (power * band).sum(dim=(-2, -1)) / band.sum().clamp_min(1)
            logk.append(torch.log((lo * hi).sqrt()).expand(b))
            logp.append(torch.log(mean.clamp_min(1e-20)))
        logk, logp = torch.stack(logk, 1), torch.stack(logp, 1)
        dk = logk - logk.mean(1, keepdim=True)
        slope = (dk * (logp - logp.mean(1, keepdim=True))).sum(1) / (dk * dk).sum(1)
        return [*out, slope]

    @staticmethod
    def _kurtosis(v):
        v = v.flatten(1)
        d = v - v.mean(1, keepdim=True)
        var = (d * d).mean(1).clamp_min(1e-12)
        return (d**4).mean(1) / var**2 - 3.0

    def features(self, x):
        """Return the (batch, 2 len(scales) + 8) feature matrix of (B, 1, H, W) windows."""
        x = x.float()
        gx, gy = self._gradients(x)  # one smoothing and differencing for every feature
        coherence = self._block_coherence(gx, gy)
        a, b, c = (gx * gx).sum(dim=(-3, -2, -1)), (gx * gy).sum(dim=(-3, -2, -1)), (
            gy * gy).sum(dim=(-3, -2, -1))
        whole = torch.sqrt((a - c) ** 2 + 4 * b * b) / (a + c).clamp_min(1e-12)
        energy = (gx * gx + gy * gy).flatten(1)
        angle = torch.remainder(torch.atan2(gy, gx).flatten(1), math.pi)
        sectors = torch.stack([(energy * ((angle >= lo) & (angle < lo + math.pi / 12)))
                               .sum(1) for lo in torch.arange(12) * math.pi / 12], 1)
        share = sectors / energy.sum(1, keepdim=True).clamp_min(1e-12)
        # the strongest +-15 degree sector (two adjacent 15-degree bins) and the strongest
        # sector at least 30 degrees away from it
        pair = share + share.roll(-1, dims=1)
        main = pair.argmax(1)
        offsets = (torch.arange(12, device=x.device)[None, :] - main[:, None]) % 12
        away = torch.where((offsets >= 3) & (offsets <= 9), pair, torch.zeros_like(pair))
        extra = [whole, *self._spectral(x), self._kurtosis(x),
                 self._kurtosis(torch.sqrt(energy)), pair.max(1).values, away.max(1).values]
        return torch.cat([coherence, torch.stack(extra, 1)], dim=1)


register_model("lma_texture")(partial(TextureClassifier))
register_model("lma_cnn")(partial(LMACNN))
register_model("lma_coherence")(partial(CoherenceClassifier))
for _name in BACKBONES:
    register_model(_name)(_Factory(_name))
