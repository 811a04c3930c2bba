"""Small trained models shipped with magnetar (each with its training config and metrics).

- ``iar_unet16.pt`` (the default of ``magnetar iar predict`` and ``iar catalogue``): U-Net
  (16 base channels, 4 levels) for IAR fringes, fine-tuned in session 17 from the session-9
  model on the wide-range generator with physical labels and mirrored band edges by
  ``magnetar iar train --out iar_wide --nights 240 --val-nights 40 --epochs 16 --base 16 --lr
  1e-3 --lr-schedule cosine --init-from iar_unet16.pt --workers 2`` (2 CPU cores, 38 min);
  on held-out nights with 1.25x wider ranges F1 within +-2 rows 0.833, IoU 0.589; real LLO
  night 0 % marked (``docs/iar.md``). Model card: ``iar_unet16.card.md``.
- ``lma_coherence.pt``: the structure-tensor coherence classifier of linear magnetic
  anomalies (13 parameters) on diffused windows, trained on a 2-core CPU in under a minute
  after the corpus by ``MAGNETAR_DATA_DIR=../shared/data magnetar lma train --out ship
  --model lma_coherence --diffuse --n-grids 24 --seed 2000 --epochs 150 --lr 0.03
  --patience 30 --workers 2``; its mean coherence leaves textureless (gap-filled) blocks out;
  blocked test accuracy 0.982, ROC-AUC 0.998 (``lma_coherence.metrics.json``, config
  ``lma_coherence.lma.config.toml``). On the real EMAG2v3 tiles it calls 98-100 % of every
  tile linear, continents included.
- ``lma_texture.pt`` (the default of ``magnetar lma predict`` and ``lma real-tiles``): the
  texture classifier (coherence, spectral and amplitude-shape features; 43 parameters) on raw
  250-node windows, trained without any real EMAG2v3 tile on synthetic seafloor, forward-
  modelled continental geology and the Britain survey by ``magnetar lma train --model
  lma_texture --config lma_texture.lma.config.toml --out ship --lr 0.03 --epochs 25``;
  synthetic blocked test accuracy 0.971, real weak-label ROC-AUC 0.48 (chance): it rejects
  continental texture but finds no lineations in the real oceanic tile. Model card:
  ``lma_texture.card.md``.
- ``crowdmag_conv_ae.pt`` (the default of ``magnetar crowdmag denoise``): the masked conv
  autoencoder for 60 km / 32-pixel CrowdMag tiles, trained with phone-like corruption by
  ``magnetar crowdmag train --out ae60t --tile-km 60 --epochs 20 --mask-kind tracks --mask
  0.97 --noise 80`` (optimiser state dropped); on held-out Britain tiles at realistic track
  masks and phone noise its MAE is 16-23 nT below a smoothed linear fill (intervals exclude
  zero) but its value distribution is further off. Model card: ``crowdmag_conv_ae.card.md``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import DataNotFoundError

__all__ = ["list_pretrained", "pretrained_path"]


def list_pretrained():
    """Names of the shipped checkpoints."""
    return sorted(p.name for p in resources.files(__name__).iterdir() if p.name.endswith(".pt"))


def pretrained_path(name):
    """Return the path of a shipped checkpoint.

    Path of a shipped checkpoint (``"iar_unet16.pt"``); its training config and metrics
    lie beside it.
    """
    path = Path(str(resources.files(__name__).joinpath(name)))
    if not path.is_file():
        msg = f"no shipped model {name!r}; shipped: {', '.join(list_pretrained()) or 'none'}"
        raise DataNotFoundError(msg)
    return path
