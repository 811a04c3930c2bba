import numpy as np
import pytest

from magnetar.errors import ValidationError
from magnetar.processing import highpass
from magnetar.synthetic import inject_interference, synthetic_observatories


def test_reproducible_and_seed_dependent():
    a = synthetic_observatories(days=0.05, sampling_period=1.0, seed=1)
    b = synthetic_observatories(days=0.05, sampling_period=1.0, seed=1)
    c = synthetic_observatories(days=0.05, sampling_period=1.0, seed=2)
    np.testing.assert_array_equal(a["X"].values, b["X"].values)
    assert not np.array_equal(a["X"].values, c["X"].values)


def test_natural_field_common_and_decaying_with_distance():
    ds = synthetic_observatories(days=1.0, sampling_period=60.0, seed=5, noise_nT=0.05,
                                 distances_km=(0, 100, 2000, 4000))
    hp = highpass(ds["X"]).values
    corr = np.corrcoef(hp[0], hp[1])[0, 1]
    assert corr > 0.95  # nearby stations share the natural variation
    assert np.std(hp[3]) < np.std(hp[0])  # amplitude decays with distance


def test_total_field_is_consistent():
    ds = synthetic_observatories(days=0.05, sampling_period=1.0, noise_nT=0.0)
    f = np.sqrt(ds["X"] ** 2 + ds["Y"] ** 2 + ds["Z"] ** 2)
    np.testing.assert_allclose(ds["F"].values, f.values, rtol=1e-12)


def test_injection_truth_matches_difference():
    ds = synthetic_observatories(days=0.05, sampling_period=1.0, seed=1)
    bad, truth, table = inject_interference(ds, station="CCC", starts=[100, 900],
                                            widths=[3, 1], amplitudes=[7.0, 9.0],
                                            components=["Y"], signs=[1, -1])
    diff = bad["Y"].values - ds["Y"].values
    assert set(np.flatnonzero(diff[2])) == {100, 101, 102, 900}
    np.testing.assert_allclose(diff[2, [100, 900]], [7.0, -9.0])
    assert truth["Y"].values.sum() == 4
    assert list(table["width"]) == [3, 1]
    with pytest.raises(ValidationError, match="unknown station"):
        inject_interference(ds, station="ZZZ", starts=[1], widths=[1], amplitudes=[1])
