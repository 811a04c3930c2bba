import numpy as np
import pytest

from magnetar.errors import ValidationError
from magnetar.grids import survey_grid


def test_upward_continuation_smooths_and_keeps_the_footprint():
    low = survey_grid("britain", spacing_km=5.0)
    high = survey_grid("britain", spacing_km=5.0, height_km=4.0)
    assert low.shape == high.shape
    np.testing.assert_array_equal(np.isfinite(low.values), np.isfinite(high.values))
    # continuation attenuates every wavenumber: less variance, and far less at short
    # wavelengths (node-to-node differences)
    assert np.nanstd(high.values) < np.nanstd(low.values)
    assert np.nanstd(np.diff(high.values, axis=1)) < 0.5 * np.nanstd(np.diff(low.values,
                                                                          axis=1))
    assert high.attrs["height_km"] == 4.0


def test_unknown_survey_is_refused():
    with pytest.raises(ValidationError, match="unknown survey"):
        survey_grid("mars", spacing_km=1.0)
