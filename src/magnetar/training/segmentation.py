"""Training and prediction for spectrogram segmentation (the IAR U-Net).

``fit_segmentation`` trains a registered segmentation model (``unet``) on night
spectrograms and their masks: binary cross-entropy (optionally plus Dice), Adam / SGD with
momentum / RMSprop, on-the-fly augmentation (time flips, circular time shifts, intensity
scaling and offset, Gaussian noise), seeded; ``best.pt`` (lowest validation loss) and
``last.pt`` with config and optimiser state, so ``resume=True`` continues a run. On CUDA:
bfloat16 autocast and channels-last. ``predict_segmentation`` runs batched inference with
a progress bar.

Inputs are standardised per night by :func:`standardise_spectrogram`: each frequency row
minus its median over the night (removes the 1/f background and steady lines' mean level),
divided by the night's robust spread; NaN (gaps) become 0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812

from ..errors import ValidationError
from ..models import create_model
from . import engine
from .checkpoint import load_state

__all__ = [
    "SegmentationConfig",
    "SegmentationTask",
    "fit_segmentation",
    "load_segmentation",
    "predict_segmentation",
    "standardise_spectrogram",
]

LOGGER = logging.getLogger(__name__)


def standardise_spectrogram(values):
    """Standardise log-power spectrograms for the U-Net.

    ``(..., frequency, time)`` log-power -> model input: row medians removed, divided by
    1.4826 MAD of the night, NaN -> 0 (float32).

    Parameters
    ----------
    values : numpy.ndarray
        (..., frequency, time) log10 power.

    Returns
    -------
    numpy.ndarray
        float32 model input.
    """
    v = np.asarray(values, dtype=float)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            centred = v - np.nanmedian(v, axis=-1, keepdims=True)
            spread = 1.4826 * np.nanmedian(np.abs(centred), axis=(-2, -1), keepdims=True)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    return np.nan_to_num(centred / spread, nan=0.0).astype(np.float32)


@dataclass
class Augmentation:
    """On-the-fly augmentation of training batches (probabilities and ranges)."""

    flip_time: float = 0.5
    shift_time: float = 0.5
    intensity: tuple[float, float] = (0.8, 1.25)
    offset: float = 0.2
    noise: float = 0.1


@dataclass
class SegmentationConfig:
    """Segmentation training options.

    loss : {"bce", "bce_dice"}
    edge_weight : extra weight of the cross-entropy on pixels within one pixel (8-neighbours,
        inside or outside) of a label edge: ``1 + edge_weight`` there, 1 elsewhere; 0 (the
        default) is plain cross-entropy. Fringe edges hold most IAR errors
        (``benchmarks/iar_error_analysis.py``).
    optimizer : {"adam", "sgd", "rmsprop"}  (SGD with momentum 0.9)
    lr_schedule : {"constant", "cosine"}  cosine anneals ``lr`` to 0 over ``epochs``
    init_from : path of a checkpoint of the same architecture whose weights start the
        training (fine-tuning, e.g. the synthetic-trained model on hand-labelled real nights);
        "" starts from the initialiser.
    augment : Augmentation (or dict); ``None`` disables it.
    threshold : probability above which a pixel is a fringe (chosen on validation data
        by :func:`magnetar.workflows.iar.run.choose_threshold`).
    """

    model: str = "unet"
    model_kwargs: dict = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 4
    lr: float = 1e-3
    optimizer: str = "adam"
    lr_schedule: str = "constant"
    loss: str = "bce_dice"
    edge_weight: float = 0.0
    seed: int = 0
    device: str = "auto"
    threshold: float = 0.5
    augment: Augmentation | None = field(default_factory=Augmentation)
    init_from: str = ""

    def __post_init__(self):
        if isinstance(self.augment, dict):
            self.augment = Augmentation(**self.augment)
        self.init_from = str(self.init_from)
        checks = [(self.loss in ("bce", "bce_dice"),
                   f"loss must be 'bce' or 'bce_dice', got {self.loss!r}"),
                  (self.edge_weight >= 0, f"edge_weight must be >= 0, got {self.edge_weight}"),
                  (self.optimizer in engine.OPTIMIZERS,
                   f"optimizer must be one of {engine.OPTIMIZERS}, got {self.optimizer!r}"),
                  (self.lr_schedule in engine.LR_SCHEDULES,
                   f"lr_schedule must be one of {engine.LR_SCHEDULES}, "
                   f"got {self.lr_schedule!r}"),
                  (self.epochs >= 1 and self.batch_size >= 1 and self.lr > 0,
                   "epochs, batch_size and lr must be positive"),
                  (0 < self.threshold < 1, f"threshold must be in (0, 1), got {self.threshold}")]
        for ok, msg in checks:
            if not ok:
                raise ValidationError(msg)


def edge_band(target):
    """Mark the pixels next to a mask's edges.

    1 on pixels within one pixel (3 x 3 neighbourhood) of an edge of a ``(N, 1, H, W)``
    0/1 target, on both sides of it; 0 elsewhere (image borders are not edges).

    Parameters
    ----------
    target : torch.Tensor
        (N, 1, H, W) 0/1 masks.

    Returns
    -------
    torch.Tensor
        The band, shape of ``target``.
    """
    dilated = F.max_pool2d(target, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-target, 3, stride=1, padding=1)
    return dilated - eroded


def _loss(logits, target, kind, edge_weight=0.0):
    weight = 1 + edge_weight * edge_band(target) if edge_weight else None
    loss = F.binary_cross_entropy_with_logits(logits, target, weight=weight)
    if kind == "bce_dice":
        p = torch.sigmoid(logits)
        inter = (p * target).sum(dim=(1, 2, 3))
        dice = (2 * inter + 1) / (p.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3)) + 1)
        loss = loss + (1 - dice).mean()
    return loss


def _augment(x, y, aug, gen):
    """Augment a batch on its device; ``gen`` a torch.Generator on the CPU."""
    n = x.shape[0]
    r = torch.rand(n, 4, generator=gen)
    for i in range(n):
        if r[i, 0] < aug.flip_time:
            x[i], y[i] = x[i].flip(-1), y[i].flip(-1)
        if r[i, 1] < aug.shift_time:
            s = int(torch.randint(0, x.shape[-1], (1,), generator=gen))
            x[i], y[i] = x[i].roll(s, -1), y[i].roll(s, -1)
    lo, hi = aug.intensity
    scale = (lo + (hi - lo) * torch.rand(n, 1, 1, 1, generator=gen)).to(x.device)
    offset = (aug.offset * (2 * torch.rand(n, 1, 1, 1, generator=gen) - 1)).to(x.device)
    noise = aug.noise * torch.randn(x.shape, generator=gen).to(x.device)
    return x * scale + offset + noise, y


def _tensor(a):
    return torch.as_tensor(np.asarray(a, np.float32))[:, None]


def load_segmentation(path, *, device="cpu"):
    """``(model, SegmentationConfig, state)`` from a checkpoint of :func:`fit_segmentation`.

    Parameters
    ----------
    path : path-like
        Checkpoint.
    device : str
        Where to put the model.

    Returns
    -------
    (torch.nn.Module, SegmentationConfig, dict)
        The model (eval mode), its config and the checkpoint.
    """
    state = load_state(path, device=device, kind="segmentation")
    config = SegmentationConfig(**state["config"])
    model = create_model(config.model, **config.model_kwargs)
    model.load_state_dict(state["model_state"])
    return model.to(device).eval(), config, state


def _initialise_from(model, config):
    """Load the weights of ``config.init_from`` into ``model`` (same architecture)."""
    state = load_state(config.init_from, device=next(model.parameters()).device,
                       kind="segmentation")
    try:
        model.load_state_dict(state["model_state"])
    except RuntimeError as err:
        source = state["config"]
        msg = (f"{config.init_from}: cannot start from it: it is a {source['model']} with "
               f"{source['model_kwargs']}, the training asks for a {config.model} with "
               f"{config.model_kwargs}")
        raise ValidationError(msg) from err


class SegmentationTask(engine.Task):
    """The training task of the fringe U-Net.

    Night spectrograms and 0/1 fringe masks: augmented batches, cross-entropy (+ Dice),
    validation loss and IoU at the config's threshold.
    """

    kind = "segmentation"
    progress_keys = ("train_loss", "val_iou")

    def __init__(self, x, y, vx, vy, config):
        self.tx, self.ty = _tensor(x), _tensor(y)
        self.vx, self.vy = vx, vy
        self.config = config

    def batches(self, model, epoch, generator, device):
        """Yield the augmented training batches of one epoch."""
        config = self.config
        order = torch.randperm(len(self.tx), generator=generator)
        for i in range(0, len(self.tx), config.batch_size):
            idx = order[i:i + config.batch_size]
            xb, yb = self.tx[idx].to(device), self.ty[idx].to(device)
            if config.augment is not None:
                xb, yb = _augment(xb, yb, config.augment, generator)
            if device.type == "cuda":
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb

    def loss(self, model, batch):
        """Return the segmentation loss of one batch."""
        xb, yb = batch
        return _loss(model(xb).float(), yb, self.config.loss, self.config.edge_weight)

    @torch.no_grad()
    def validate(self, model, device):
        """Return the validation loss and IoU."""
        prob = predict_segmentation(model, self.vx, batch_size=self.config.batch_size,
                                    device=device)
        p = torch.as_tensor(prob).clamp(1e-6, 1 - 1e-6)
        bce = float(F.binary_cross_entropy(p, torch.as_tensor(self.vy)))
        pred, truth = prob > self.config.threshold, self.vy > 0.5
        inter, union = np.sum(pred & truth), np.sum(pred | truth)
        return {"val_loss": bce, "val_iou": float(inter / union) if union else 1.0}


def fit_segmentation(images, masks, val_images, val_masks, config, *, out_dir=None,
                     resume=False, progress=False):
    """Train a segmentation model on standardised night spectrograms.

    Parameters
    ----------
    images, masks : numpy.ndarray
        (N, F, T) standardised images and their 0/1 fringe masks.
    val_images, val_masks : numpy.ndarray
        Validation nights, same layout.
    config : SegmentationConfig
        Model and training options.
    out_dir : path-like, optional
        Checkpoints and history (see :func:`magnetar.training.engine.fit`).
    resume : bool
        Continue from ``out_dir/last.pt``.
    progress : bool
        Progress bar over epochs.

    Returns
    -------
    (model, history)
        The best model (eval mode) and per-epoch dicts (epoch, lr, train_loss, val_loss,
        val_iou at ``config.threshold``, seconds).
    """
    x, y = np.asarray(images, np.float32), np.asarray(masks, np.float32)
    vx, vy = np.asarray(val_images, np.float32), np.asarray(val_masks, np.float32)
    if x.ndim != 3 or x.shape != y.shape or len(x) == 0 or vx.ndim != 3 or vx.shape != vy.shape:
        msg = (f"need (N, F, T) images with masks of the same shape; got {x.shape}, {y.shape}"
               f" and validation {vx.shape}, {vy.shape}")
        raise ValidationError(msg)
    device = engine.resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = create_model(config.model, **config.model_kwargs).to(device)
    if config.init_from:
        _initialise_from(model, config)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    task = SegmentationTask(x, y, vx, vy, config)
    return engine.fit(model, task, config, out_dir=out_dir, resume=resume, progress=progress)


@torch.no_grad()
def predict_segmentation(model, images, *, batch_size=8, device=None, progress=False):
    """Fringe probability ``(N, F, T)`` float32 for standardised images ``(N, F, T)``.

    Parameters
    ----------
    model : torch.nn.Module
        A U-Net.
    images : numpy.ndarray
        (N, F, T) standardised images.
    batch_size : int
        Images per forward pass.
    device : str or torch.device, optional
        Default: the model's.
    progress : bool
        Progress bar.

    Returns
    -------
    numpy.ndarray
        (N, F, T) probabilities (float32).
    """
    device = next(model.parameters()).device if device is None else torch.device(device)
    model = model.to(device).eval()
    x = _tensor(images)
    out = engine.batched(lambda xb: torch.sigmoid(model(xb).float())[:, 0], x, device=device,
                         batch_size=batch_size, progress=progress)
    return out.numpy() if out is not None else np.empty((0, *x.shape[2:]), np.float32)
