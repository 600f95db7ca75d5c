"""The Fernet key repository, laid out as Keystone's: one key per file, named by its index.

``0`` is the staged key (the next primary), the highest index is the primary key (tokens are
encrypted with it), the others are secondary keys that still decrypt the tokens issued before
a rotation. The repository is created on first use: the directory with mode 0700, each key
file with mode 0600. Several processes may share it (or a copy of it, as Keystone's
``fernet_rotate`` plus a file sync does).
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

# Keystone's default [fernet_tokens] max_active_keys: the staged, the primary, one secondary.
MAX_ACTIVE_KEYS = 3


class KeyRepository:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._loaded: tuple[int, MultiFernet] | None = None

    def fernet(self) -> MultiFernet:
        """The keys, primary first; read again whenever the directory has changed."""
        with self._lock:
            self._setup()
            stamp = self.path.stat().st_mtime_ns
            if self._loaded is None or self._loaded[0] != stamp:
                keys = self._read()
                primary = max(keys)
                ordered = [keys[primary]] + [keys[i] for i in sorted(keys, reverse=True)[1:]]
                self._loaded = (stamp, MultiFernet([Fernet(k) for k in ordered]))
            return self._loaded[1]

    def rotate(self, max_active_keys: int = MAX_ACTIVE_KEYS) -> int:
        """Keystone's rotation: the staged key becomes the primary, a new key is staged, the
        oldest secondary keys beyond ``max_active_keys`` are removed. Returns the new
        primary key's index."""
        with self._lock:
            self._setup()
            keys = self._read()
            primary = max(keys) + 1
            os.replace(self.path / "0", self.path / str(primary))
            self._write_new(0)
            indexes = sorted([*keys, primary])
            indexes.remove(0)
            for index in indexes[: max(0, len(indexes) + 1 - max_active_keys)]:
                (self.path / str(index)).unlink(missing_ok=True)
            self._loaded = None
            return primary

    def _setup(self) -> None:
        if self.path.is_dir() and (self.path / "0").exists():
            return
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for index in (0, 1):
            self._write_new(index)

    def _read(self) -> dict[int, bytes]:
        keys = {}
        for entry in self.path.iterdir():
            if entry.name.isdigit():
                keys[int(entry.name)] = entry.read_bytes().strip()
        if len(keys) < 2:
            raise RuntimeError(f"the Fernet key repository {self.path} has fewer than 2 keys")
        return keys

    def _write_new(self, index: int) -> None:
        """Write a new key as ``index`` unless another process has just done so."""
        final = self.path / str(index)
        temporary = self.path / f".{index}.{secrets.token_hex(8)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(Fernet.generate_key())
            os.link(temporary, final)
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
