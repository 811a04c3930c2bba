"""``--config`` on commands configured by their options alone (magnetar._options)."""

import numpy as np
import pytest

from magnetar.cli import main
from magnetar.errors import ConfigError


def _series(tmp_path):
    path = tmp_path / "site_20200101.npy"
    t = np.arange(60_000) / 100.0
    np.save(path, np.sin(2 * np.pi * 2.0 * t) + np.random.default_rng(0).normal(0, 1, t.size))
    return path


def test_a_table_stands_in_for_options_and_the_run_writes_it_back(tmp_path, capsys):
    series = _series(tmp_path)
    config = tmp_path / "spec.toml"
    config.write_text('[iar.spectrogram]\nsampling-rate = 100.0\nsegment_s = 50.0\n'
                      'band = [1.0, 8.0]\nnight = "00:00,23:59"\n')
    assert main(["iar", "spectrogram", str(series), "--out", str(tmp_path / "a"),
                 "--config", str(config)]) == 0
    written = (tmp_path / "a" / "options.toml").read_text()
    assert "[iar.spectrogram]" in written
    assert "segment_s = 50.0" in written
    assert "band = [1.0, 8.0]" in written
    # what a run wrote reads back and gives the same outputs
    assert main(["iar", "spectrogram", str(series), "--out", str(tmp_path / "b"),
                 "--config", str(tmp_path / "a" / "options.toml")]) == 0
    a = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert a == sorted(p.name for p in (tmp_path / "b").iterdir())
    capsys.readouterr()


def test_the_command_line_wins_over_the_table(tmp_path, capsys):
    series = _series(tmp_path)
    config = tmp_path / "spec.toml"
    config.write_text('[iar.spectrogram]\nsampling_rate = 100.0\nsegment_s = 50.0\n'
                      'night = "00:00,23:59"\n')
    assert main(["iar", "spectrogram", str(series), "--out", str(tmp_path / "a"),
                 "--config", str(config), "--segment-s", "20"]) == 0
    assert "segment_s = 20.0" in (tmp_path / "a" / "options.toml").read_text()
    capsys.readouterr()


@pytest.mark.parametrize(("table", "needle"), [
    ("[iar.spectrogram]\nsegmnt_s = 50.0\n", "unknown option 'segmnt_s'"),
    ("[iar.spectrogram]\nfiles = ['x.npy']\n", "positional argument"),
    ("[iar.spectrogram]\norder = 'four'\n", "order = 'four' is not valid for --order"),
    ("[iar.predict]\nmodel = 'x.pt'\n", "no [iar.spectrogram] table"),
])
def test_bad_tables_are_refused_naming_the_key(tmp_path, capsys, table, needle):
    series = _series(tmp_path)
    config = tmp_path / "bad.toml"
    config.write_text(table)
    code = main(["iar", "spectrogram", str(series), "--out", str(tmp_path / "a"),
                 "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    assert "bad.toml" in err


def test_table_values_are_converted_as_the_option_text_would_be():
    import argparse

    from magnetar._options import _value

    parser = argparse.ArgumentParser()
    words = parser.add_argument("--words", type=lambda s: tuple(s.split(",")))
    order = parser.add_argument("--order", type=int)
    assert _value(words, ["a", "b"], "words", "t.toml") == ("a", "b")  # a list of strings
    assert _value(words, "a,b", "words", "t.toml") == ("a", "b")
    assert _value(order, 4, "order", "t.toml") == 4
    with pytest.raises(ConfigError, match="not valid for --order"):
        _value(order, 4.5, "order", "t.toml")
