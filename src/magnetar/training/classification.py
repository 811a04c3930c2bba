"""Training and prediction for window classifiers (linear / non-linear anomalies).

``fit_classifier`` trains a registered classifier (``lma_cnn`` or a transfer backbone) with
binary cross-entropy and Adam (the study's defaults: lr 1e-3, batch 32, 25 epochs), early
stopping on the validation loss, dihedral augmentation (flips and 90-degree turns, which do
not change whether a window is lineated), seeded; ``best.pt`` / ``last.pt`` with the config
and optimiser state through the shared checkpoint path of :mod:`magnetar.training.loop`, so
``resume=True`` continues a run. When the base is frozen, its features are computed once and
only the dense head is trained (``cache_features``; augmentation then does not apply: the
features are those of the unaugmented windows). On CUDA: bfloat16
autocast and channels-last.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F  # noqa: N812

from .._utils import progress_bar
from ..errors import ValidationError
from ..models import create_model
from .loop import (
    _autocast,
    _batched,
    _best_model,
    _device,
    _end_epoch,
    _load_state,
    _start,
)

__all__ = ["ClassifierConfig", "fit_classifier", "load_classifier", "predict_proba"]

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
    """``(model, ClassifierConfig, state)`` from a checkpoint of :func:`fit_classifier`."""
    state = _load_state(path, device=device, kind="classifier")
    config = ClassifierConfig(**state["config"])
    # the state dict carries every weight: do not fetch pretrained ones again
    kwargs = {**config.model_kwargs}
    kwargs.pop("weights", None)
    kwargs.pop("weights_path", None)
    model = create_model(config.model, **kwargs)
    model.load_state_dict(state["model_state"])
    return model.to(device).eval(), config, state


def fit_classifier(windows, labels, val_windows, val_labels, config, *, out_dir=None,
                   resume=False, progress=False):
    """Train ``config.model`` on (N, H, W) windows in [0, 1] with 0/1 labels.

    Returns ``(model, history)``: the best model (eval mode) and per-epoch dicts (epoch,
    train_loss, val_loss, val_accuracy, seconds); training stops early after
    ``config.patience`` epochs without improvement.
    """
    tx, ty = _check(windows, labels, "training")
    vx, vy = _check(val_windows, val_labels, "validation")
    device = _device(config.device)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = create_model(config.model, **config.model_kwargs).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    out_dir = None if out_dir is None else Path(out_dir)
    history, start, best, state = _start(out_dir, config, model, optimizer, device,
                                         resume=resume)
    if state is not None:
        gen.set_state(state["augment_rng"])
    cached = bool(config.cache_features and getattr(model, "frozen", False))
    if cached:
        began = time.perf_counter()
        model.eval()
        tx, vx = (_batched(model.features, a, device=device, batch_size=4 * config.batch_size)
                  for a in (tx, vx))
        LOGGER.info("cached frozen-base features in %.1f s", time.perf_counter() - began)
    run = model.head if cached else model
    bar = progress_bar(enabled=progress, total=config.epochs, initial=start, desc="training",
                       unit="epoch")
    for epoch in range(start, config.epochs):
        if _stalled(history, config.patience):
            LOGGER.info("early stop at epoch %d", epoch)
            break
        began = time.perf_counter()
        model.train()
        order = torch.randperm(len(tx), generator=gen)
        total = 0.0
        for i in range(0, len(tx), config.batch_size):
            idx = order[i:i + config.batch_size]
            xb, yb = tx[idx].to(device), ty[idx].to(device)
            if config.augment and not cached:
                xb = _dihedral(xb, gen)
            if device.type == "cuda" and not cached:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with _autocast(device):
                logits = run(xb)
            logits = logits[:, 0] if cached else logits
            loss = F.binary_cross_entropy_with_logits(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)
        val_loss, val_acc = _validate(run, vx, vy, device, cached, config.batch_size)
        record = {"epoch": epoch, "train_loss": total / len(tx), "val_loss": val_loss,
                  "val_accuracy": val_acc, "seconds": time.perf_counter() - began}
        history.append(record)
        best = _end_epoch(out_dir, model, optimizer, config, history, best,
                          augment_rng=gen.get_state(), kind="classifier")
        if bar is not None:
            bar.set_postfix(loss=f"{record['train_loss']:.3f}", val_acc=f"{val_acc:.3f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    return _best_model(out_dir, model, best, load_classifier, device=device), history


def _stalled(history, patience):
    if not patience or len(history) <= patience:
        return False
    losses = [h["val_loss"] for h in history]
    return min(losses[-patience:]) >= min(losses[:-patience])


def _validate(run, vx, vy, device, cached, batch_size):
    run.eval()
    z = _batched((lambda f: run(f)[:, 0]) if cached else run, vx, device=device,
                 batch_size=4 * batch_size)
    loss = float(F.binary_cross_entropy_with_logits(z, vy))
    return loss, float(((z > 0).float() == vy).float().mean())


@torch.no_grad()
def predict_proba(model, windows, *, batch_size=128, device=None, progress=False):
    """Probability of "linear" for (N, H, W) windows in [0, 1] (batched; bf16 on CUDA)."""
    device = next(model.parameters()).device if device is None else torch.device(device)
    model = model.to(device).eval()
    x = torch.as_tensor(np.asarray(windows, np.float32))[:, None]
    out = _batched(lambda xb: torch.sigmoid(model(xb).float()), x, device=device,
                   batch_size=batch_size, progress=progress)
    return out.numpy() if out is not None else np.empty(0, np.float32)
