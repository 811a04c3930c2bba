"""IAGA-2002 output always carries a valid element set (XYZF, HDZF, ...), read back by
magnetar's reader and by MagPy."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from magnetar.io import read_iaga2002, write_iaga2002
from magnetar.io._iaga2002 import iaga_element_set


def _station(elements, n=30):
    time = pd.date_range("2022-03-09", periods=n, freq="min")
    rng = np.random.default_rng(0)
    base = {"X": 9000.0, "Y": 500.0, "Z": 57000.0, "H": 9013.0, "F": 57700.0, "D": 3.2}
    ds = xr.Dataset({e: ("time", base[e] + rng.normal(0, 1, n)) for e in elements},
                    coords={"time": time})
    ds.attrs = {"iaga_code": "DED", "format": "IAGA-2002"}
    return ds


@pytest.mark.parametrize(("elements", "expected", "left_out"), [
    (("X", "Y", "Z", "H", "F"), ["X", "Y", "Z", "F"], ["H"]),   # DED: was XYZHF, 5 columns
    (("X", "Y", "Z", "H"), ["X", "Y", "Z", "F"], ["H"]),        # BRW: was "XYZH", H read as F
    (("X", "Y"), ["X", "Y", "Z", "F"], []),                     # two components
    (("H", "D", "Z", "F"), ["H", "D", "Z", "F"], []),
])
def test_element_set_is_valid(elements, expected, left_out):
    got, dropped = iaga_element_set(_station(elements))
    assert got == expected
    assert dropped == left_out


@pytest.mark.parametrize("elements", [("X", "Y", "Z", "H", "F"), ("X", "Y", "Z", "H"),
                                      ("X", "Y")])
def test_written_file_reads_back(tmp_path, elements):
    ds = _station(elements)
    path = write_iaga2002(ds, tmp_path / "ded20220309.min")
    text = path.read_text(encoding="latin-1")
    assert " Reported               XYZF" in text
    back = read_iaga2002(path)
    for e in ("X", "Y"):
        np.testing.assert_allclose(back[e].values, ds[e].values, atol=0.005)
    assert "H" not in back
    if "F" in elements:
        np.testing.assert_allclose(back["F"].values, ds["F"].values, atol=0.005)
    else:  # 88888: not recorded
        assert np.isnan(back["F"].values).all()
        assert "88888.00" in text
    if "H" in elements:
        assert "Elements H are not part of a valid IAGA-2002 element set" in text


@pytest.mark.parametrize("elements", [("X", "Y", "Z", "H", "F"), ("X", "Y", "Z", "H"),
                                      ("X", "Y")])
def test_magpy_reads_every_record(tmp_path, elements):
    pytest.importorskip("magpy", reason="MagPy cross-check needs magnetar[compare]")
    from magnetar._utils import import_quietly_configuring

    read = import_quietly_configuring("magpy.stream").read

    ds = _station(elements, n=30)
    path = write_iaga2002(ds, tmp_path / "ded20220309vmin.min")
    stream = read(str(path))
    assert len(stream) == 30
    x = np.asarray(stream.ndarray[stream.KEYLIST.index("x")], dtype=float)
    np.testing.assert_allclose(x, ds["X"].values, atol=0.005)
    if "F" in elements:
        f = np.asarray(stream.ndarray[stream.KEYLIST.index("f")], dtype=float)
        np.testing.assert_allclose(f, ds["F"].values, atol=0.005)
