"""Cross-process wake-ups on PostgreSQL: LISTEN for the API's NOTIFY."""

from __future__ import annotations

import logging
import threading

import psycopg
from sqlalchemy.engine import make_url

from ostia.db.notify import CHANNEL, WorkSignal

LOG = logging.getLogger(__name__)


def _libpq_url(sqlalchemy_url: str) -> str:
    url = make_url(sqlalchemy_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class NotifyListener:
    """Sets the work signal whenever another process announces work."""

    def __init__(self, url: str, signal: WorkSignal) -> None:
        self.url = _libpq_url(url)
        self.signal = signal
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pg-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=0.2, stop_after=1):
                            self.signal.event.set()
            except psycopg.Error as exc:
                LOG.warning("lost the PostgreSQL notification channel (%s); reconnecting", exc)
                self._stop.wait(1.0)
