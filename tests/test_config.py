import pytest

from magnetar.config import config_from_dict, config_to_toml, load_config, save_config
from magnetar.errors import ConfigError, ValidationError
from magnetar.pipelines import CleaningConfig


def test_toml_round_trip(tmp_path):
    cfg = CleaningConfig(k=6.0, rule="sharp", components=("X", "Z"), tolerance=2)
    path = save_config(cfg, tmp_path / "c.toml", section="clean")
    assert load_config(CleaningConfig, path, section="clean") == cfg


def test_overrides_win_and_strings_are_converted(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[clean]\nk = 6\nmin_stations = 3\n")
    cfg = load_config(CleaningConfig, path, section="clean", overrides={"k": "4.5", "rule": None})
    assert cfg.k == 4.5
    assert cfg.min_stations == 3
    assert cfg.rule == "published"


def test_unknown_key_lists_valid_options():
    with pytest.raises(ConfigError, match="unknown option.*kk.*valid options are.*min_stations"):
        config_from_dict(CleaningConfig, {"kk": 3})


def test_bad_type_names_key():
    with pytest.raises(ConfigError, match="'min_stations'"):
        config_from_dict(CleaningConfig, {"min_stations": "two"})


def test_bad_value_rejected():
    with pytest.raises(ValidationError, match="rule must be one of published, sharp"):
        CleaningConfig(rule="magic")


def test_invalid_toml_names_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("k = = 3")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(CleaningConfig, path)


def test_toml_text_skips_none():
    text = config_to_toml(CleaningConfig())
    assert "\ncomponents" not in text
    assert "k = 3.0" in text
