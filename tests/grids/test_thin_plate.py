import numpy as np
import pytest

from magnetar.errors import ValidationError
from magnetar.grids import inpaint, thin_plate_fill, thin_plate_solve


def _plane(shape=(24, 20)):
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    return 3.0 * x - 2.0 * y + 5


def test_a_plane_is_reproduced_exactly_from_a_few_nodes():
    # planes have zero curvature and fit the known nodes exactly: the unique minimiser
    plane = _plane()
    known = np.random.default_rng(0).random(plane.shape) < 0.1
    for smoothing in (1e-3, 0.05, 10.0):
        filled = thin_plate_fill(np.where(known, plane, np.nan), smoothing=smoothing)
        np.testing.assert_allclose(filled, plane, atol=1e-3 * np.ptp(plane))


def test_energy_is_minimal_against_random_perturbations():
    # the solution is the minimiser: any perturbation raises misfit + smoothing * curvature
    rng = np.random.default_rng(1)
    v = rng.normal(size=(16, 16))
    m = (rng.random((16, 16)) < 0.5).astype(float)
    lam = 0.3
    u = thin_plate_solve(v, m, lam, max_iter=2000, tol=1e-10)

    def energy(g):
        dxx = np.diff(g, 2, axis=1)
        dyy = np.diff(g, 2, axis=0)
        dxy = np.diff(np.diff(g, axis=0), axis=1)
        return (m * (g - v) ** 2).sum() + lam * ((dxx**2).sum() + (dyy**2).sum()
                                                 + 2 * (dxy**2).sum())

    e0 = energy(u)
    for _ in range(20):
        assert energy(u + 1e-3 * rng.normal(size=u.shape)) > e0


def test_smoothing_trades_fit_for_noise_suppression():
    y, x = np.mgrid[0:32, 0:32] / 32.0
    truth = 100 * np.sin(2 * np.pi * x) * np.cos(3 * y)
    rng = np.random.default_rng(2)
    noisy = truth + rng.normal(scale=10, size=truth.shape)
    known = rng.random(truth.shape) < 0.5
    sparse = np.where(known, noisy, np.nan)
    exact = thin_plate_fill(sparse, smoothing=1e-4)
    smooth = thin_plate_fill(sparse, smoothing=0.5)
    # nearly exact at the data, and noisier than the smoothed fit everywhere
    assert np.abs(exact - noisy)[known].mean() < 1.0
    assert np.abs(smooth - truth).mean() < 0.6 * np.abs(exact - truth).mean()


def test_numpy_and_torch_agree_and_stacks_are_solved_tile_by_tile():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    v = rng.normal(size=(3, 12, 10))
    m = (rng.random(v.shape) < 0.5).astype(float)
    u = thin_plate_solve(v, m, 0.1, max_iter=500, tol=1e-8)
    ut = thin_plate_solve(torch.as_tensor(v), torch.as_tensor(m), 0.1, max_iter=500, tol=1e-8)
    np.testing.assert_allclose(ut.numpy(), u, atol=1e-6)
    single = thin_plate_solve(v[1], m[1], 0.1, max_iter=500, tol=1e-8)
    np.testing.assert_allclose(u[1], single, atol=1e-6)


def test_inpaint_thin_plate_matches_and_keeps_shape():
    plane = _plane((16, 16))
    known = np.random.default_rng(4).random((2, 16, 16)) < 0.3
    stack = np.where(known, plane, np.nan)
    out = inpaint(stack, known, method="thin_plate", smoothing=0.1)
    assert out.shape == (2, 16, 16)
    np.testing.assert_allclose(out, np.broadcast_to(plane, out.shape), atol=1e-2)
    np.testing.assert_allclose(inpaint(stack[0], known[0], method="thin_plate"), out[0],
                               atol=1e-2)


def test_bad_input_is_rejected():
    with pytest.raises(ValidationError, match="smoothing"):
        thin_plate_fill(np.ones((4, 4)), smoothing=0)
    with pytest.raises(ValidationError, match="known node"):
        thin_plate_fill(np.full((2, 4, 4), np.nan))
    with pytest.raises(ValidationError, match="shape"):
        thin_plate_fill(np.ones(5))
    with pytest.raises(ValidationError, match="no known pixel"):
        inpaint(np.zeros((1, 4, 4)), np.zeros((1, 4, 4), bool), method="thin_plate")
