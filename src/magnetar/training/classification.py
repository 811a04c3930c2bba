"""Training and prediction for window classifiers (linear / non-linear anomalies).

``fit_classifier`` trains a registered classifier (``lma_cnn`` or a transfer backbone) with
binary cross-entropy and Adam (the study's defaults: lr 1e-3, batch 32, 25 epochs), early
stopping on the validation loss, dihedral augmentation (flips and 90-degree turns, which do
not change whether a window is lineated), seeded; ``best.pt`` / ``last.pt`` with the config
and optimiser state through the shared engine (:mod:`magnetar.training.engine`), so
``resume=True`` continues a run. When the base is frozen, its features are computed once and
only the dense head is trained (``cache_features``; augmentation then does not apply: the
features are those of the unaugmented windows). The epoch loop is the shared engine's
(:mod:`magnetar.training.engine`). On CUDA: bfloat16 autocast and channels-last.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812

from ..errors import ValidationError
from ..models import create_model
from . import engine
from .checkpoint import load_state

__all__ = [
    "ClassifierConfig",
    "ClassifierTask",
    "fit_classifier",
    "load_classifier",
    "predict_proba",
]

LOGGER = logging.getLogger(__name__)


@dataclass
class ClassifierConfig:
    """Classifier training options.

    patience : epochs without a lower validation loss before stopping (0: never stop early).
    augment : random flips and 90-degree rotations of training windows.
    cache_features : with a frozen base, compute its features once and train the head only.
    """

    model: str = "lma_cnn"
    model_kwargs: dict = field(default_factory=dict)
    epochs: int = 25
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 5
    augment: bool = True
    cache_features: bool = True
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.patience < 0:
            msg = (f"epochs, batch_size and lr must be positive and patience >= 0; got "
                   f"{self.epochs}, {self.batch_size}, {self.lr}, {self.patience}")
            raise ValidationError(msg)
        if self.device not in ("auto", "cpu", "cuda"):
            msg = f"device must be auto, cpu or cuda, got {self.device!r}"
            raise ValidationError(msg)


def _check(x, y, name):
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.ndim != 3 or len(x) == 0 or y.shape != (len(x),) or not np.isin(y, (0, 1)).all():
        msg = (f"{name}: need (N, H, W) windows and N labels of 0/1, got {x.shape} and "
               f"{y.shape}")
        raise ValidationError(msg)
    return torch.as_tensor(x)[:, None], torch.as_tensor(y.astype(np.float32))


def _dihedral(x, gen):
    k = int(torch.randint(0, 4, (1,), generator=gen))
    x = torch.rot90(x, k, dims=(-2, -1))
    if torch.rand(1, generator=gen) < 0.5:
        x = x.flip(-1)
    return x


def load_classifier(path, *, device="cpu"):
    """``(model, ClassifierConfig, state)`` from a checkpoint of :func:`fit_classifier`.

    Parameters
    ----------
    path : path-like
        Checkpoint.
    device : str
        Where to put the model.

    Returns
    -------
    (torch.nn.Module, ClassifierConfig, dict)
        The model (eval mode), its config and the checkpoint.
    """
    state = load_state(path, device=device, kind="classifier")
    config = ClassifierConfig(**state["config"])
    # the state dict carries every weight: do not fetch pretrained ones again
    kwargs = {**config.model_kwargs}
    kwargs.pop("weights", None)
    kwargs.pop("weights_path", None)
    model = create_model(config.model, **kwargs)
    model.load_state_dict(state["model_state"])
    return model.to(device).eval(), config, state


class ClassifierTask(engine.Task):
    """The training task of the window classifiers.

    Windows and 0/1 labels: dihedral augmentation, binary cross-entropy, validation loss
    and accuracy; with a frozen base, its features computed once and the head trained.
    """

    kind = "classifier"
    progress_keys = ("train_loss", "val_accuracy")

    def __init__(self, tx, ty, vx, vy, config):
        self.tx, self.ty, self.vx, self.vy = tx, ty, vx, vy
        self.config = config
        self.cached = False

    def prepare(self, model, device):
        """Cache the frozen backbone's features once (transfer models)."""
        self.cached = bool(self.config.cache_features and getattr(model, "frozen", False))
        if self.cached:
            began = time.perf_counter()
            model.eval()
            self.tx, self.vx = (engine.batched(model.features, a, device=device,
                                               batch_size=4 * self.config.batch_size)
                                for a in (self.tx, self.vx))
            LOGGER.info("cached frozen-base features in %.1f s", time.perf_counter() - began)

    def _run(self, model):
        return model.head if self.cached else model

    def batches(self, model, epoch, generator, device):
        """Yield the augmented training batches of one epoch."""
        config = self.config
        order = torch.randperm(len(self.tx), generator=generator)
        for i in range(0, len(self.tx), config.batch_size):
            idx = order[i:i + config.batch_size]
            xb, yb = self.tx[idx].to(device), self.ty[idx].to(device)
            if config.augment and not self.cached:
                xb = _dihedral(xb, generator)
            if device.type == "cuda" and not self.cached:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb

    def loss(self, model, batch):
        """Return the binary cross-entropy of one batch."""
        xb, yb = batch
        logits = self._run(model)(xb)
        logits = logits[:, 0] if self.cached else logits
        return F.binary_cross_entropy_with_logits(logits.float(), yb)

    def validate(self, model, device):
        """Return the validation loss and accuracy."""
        run = self._run(model)
        run.eval()
        fn = (lambda f: run(f)[:, 0]) if self.cached else run
        z = engine.batched(fn, self.vx, device=device, batch_size=4 * self.config.batch_size)
        loss = float(F.binary_cross_entropy_with_logits(z, self.vy))
        return {"val_loss": loss,
                "val_accuracy": float(((z > 0).float() == self.vy).float().mean())}


def fit_classifier(windows, labels, val_windows, val_labels, config, *, out_dir=None,
                   resume=False, progress=False):
    """Train ``config.model`` on windows in [0, 1] with 0/1 labels.

    Parameters
    ----------
    windows, labels : numpy.ndarray
        (N, H, W) windows and N labels (1 linear).
    val_windows, val_labels : numpy.ndarray
        Validation windows and labels.
    config : ClassifierConfig
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
        val_accuracy, seconds); training stops early after ``config.patience`` epochs
        without improvement.
    """
    tx, ty = _check(windows, labels, "training")
    vx, vy = _check(val_windows, val_labels, "validation")
    device = engine.resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = create_model(config.model, **config.model_kwargs).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    task = ClassifierTask(tx, ty, vx, vy, config)
    return engine.fit(model, task, config, out_dir=out_dir, resume=resume, progress=progress)


@torch.no_grad()
def predict_proba(model, windows, *, batch_size=128, device=None, progress=False):
    """Probability of "linear" for (N, H, W) windows in [0, 1] (batched; bf16 on CUDA).

    Parameters
    ----------
    model : torch.nn.Module
        A classifier.
    windows : numpy.ndarray
        (N, H, W) in [0, 1].
    batch_size : int
        Windows per forward pass.
    device : str or torch.device, optional
        Default: the model's.
    progress : bool
        Progress bar.

    Returns
    -------
    numpy.ndarray
        N probabilities (float32).
    """
    device = next(model.parameters()).device if device is None else torch.device(device)
    model = model.to(device).eval()
    x = torch.as_tensor(np.asarray(windows, np.float32))[:, None]
    out = engine.batched(lambda xb: torch.sigmoid(model(xb).float()), x, device=device,
                         batch_size=batch_size, progress=progress)
    return out.numpy() if out is not None else np.empty(0, np.float32)
