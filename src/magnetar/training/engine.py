"""The one training engine.

The one training engine: epoch loop, optimiser, schedule, early stopping, mixed precision,
checkpoints, resume and history, for every model magnetar trains.

A workflow supplies a small *task* object (:class:`Task`) that says what a batch is, what
its loss is and how the model is validated; :func:`fit` does the rest the same way for all:

* optimiser (``adam``, ``sgd`` with momentum 0.9, ``rmsprop``; weight decay) over the
  parameters the task trains;
* learning rate per epoch (``constant`` or ``cosine`` annealing to 0 over ``epochs``),
  set through :class:`torch.optim.lr_scheduler.LambdaLR`;
* early stopping after ``patience`` epochs without a lower validation loss (0: never);
* bfloat16 autocast on CUDA, float32 on the CPU;
* ``last.pt`` every epoch and ``best.pt`` at each new lowest validation loss, both with the
  weights, optimiser, config, history and every random state (global torch RNG and the
  engine's generator), so ``resume=True`` continues a run bit for bit; after a resume that
  only added epochs, ``best.pt`` carries the resumed config;
* ``history.json`` and ``train.config.json`` beside them.

Configs are dataclasses with at least ``epochs``, ``lr``, ``seed`` and ``device``; the
optional ``optimizer``, ``lr_schedule``, ``weight_decay`` and ``patience`` default to adam,
constant, 0 and 0.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch

from .._utils import atomic_path, progress_bar
from ..errors import ValidationError
from .checkpoint import load_state, save_checkpoint, update_metadata

__all__ = ["LR_SCHEDULES", "OPTIMIZERS", "Task", "autocast", "batched", "fit",
           "resolve_device", "schedule_factor"]

LOGGER = logging.getLogger(__name__)
OPTIMIZERS = ("adam", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")


class Task:
    """What a workflow tells the engine. Subclass and override the methods.

    Attributes
    ----------
    kind : str
        Written into checkpoints; loading checks it.
    progress_keys : tuple of str
        History keys shown on the progress bar.
    metadata : dict
        Plain entries every checkpoint of the task records besides the engine's own.
    """

    kind = "task"
    progress_keys = ("train_loss", "val_loss")
    metadata = {}  # read, never changed, by the engine

    def prepare(self, model, device):
        """Prepare once before the first epoch (e.g. cache a frozen base's features)."""

    def parameters(self, model):
        """Return the parameters the optimiser trains (default: those requiring gradients)."""
        return [p for p in model.parameters() if p.requires_grad]

    def batches(self, model, epoch, generator, device):
        """Yield the training batches of ``epoch`` (tuples of tensors on ``device``)."""
        raise NotImplementedError

    def loss(self, model, batch):
        """Return the loss of one batch (a scalar tensor; called under autocast)."""
        raise NotImplementedError

    def validate(self, model, device):
        """Return validation metrics of the current model: a dict with at least ``val_loss``."""
        raise NotImplementedError


def resolve_device(name):
    """``torch.device`` for "auto" (CUDA when present), "cpu" or "cuda".

    Parameters
    ----------
    name : str
        "auto", "cpu" or "cuda".

    Returns
    -------
    torch.device
        The device.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        msg = "device 'cuda' asked for but no CUDA GPU is available"
        raise ValidationError(msg)
    if name not in ("cpu", "cuda"):
        msg = f"device must be auto, cpu or cuda, got {name!r}"
        raise ValidationError(msg)
    return torch.device(name)


def autocast(device):
    """bfloat16 autocast on CUDA; a no-op context on the CPU.

    Parameters
    ----------
    device : torch.device
        Where the model runs.

    Returns
    -------
    context manager
        ``torch.autocast``.
    """
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


@torch.no_grad()
def batched(fn, x, *, device, batch_size, progress=False):
    """``fn`` over the tensor ``x`` in batches on ``device``.

    4-D inputs go channels-last and under bfloat16 autocast on CUDA. Returns the float32
    outputs concatenated on the CPU (None when ``x`` is empty).

    Parameters
    ----------
    fn : callable
        Tensor -> tensor (a model or its part).
    x : torch.Tensor or numpy.ndarray
        Inputs.
    device : torch.device
        Where to run.
    batch_size : int
        Items per call.
    progress : bool
        Progress bar.

    Returns
    -------
    torch.Tensor or None
        The outputs (float32, CPU).
    """
    out = []
    steps = progress_bar(range(0, len(x), batch_size), enabled=progress, desc="predicting",
                         unit="batch")
    for i in steps:
        xb = x[i:i + batch_size].to(device)
        if device.type == "cuda" and xb.ndim == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(device):
            out.append(fn(xb).float().cpu())
    return torch.cat(out) if out else None


def schedule_factor(config, epoch):
    """Multiplier of ``config.lr`` at ``epoch`` under ``config.lr_schedule``.

    Parameters
    ----------
    config : dataclass
        With ``lr_schedule`` and ``epochs``.
    epoch : int
        0-based epoch.

    Returns
    -------
    float
        The learning-rate factor.
    """
    if getattr(config, "lr_schedule", "constant") == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
    return 1.0


def _optimizer(config, params):
    name = getattr(config, "optimizer", "adam")
    decay = getattr(config, "weight_decay", 0.0)
    if name == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, weight_decay=decay)
    msg = f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}"
    raise ValidationError(msg)


def _stalled(history, patience):
    if not patience or len(history) <= patience:
        return False
    losses = [h["val_loss"] for h in history]
    return min(losses[-patience:]) >= min(losses[:-patience])


class _Run:
    """State of one training run: where it writes, what it resumed, the best so far."""

    def __init__(self, out_dir, config, task):
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.config = config
        self.task = task
        self.history = []
        self.best_loss = math.inf
        self.best_weights = None

    def state(self, model, optimizer, generator, epoch):
        return {"model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
                "config": asdict(self.config), "kind": self.task.kind, "epoch": epoch,
                "history": self.history, "torch_rng": torch.get_rng_state(),
                "generator_rng": generator.get_state(), **self.task.metadata}

    def resume(self, model, optimizer, generator, device):
        """Restore from ``last.pt``; returns the first epoch to run."""
        path = self.out_dir / "last.pt"
        state = load_state(path, device=device, kind=self.task.kind)
        saved = state["config"]
        current = asdict(self.config)
        if {k: v for k, v in saved.items() if k != "epochs"} != {
                k: current.get(k) for k in saved if k != "epochs"}:
            msg = (f"cannot resume {path}: it was trained with another config "
                   "(only epochs may change)")
            raise ValidationError(msg)
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        torch.set_rng_state(state["torch_rng"].cpu())
        rng = state.get("generator_rng", state.get("augment_rng"))
        if rng is not None:
            generator.set_state(rng.cpu())
        self.history = list(state["history"])
        self.best_loss = min((h["val_loss"] for h in self.history), default=math.inf)
        if (self.out_dir / "best.pt").is_file() and saved != current:
            update_metadata(self.out_dir / "best.pt", config=current)  # the resumed config
        LOGGER.info("resuming at epoch %d", state["epoch"] + 1)
        return state["epoch"] + 1

    def end_epoch(self, model, optimizer, generator):
        record = self.history[-1]
        improved = record["val_loss"] < self.best_loss
        if improved:
            self.best_loss = record["val_loss"]
            if self.out_dir is None:
                self.best_weights = {k: v.detach().clone()
                                     for k, v in model.state_dict().items()}
        if self.out_dir is None:
            return
        state = self.state(model, optimizer, generator, record["epoch"])
        if improved:
            save_checkpoint(self.out_dir / "best.pt", state)
        save_checkpoint(self.out_dir / "last.pt", state)
        with atomic_path(self.out_dir / "history.json") as tmp:
            tmp.write_text(json.dumps(self.history, indent=1))

    def best_model(self, model, device):
        if self.out_dir is not None and (self.out_dir / "best.pt").is_file():
            model.load_state_dict(load_state(self.out_dir / "best.pt", device=device)[
                "model_state"])
        elif self.best_weights is not None:
            model.load_state_dict(self.best_weights)
        return model.eval()


def _train_epoch(model, task, optimizer, generator, epoch, device):
    model.train()
    total, count = 0.0, 0
    for batch in task.batches(model, epoch, generator, device):
        with autocast(device):
            loss = task.loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = len(batch[0])
        total += float(loss.detach()) * n
        count += n
    return total / max(count, 1)


def fit(model, task, config, *, out_dir=None, resume=False, progress=False):
    """Train ``model`` on ``task`` under ``config`` (see the module docstring).

    Parameters
    ----------
    model : torch.nn.Module
        Already built (and seeded) on ``config.device``.
    task : Task
        Batches, loss and validation of the workflow.
    config : dataclass
        ``epochs``, ``lr``, ``seed``, ``device`` and optionally ``optimizer``,
        ``lr_schedule``, ``weight_decay``, ``patience``.
    out_dir : path-like, optional
        Writes ``best.pt``, ``last.pt``, ``history.json``, ``train.config.json``.
    resume : bool
        Continue from ``out_dir/last.pt`` when it exists.
    progress : bool
        Show a progress bar over epochs.

    Returns
    -------
    (model, history)
        The best model (lowest validation loss; eval mode) and one dict per epoch (epoch,
        lr, train_loss, the task's validation metrics, seconds).
    """
    device = resolve_device(config.device)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = _optimizer(config, task.parameters(model))
    run = _Run(out_dir, config, task)
    start = 0
    if resume and run.out_dir is not None and (run.out_dir / "last.pt").is_file():
        start = run.resume(model, optimizer, generator, device)
    for group in optimizer.param_groups:  # the schedule is relative to config.lr
        group["initial_lr"] = config.lr
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda epoch: schedule_factor(config, epoch), last_epoch=start - 1)
    if run.out_dir is not None:
        run.out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(run.out_dir / "train.config.json") as tmp:
            tmp.write_text(json.dumps(asdict(config), indent=2))
    task.prepare(model, device)
    bar = progress_bar(enabled=progress, total=config.epochs, initial=start, desc="training",
                       unit="epoch")
    for epoch in range(start, config.epochs):
        if _stalled(run.history, getattr(config, "patience", 0)):
            LOGGER.info("early stop at epoch %d", epoch)
            break
        began = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        train_loss = _train_epoch(model, task, optimizer, generator, epoch, device)
        scheduler.step()
        record = {"epoch": epoch, "lr": lr, "train_loss": train_loss,
                  **task.validate(model, device), "seconds": time.perf_counter() - began}
        run.history.append(record)
        run.end_epoch(model, optimizer, generator)
        shown = {k: f"{record[k]:.3f}" for k in task.progress_keys if k in record}
        if bar is not None:
            bar.set_postfix(shown)
            bar.update(1)
        elif record["seconds"] >= 10:  # no terminal: long epochs still report progress
            LOGGER.info("epoch %d/%d (%.0f s): %s", epoch + 1, config.epochs,
                        record["seconds"], ", ".join(f"{k} {v}" for k, v in shown.items()))
    if bar is not None:
        bar.close()
    return run.best_model(model, device), run.history
