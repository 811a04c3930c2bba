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
