import numpy as np
import pytest

from magnetar.errors import ValidationError
from magnetar.synthetic import GeologyConfig, layer_anomaly, synthetic_geology
from magnetar.synthetic._geology import _prism_anomaly


def test_prism_forward_agrees_with_the_fourier_layer_method():
    # a 58 x 58 km block, 2 km thick, top 5 km below the sensor, induced at inclination 60,
    # declination 45: harmonica's prism kernels and Blakely's layer method must agree (same
    # axes and sign conventions); the block's edges lie between nodes, where the layer
    # method's magnetisation cells end
    h, n = 2000.0, 96
    x0 = 48 * h
    half = 14.5 * h
    prism = np.array([[x0 - half, x0 + half, x0 - half, x0 + half, -7e3, -5e3]])
    direction = (60.0, 45.0)
    by_prism = _prism_anomaly(prism, np.array([2.0]), direction, direction, (n, n), h, 0.0)
    m = np.zeros((3 * n, 3 * n))  # padded so the layer method's periodicity is far away
    yy, xx = (np.mgrid[0:3 * n, 0:3 * n] - n) * h
    m[(np.abs(xx - x0) < half) & (np.abs(yy - x0) < half)] = 2.0
    by_layer = layer_anomaly(m, spacing=h, z_top=5e3, thickness=2e3, field_direction=direction)
    by_layer = by_layer[n:2 * n, n:2 * n]
    scale = np.abs(by_prism).max()
    assert scale > 50  # nT: a real anomaly, not zeros
    rms = np.sqrt(np.mean((by_prism - by_layer) ** 2))
    assert rms < 0.02 * scale
    # the low lies north-east of the body (field pointing north-east and down)
    weight = np.clip(-by_prism, 0, None)
    rows, cols = np.mgrid[0:n, 0:n]
    assert (weight * rows).sum() / weight.sum() > 49
    assert (weight * cols).sum() / weight.sum() > 49


@pytest.mark.parametrize("inclination", [90.0, -90.0])
def test_induced_body_gives_a_positive_anomaly_above_it_at_either_pole(inclination):
    n, h = 41, 1000.0
    c = 20 * h
    prism = np.array([[c - 3e3, c + 3e3, c - 3e3, c + 3e3, -6e3, -1e3]])
    d = (inclination, 0.0)
    field = _prism_anomaly(prism, np.array([3.0]), d, d, (n, n), h, 1000.0)
    assert field[20, 20] > 0
    assert field[20, 20] == field.max()


def test_scene_is_non_linear_reproducible_and_of_continental_amplitude():
    cfg = GeologyConfig(shape=(64, 64), spacing_km=3.7)
    a = synthetic_geology(cfg, seed=3)
    b = synthetic_geology(cfg, seed=3)
    np.testing.assert_array_equal(a["anomaly"].values, b["anomaly"].values)
    assert not a["linear"].values.any()
    assert a["anomaly"].shape == (64, 64)
    # continental anomalies at 4 km altitude: tens to hundreds of nT, not thousands
    spread = np.percentile(a["anomaly_clean"].values, 99) - np.percentile(
        a["anomaly_clean"].values, 1)
    assert 20 < spread < 3000
    assert set(np.unique(a["regime"].values)) <= set(range(1, 7))


def test_sources_are_checked():
    with pytest.raises(ValidationError, match="unknown geology source"):
        GeologyConfig(sources=("granite",))
