"""Heartbeat messages (Octavia's version 3) and their checks at the receiver: only a message
signed with the shared key, fresh and with a new sequence number, is ever used."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import zlib
from typing import Any

import pytest

from ostia.agent import heartbeat
from ostia.health.receiver import Verifier

KEY = b"the shared heartbeat key"
AMPHORA = "a0a0a0a0-0000-4000-8000-000000000001"


def message(seq: int = 1, sent: float | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": AMPHORA,
        "seq": seq,
        "ver": 3,
        "ts": time.time() if sent is None else sent,
        "listeners": {"l1": {"status": "OPEN", "stats": {"rx": 10, "tx": 20}}},
        "pools": {"p1:l1": {"status": "UP", "members": {"m1": "UP"}}},
        **extra,
    }


def test_round_trip_is_octavias_layout() -> None:
    original = message()
    datagram = heartbeat.encode(original, KEY)
    payload, digest = datagram[:-64], datagram[-64:]
    # zlib-compressed JSON, then the hex HMAC-SHA256 of the compressed bytes.
    assert json.loads(zlib.decompress(payload)) == original
    assert digest == hmac.new(KEY, payload, hashlib.sha256).hexdigest().encode()
    assert heartbeat.decode(datagram, KEY) == original


def test_wrong_key_is_refused() -> None:
    with pytest.raises(heartbeat.InvalidHeartbeat, match="HMAC"):
        heartbeat.decode(heartbeat.encode(message(), b"another key"), KEY)


@pytest.mark.parametrize("position", [0, 10, -70, -1])
def test_any_tampered_byte_is_refused(position: int) -> None:
    datagram = bytearray(heartbeat.encode(message(), KEY))
    datagram[position] ^= 0x01
    with pytest.raises(heartbeat.InvalidHeartbeat):
        heartbeat.decode(bytes(datagram), KEY)


def test_signed_garbage_is_refused() -> None:
    payload = zlib.compress(b'{"id": "x"}')
    signed = payload + hmac.new(KEY, payload, hashlib.sha256).hexdigest().encode()
    with pytest.raises(heartbeat.InvalidHeartbeat):
        heartbeat.decode(signed, KEY)
    with pytest.raises(heartbeat.InvalidHeartbeat):
        heartbeat.decode(b"short", KEY)


def test_verifier_counts_what_it_drops() -> None:
    verifier = Verifier(KEY, replay_window=30.0)
    now = time.time()

    def check(datagram: bytes) -> bool:
        return verifier.check(datagram, time.monotonic(), now) is not None

    first = heartbeat.encode(message(seq=5), KEY)
    assert check(first)
    assert not check(first)  # the same message again
    assert not check(heartbeat.encode(message(seq=4), KEY))  # an older one
    assert not check(heartbeat.encode(message(seq=6), b"wrong key"))
    assert not check(heartbeat.encode(message(seq=7, sent=now - 60), KEY))  # too old
    assert not check(heartbeat.encode(message(seq=8, ts=None), KEY))  # no time
    assert check(heartbeat.encode(message(seq=9), KEY))
    # Sequence numbers are per amphora.
    assert check(heartbeat.encode(message(seq=1, id="another amphora"), KEY))
    counters = verifier.counters
    assert (counters.received, counters.verified, counters.invalid, counters.replayed) == (
        8,
        3,
        1,
        4,
    )
