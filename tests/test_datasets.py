import hashlib

import pytest

from magnetar import datasets
from magnetar.errors import DataNotFoundError, ValidationError

NAME = "observatory/bou20141101vmin.min"


def test_registry_names_origin_and_hash():
    entry = datasets.registry()[NAME]
    assert entry.repo == "usgs/geomag-algorithms"
    assert len(entry.sha256) == 64
    assert entry.url.endswith("/etc/iaga2002/BOU/OneMinute/bou20141101vmin.min")
    assert len(datasets.list_files("observatory/brw_ded/")) == 25


def test_local_folder_is_read_first_and_verified(tmp_path, monkeypatch):
    content = b"not the real file"
    target = tmp_path / NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(DataNotFoundError, match="does not match the registered"):
        datasets.fetch(NAME, download=False)


def test_strict_mode_fails_instead_of_downloading(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(datasets.STRICT_ENV, "1")
    with pytest.raises(DataNotFoundError, match="not in the local data folder"):
        datasets.fetch(NAME)


def test_unknown_name_suggests():
    with pytest.raises(ValidationError, match="not a registered dataset file"):
        datasets.fetch("observatory/nope.min")


@pytest.mark.realdata
def test_every_registered_file_is_present_and_intact(registered):
    for name in datasets.list_files("observatory/"):
        path = registered(name)
        assert hashlib.sha256(path.read_bytes()).hexdigest() == datasets.registry()[name].sha256


def test_a_download_is_announced_with_origin_size_and_the_offline_variable(
        tmp_path, monkeypatch, caplog):
    import pooch

    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path / "empty"))
    monkeypatch.delenv(datasets.STRICT_ENV, raising=False)
    monkeypatch.setattr(pooch, "os_cache", lambda name: tmp_path / "cache")
    fetched = tmp_path / "cache" / "x"

    def fake_retrieve(**kwargs):
        fetched.parent.mkdir(parents=True, exist_ok=True)
        fetched.write_text("x")
        return str(fetched)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    with caplog.at_level("WARNING", logger="magnetar.datasets"):
        assert datasets.fetch(NAME) == fetched
    entry = datasets.registry()[NAME]
    message = caplog.text
    assert entry.url in message
    assert f"{entry.size / 1e6:.1f} MB" in message
    assert datasets.DATA_DIR_ENV in message
