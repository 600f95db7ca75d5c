"""What the controller asked of this amphora (``state.json``), so that a restarted agent brings
HAProxy and keepalived back as they were, as Octavia's enabled systemd units do."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ostia.agent import files


@dataclass
class State:
    loadbalancer_id: str | None = None
    haproxy: bool = False  # asked to run
    keepalived: bool = False  # asked to run

    @classmethod
    def load(cls, path: Path) -> State:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        return cls(
            loadbalancer_id=raw.get("loadbalancer_id"),
            haproxy=bool(raw.get("haproxy")),
            keepalived=bool(raw.get("keepalived")),
        )

    def save(self, path: Path) -> None:
        files.write(path, json.dumps(asdict(self)).encode())
