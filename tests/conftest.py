"""Shared fixtures: synthetic data from magnetar.synthetic and real files via the registry."""

import os

import numpy as np
import pytest

from magnetar import datasets
from magnetar.errors import DataNotFoundError


@pytest.fixture(name="registered")
def fixture_registered():
    """Return a function mapping a registered name to a local path.

    Missing files fail the test when MAGNETAR_STRICT_DATA is set (CI) and skip it otherwise.
    """

    def _get(name):
        try:
            return datasets.fetch(name, download=False)
        except DataNotFoundError as err:
            if os.environ.get(datasets.STRICT_ENV):
                pytest.fail(f"registered data missing in strict mode: {err}")
            pytest.skip(f"real data not available: {err}")

    return _get


@pytest.fixture(name="rng")
def fixture_rng():
    return np.random.default_rng(12345)
