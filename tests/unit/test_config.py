"""Configuration: defaults that work at once, a TOML file, environment variables on top."""

from __future__ import annotations

from pathlib import Path

import pytest

from ostia.config import load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OSTIA_CONFIG", raising=False)
    monkeypatch.setenv("OSTIA_DATA_DIR", str(tmp_path))
    settings = load_settings()
    assert (settings.api.bind_host, settings.api.bind_port) == ("127.0.0.1", 9876)
    assert settings.database_url == f"sqlite:///{tmp_path / 'ostia.sqlite'}"
    assert settings.api.default_provider_driver == "octavia"
    assert settings.quotas.default_load_balancer_quota == -1


def test_file_then_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "ostia.toml"
    config.write_text(
        '[api]\nbind_port = 9999\npagination_max_limit = "50"\n'
        '[database]\nurl = "postgresql://ostia@db/ostia"\n'
        "[quotas]\ndefault_pool_quota = 7\n"
    )
    monkeypatch.setenv("OSTIA_API__BIND_PORT", "9000")
    settings = load_settings(config)
    assert settings.api.bind_port == 9000  # the environment wins
    assert settings.api.pagination_max_limit == "50"
    assert settings.database_url == "postgresql://ostia@db/ostia"
    assert settings.quotas.default_pool_quota == 7


def test_config_from_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "other.toml"
    config.write_text("[controller]\nworkers = 9\n")
    monkeypatch.setenv("OSTIA_CONFIG", str(config))
    assert load_settings().controller.workers == 9


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")


def test_unknown_option_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("colour = 'red'\n")
    with pytest.raises(ValueError, match="colour"):
        load_settings(config)
