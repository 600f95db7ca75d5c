"""The health manager over real UDP: a heartbeat signed with the shared key is applied; one
with another key, or a replay of an applied one, is counted and changes nothing."""

from __future__ import annotations

import socket
import time

from ostia.agent import heartbeat
from ostia.health.manager import HealthManager
from tests.conftest import Ostia
from tests.dataplane.hosts import wait_for
from tests.health.test_apply import Tree, add_amphora
from tests.helpers import Api

KEY = "the site's heartbeat key"


def test_only_signed_fresh_heartbeats_are_applied(ostia: Ostia, api: Api) -> None:
    tree = Tree(api)
    amp_id = add_amphora(ostia.db, tree.lb)
    manager = HealthManager(ostia.db, KEY, "127.0.0.1", 0)
    manager.start()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(statuses: list[str], seq: int, key: str = KEY) -> bytes:
        message = tree.heartbeat(amp_id, statuses).message | {"seq": seq, "ts": time.time()}
        datagram = heartbeat.encode(message, key.encode())
        sender.sendto(datagram, ("127.0.0.1", manager.port))
        return datagram

    try:
        good = send(["UP", "UP", "DOWN"], seq=10)
        wait_for(lambda: manager.totals.applied == 1, timeout=10, what="the heartbeat applied")
        assert tree.statuses()["members"] == ["ONLINE", "ONLINE", "ERROR"]

        send(["DOWN", "DOWN", "DOWN"], seq=11, key="a guessed key")
        sender.sendto(good, ("127.0.0.1", manager.port))  # replayed as it was
        send(["DOWN", "DOWN", "DOWN"], seq=9)  # an older sequence number
        counters = manager.verifier.counters

        def checked() -> tuple[int, int, int] | None:
            found = (counters.verified, counters.invalid, counters.replayed)
            return found if sum(found) == 4 else None

        assert wait_for(checked, timeout=10, what="every datagram checked") == (1, 1, 2)
        time.sleep(0.2)  # a batch in flight would have been written by now
        assert manager.totals.applied == 1
        assert tree.statuses()["members"] == ["ONLINE", "ONLINE", "ERROR"]
    finally:
        sender.close()
        manager.stop()
