"""A straightforward explicit implementation of coherence-enhancing diffusion.

This is the test oracle and the speed reference for :func:`coherence_diffusion`: it follows
the textbook description literally, with none of the fast path's shortcuts. Full 2-D Gaussian
kernels (non-separable) applied by :func:`scipy.ndimage.correlate`, the eigen-decomposition
of every structure tensor by :func:`numpy.linalg.eigh`, the diffusion tensor assembled from
eigenvectors, and the divergence written as the transpose of the gradient by scattering each
flux back along the Scharr stencil (edge nodes take what falls outside). No holes (NaN) and
float64 only. Use it on small grids; it is slow by design.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._diffusion import DiffusionConfig

__all__ = ["coherence_diffusion_reference"]

SCHARR_X = np.array([[-3.0, 0.0, 3.0], [-10.0, 0.0, 10.0], [-3.0, 0.0, 3.0]]) / 32.0


def _gaussian_2d(sigma, truncate):
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    g = np.exp(-0.5 * x**2 / sigma**2)
    g /= g.sum()
    return np.outer(g, g)


def _gradient(u):
    return (ndimage.correlate(u, SCHARR_X, mode="nearest"),
            ndimage.correlate(u, SCHARR_X.T, mode="nearest"))


def _gradient_transpose(jx, jy):
    """Apply the transpose of :func:`_gradient` by scattering along the stencil."""
    n, m = jx.shape
    out = np.zeros((n, m))
    rows, cols = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            # gradient at (i, j) reads u at clamp(i + di, j + dj) with this weight
            target_r = np.clip(rows + di, 0, n - 1)
            target_c = np.clip(cols + dj, 0, m - 1)
            contribution = SCHARR_X[di + 1, dj + 1] * jx + SCHARR_X.T[di + 1, dj + 1] * jy
            np.add.at(out, (target_r, target_c), contribution)
    return out


def coherence_diffusion_reference(values, config=None):
    """Diffuse a 2-D float array already scaled to unit range; returns a new array.

    Parameters
    ----------
    values : numpy.ndarray
        2-D array scaled to [0, 1].
    config : DiffusionConfig, optional
        Parameters (default: Kroon's toolbox).

    Returns
    -------
    numpy.ndarray
        The diffused array.
    """
    config = config or DiffusionConfig()
    u = np.array(values, dtype=np.float64)
    g_sigma = _gaussian_2d(config.sigma, config.truncate)
    g_rho = _gaussian_2d(config.rho, config.truncate)
    dt = config.time / config.n_steps
    for _ in range(config.n_steps):
        us = ndimage.correlate(u, g_sigma, mode="nearest")
        gx, gy = _gradient(us)
        jxx = ndimage.correlate(gx * gx, g_rho, mode="nearest")
        jxy = ndimage.correlate(gx * gy, g_rho, mode="nearest")
        jyy = ndimage.correlate(gy * gy, g_rho, mode="nearest")
        tensors = np.stack([np.stack([jxx, jxy], -1), np.stack([jxy, jyy], -1)], -2)
        mu, vec = np.linalg.eigh(tensors)  # ascending: mu[..., 0] <= mu[..., 1]
        delta = np.maximum(mu[..., 1] - mu[..., 0], 1e-15)
        along = config.alpha + (1 - config.alpha) * np.exp(-config.c / delta ** (2 * config.m))
        v_along = vec[..., :, 0]  # smaller eigenvalue: along the structure
        v_across = vec[..., :, 1]
        d = (along[..., None, None] * v_along[..., :, None] * v_along[..., None, :]
             + config.alpha * v_across[..., :, None] * v_across[..., None, :])
        ux, uy = _gradient(u)
        jx = d[..., 0, 0] * ux + d[..., 0, 1] * uy
        jy = d[..., 1, 0] * ux + d[..., 1, 1] * uy
        u = u - dt * _gradient_transpose(jx, jy)
    return u
