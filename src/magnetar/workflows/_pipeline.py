"""A pipeline of named steps (in the spirit of verde's ``Chain``).

Each step is a callable taking the shared context (a dict) and returning a dict of new or
updated entries. Running the pipeline records each step's wall time, so a user sees where the
time goes, and an optional progress bar shows which step runs.
"""

from __future__ import annotations

import logging
import time

from .._utils import progress_bar
from ..errors import ValidationError

__all__ = ["Pipeline"]

LOGGER = logging.getLogger(__name__)


class Pipeline:
    """Named steps run in order over a shared context.

    Parameters
    ----------
    steps : list of (str, callable)
        Names must be unique.
    """

    def __init__(self, steps):
        names = [name for name, _ in steps]
        if len(set(names)) != len(names):
            msg = f"step names must be unique, got {names}"
            raise ValidationError(msg)
        self.steps = list(steps)

    @property
    def names(self):
        """Step names in order."""
        return [name for name, _ in self.steps]

    def run(self, context, *, progress=False):
        """Run every step; returns the final context with ``timings`` (seconds per step)."""
        context = dict(context)
        timings = {}
        steps = self.steps
        bar = progress_bar(enabled=progress, total=len(steps), desc="cleaning", unit="step",
                           leave=False)
        for name, step in steps:
            if bar is not None:
                bar.set_postfix_str(name)
            start = time.perf_counter()
            update = step(context)
            timings[name] = time.perf_counter() - start
            LOGGER.debug("step %s took %.3f s", name, timings[name])
            if update:
                context.update(update)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        context["timings"] = timings
        return context
