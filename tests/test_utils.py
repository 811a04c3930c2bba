"""Shared helpers: option checks and the options a command line gave."""

import argparse

import numpy as np
import pytest

from magnetar._utils import check_number
from magnetar.config import options_given
from magnetar.errors import ValidationError


@pytest.mark.parametrize("value", [5, 5.0, np.int64(5), np.float32(5.0)])
def test_check_number_accepts_python_and_numpy_numbers(value):
    assert check_number(value, option="--n", minimum=1, integer=True) == value


@pytest.mark.parametrize(("value", "match"), [
    (0, r"--n must be an integer in \[1, 10\], got 0"),
    (2.5, "an integer"),
    (float("nan"), "got nan"),
    ("3", "got 3"),
])
def test_check_number_refuses_naming_option_and_range(value, match):
    with pytest.raises(ValidationError, match=match):
        check_number(value, option="--n", minimum=1, maximum=10, integer=True)


def test_options_given_keeps_only_what_was_given():
    args = argparse.Namespace(a=1, b=None, c=0.0, d=False)
    assert options_given(args, ("a", "b", "c", "d", "missing")) == {"a": 1, "c": 0.0, "d": False}
