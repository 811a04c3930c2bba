"""``can_plot``: figures are skipped, not failed, without matplotlib."""

import importlib.util
import logging

from magnetar import plot


def test_can_plot_says_no_and_warns_once_without_matplotlib(monkeypatch, caplog):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    monkeypatch.setattr(plot.can_plot, "warned", False, raising=False)
    with caplog.at_level(logging.WARNING, logger="magnetar.plot"):
        assert plot.can_plot() is False
        assert plot.can_plot() is False
    assert sum("figures are skipped" in r.message for r in caplog.records) == 1


def test_can_plot_with_matplotlib():
    assert plot.can_plot() is (importlib.util.find_spec("matplotlib") is not None)


def test_iar_night_panels_share_one_time_axis_width():
    import numpy as np
    import pytest
    import xarray as xr

    pytest.importorskip("matplotlib")
    hours = xr.DataArray(np.arange(30.0), dims="time", attrs={"units": "hours after 18:00"})
    coords = {"frequency": np.linspace(0.5, 10, 40), "time": hours}
    spec = xr.DataArray(np.random.default_rng(0).normal(-6, 0.3, (40, 30)),
                        dims=("frequency", "time"), coords=coords)
    mask = spec > -5.9
    params = xr.Dataset({"fringe_frequency": (("fringe", "time"), np.full((1, 30), 2.0)),
                         "delta_f": ("time", np.full(30, 0.5))}, coords={"time": coords["time"]})
    for kwargs in ({}, {"params": params}):
        fig = plot.plot_iar_night(spec, mask, **kwargs)
        fig.canvas.draw()
        panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        spans = {(round(ax.get_position().x0, 6), round(ax.get_position().x1, 6))
                 for ax in panels}
        assert len(panels) == (3 if kwargs else 2)
        assert len(spans) == 1  # the colour bar does not narrow the spectrogram alone
        assert panels[-1].get_xlabel() == "time (hours after 18:00)"
    utc = spec.assign_coords(time=np.datetime64("2020-01-06T18:00") + np.arange(30)
                             * np.timedelta64(100, "s"))
    assert plot.plot_iar_night(utc, utc > -5.9).axes[1].get_xlabel() == "time (UT)"
