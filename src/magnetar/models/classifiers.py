"""Window classifiers for linear magnetic anomalies: the study's plain CNN and transfer
classifiers on torchvision backbones.

Registered names: ``lma_cnn`` and one per backbone (``vgg16``, ``vgg19``, ``inception_v3``,
``mobilenet_v2``, ``mobilenet_v3``, ``alexnet``, ``resnet18``, ``resnet34``, ``resnet50``,
``resnet101``). Every model takes ``(batch, 1, H, W)`` windows min-max normalised to
[0, 1] and returns one logit per window (sigmoid = probability of "linear").

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
pretraining on the synthetic seafloor corpus, see ``magnetar.pipelines.lma_classification``).
``freeze=True`` (default for transfer) freezes the base and keeps it in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from ..errors import MagnetarError, ValidationError
from ._registry import register_model

__all__ = ["BACKBONES", "LMACNN", "TransferClassifier", "WeightsUnavailableError"]

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
    """The study's plain CNN: four 3x3 convolutions (32, 32, 64, 64), two max-pools, three
    dropouts and four dense layers (256, 128, 64, 1).

    Departure from the study: adaptive average pooling to ``pooled x pooled`` before the
    dense layers (at 250 x 250 input the flattened map would need a 63 M-parameter first
    dense layer); any window size is accepted.
    """

    def __init__(self, *, dropout=0.25, pooled=8):
        super().__init__()
        self.base = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2), nn.Dropout(dropout),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2), nn.Dropout(dropout),
            nn.AdaptiveAvgPool2d(pooled), nn.Flatten())
        self.head = _dense_head(64 * pooled * pooled, dropout=2 * dropout)
        self.frozen = False

    def features(self, x):
        return self.base(x)

    def forward(self, x):
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
    """ImageNet weights of a backbone from the torch hub cache or its download address."""
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
        state = torch.load(path, map_location="cpu", weights_only=False)
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
        return self.base(self.prepare(x))

    def forward(self, x):
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


register_model("lma_cnn")(partial(LMACNN))
for _name in BACKBONES:
    register_model(_name)(_Factory(_name))
