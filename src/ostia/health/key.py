"""The heartbeat key shared by the health manager and the agents: ``[health] heartbeat_key``,
or one generated on first use and kept in ``<data_dir>/heartbeat_key``."""

from __future__ import annotations

import os
import secrets

from ostia.config import Settings

KEY_FILE = "heartbeat_key"


def heartbeat_key(settings: Settings) -> str:
    if settings.health.heartbeat_key:
        return settings.health.heartbeat_key
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)  # whole, and only if no other controller was first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
