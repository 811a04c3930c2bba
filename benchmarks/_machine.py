"""Describe the machine a benchmark ran on (stored beside every result)."""

import os
import platform
import sys

import numpy as np
import scipy


def describe():
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
