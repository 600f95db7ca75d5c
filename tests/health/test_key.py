"""The heartbeat key: the configured one, or one generated once and kept, readable by root
only, for every later start (the agents already running hold it)."""

from __future__ import annotations

from pathlib import Path

from ostia.config import Settings
from ostia.health.key import heartbeat_key


def test_a_generated_key_is_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = heartbeat_key(settings)
    assert len(key) == 64
    assert heartbeat_key(Settings(data_dir=tmp_path / "data")) == key
    assert (tmp_path / "data" / "heartbeat_key").stat().st_mode & 0o777 == 0o600
    assert heartbeat_key(Settings(data_dir=tmp_path / "other")) != key


def test_the_configured_key_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, health={"heartbeat_key": "s3cret"})  # type: ignore[arg-type]
    assert heartbeat_key(settings) == "s3cret"
    assert not (tmp_path / "heartbeat_key").exists()
