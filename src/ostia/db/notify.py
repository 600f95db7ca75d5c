"""Telling the controller that the API has written work for it.

Within one process (``ostia up``) an event wakes the reconciler at once. Across processes
on PostgreSQL a ``NOTIFY`` sent inside the writing transaction is delivered when it
commits; elsewhere the reconciler's short poll finds the work.
"""

from __future__ import annotations

import threading

from sqlalchemy import text
from sqlalchemy.orm import Session

CHANNEL = "ostia_work"


class WorkSignal:
    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.event = threading.Event()

    def announce(self, session: Session) -> None:
        """Call inside the writing transaction: other processes hear of it on commit."""
        if self.backend == "postgresql":
            session.execute(text(f"NOTIFY {CHANNEL}"))

    def wake(self) -> None:
        """Call after the commit: wakes a reconciler in this process."""
        self.event.set()
