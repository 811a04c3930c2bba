"""Model registry (as timm's): ``@register_model`` on small factories, ``create_model(name)``."""

from __future__ import annotations

import fnmatch

from ..errors import ValidationError

__all__ = ["create_model", "list_models", "register_model"]

_MODELS = {}


def register_model(name):
    """Register ``factory(**kwargs) -> nn.Module`` under ``name``.

    Parameters
    ----------
    name : str
        The name it is created by.

    Returns
    -------
    callable
        A decorator that registers the factory and returns it unchanged.
    """

    def wrap(factory):
        if name in _MODELS:
            msg = f"model '{name}' is registered twice"
            raise ValidationError(msg)
        _MODELS[name] = factory
        return factory

    return wrap


def list_models(pattern="*"):
    """Return registered model names matching a glob ``pattern`` (sorted).

    Parameters
    ----------
    pattern : str
        Glob pattern.

    Returns
    -------
    list of str
        Sorted names.
    """
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def create_model(name, **kwargs):
    """Build a registered model; unknown names list the valid ones.

    Parameters
    ----------
    name : str
        A registered model (:func:`list_models`).
    **kwargs
        Options of its config dataclass.

    Returns
    -------
    torch.nn.Module
        The new model.
    """
    try:
        factory = _MODELS[name]
    except KeyError:
        msg = f"unknown model '{name}'; registered models: {', '.join(list_models())}"
        raise ValidationError(msg) from None
    return factory(**kwargs)
