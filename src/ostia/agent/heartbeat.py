"""The heartbeat message, Octavia's version 3 (INVENTORY §5.1): the JSON message compressed
with zlib, followed by the hex HMAC-SHA256 of the compressed bytes under the shared heartbeat
key. Shared by the agent (which sends) and the health manager (which receives): the agent may
import nothing else of Ostia.

Beyond Octavia's fields the message carries ``ts``, the sender's clock when it was sent, so
the receiver can refuse old messages replayed to it after its own restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from collections.abc import Callable
from typing import Any

VERSION = 3
DIGEST_HEX_SIZE = hashlib.sha256().digest_size * 2
# Octavia's receiver reads at most this much of a datagram.
MAX_SIZE = 64 * 1024


class InvalidHeartbeat(ValueError):
    """A datagram that is not a heartbeat signed with our key."""


def _digest(payload: bytes, key: bytes) -> bytes:
    return hmac.digest(key, payload, "sha256").hex().encode("ascii")


def encode(message: dict[str, Any], key: bytes) -> bytes:
    payload = zlib.compress(json.dumps(message, separators=(",", ":")).encode("utf-8"), 9)
    return payload + _digest(payload, key)


def decode(
    datagram: bytes, key: bytes, loads: Callable[[bytes], Any] = json.loads
) -> dict[str, Any]:
    """The message of a datagram whose signature matches ``key``; raises InvalidHeartbeat.
    (The health manager passes a faster JSON parser than the agent has.)"""
    if len(datagram) <= DIGEST_HEX_SIZE:
        raise InvalidHeartbeat("too short to be a heartbeat")
    payload, digest = datagram[:-DIGEST_HEX_SIZE], datagram[-DIGEST_HEX_SIZE:]
    if not hmac.compare_digest(digest, _digest(payload, key)):
        raise InvalidHeartbeat("HMAC mismatch")
    try:
        message = loads(zlib.decompress(payload))
    except (zlib.error, ValueError) as exc:
        raise InvalidHeartbeat(f"undecodable payload: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("id"), str):
        raise InvalidHeartbeat("no amphora id")
    if not isinstance(message.get("seq"), int) or message.get("ver") != VERSION:
        raise InvalidHeartbeat("not a version 3 heartbeat with a sequence number")
    if not isinstance(message.get("listeners"), dict) or not isinstance(message.get("pools"), dict):
        raise InvalidHeartbeat("no listeners or pools")
    return message
