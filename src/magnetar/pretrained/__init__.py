"""Small trained models shipped with magnetar (each with its training config and metrics).

- ``iar_unet16.pt``: U-Net (16 base channels, 4 levels) for IAR fringes, trained by
  ``magnetar iar train --nights 178 --val-nights 32 --epochs 40 --base 16`` on an H100;
  metrics in ``benchmarks/results/iar/``.
"""
