import pytest

from magnetar.config import config_from_dict, config_to_toml, load_config, save_config
from magnetar.errors import ConfigError, ValidationError
from magnetar.workflows.cleaning import CleaningConfig


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
    assert cfg.rule == "peer"  # None falls back to the dataclass default


def test_unknown_key_lists_valid_options():
    with pytest.raises(ConfigError, match="unknown option.*kk.*valid options are.*min_stations"):
        config_from_dict(CleaningConfig, {"kk": 3})


def test_bad_type_names_key():
    with pytest.raises(ConfigError, match="'min_stations'"):
        config_from_dict(CleaningConfig, {"min_stations": "two"})


def test_bad_value_rejected():
    with pytest.raises(ValidationError, match="rule must be one of peer, published, sharp"):
        CleaningConfig(rule="magic")


def test_invalid_toml_names_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("k = = 3")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(CleaningConfig, path)


def test_toml_text_skips_none():
    text = config_to_toml(CleaningConfig())
    assert "\ncomponents" not in text
    assert "\nk = " not in text  # None: the rule's own default threshold
    assert 'rule = "peer"' in text
    assert "amplitude_ratio = 4.0" in text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -1.0])
def test_non_finite_or_non_positive_k_refused(value):
    with pytest.raises(ValidationError, match="k must be a positive finite number"):
        CleaningConfig(k=value)


def test_threshold_follows_rule():
    assert CleaningConfig().threshold == 6.0
    assert CleaningConfig(rule="published").threshold == 3.0
    assert CleaningConfig(rule="published", k=4.5).threshold == 4.5


def test_even_sharp_window_refused():
    # the check sat after a return and never ran
    with pytest.raises(ValidationError, match="sharp_window must be odd"):
        CleaningConfig(rule="sharp", sharp_window=4)


def test_nested_table_with_a_misspelt_key_is_refused_at_load(tmp_path):
    pytest.importorskip("torch")
    from magnetar.workflows.lma.run import LMAConfig

    path = tmp_path / "lma.toml"
    path.write_text("[lma]\ntrain = {epochz = 3}\n")
    with pytest.raises(ConfigError, match="table 'train'.*unknown option.*epochz.*epochs"):
        load_config(LMAConfig, path, section="lma")


def test_nested_dataclass_table_is_checked_key_by_key():
    pytest.importorskip("torch")
    from magnetar.training.reconstruction import TrainConfig

    with pytest.raises(ConfigError, match="table 'corruption'.*unknown option.*noise"):
        config_from_dict(TrainConfig, {"corruption": {"noise": 3.0}})
    cfg = config_from_dict(TrainConfig, {"corruption": {"noise_nT": "3"}})
    assert cfg.corruption.noise_nT == 3.0  # converted as a flag value would be
