"""Password hashes: scrypt from the standard library, a salt per password, compared in
constant time. Stored as ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (base64), so the cost can be
raised later without invalidating the passwords already stored."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
# About 50 ms and 16 MiB per hash.
COST_N = 2**14
BLOCK_SIZE_R = 8
PARALLELISM_P = 1
SALT_BYTES = 16
HASH_BYTES = 32


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES, maxmem=64 * 1024 * 1024
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, COST_N, BLOCK_SIZE_R, PARALLELISM_P)
    return f"{SCHEME}${COST_N}${BLOCK_SIZE_R}${PARALLELISM_P}${_b64(salt)}${_b64(digest)}"


@functools.cache
def _dummy_hash() -> str:
    """Checked when there is no user or no stored hash, so that a missing user costs as much
    time as a wrong password and the answer's delay tells nothing."""
    return hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored``; a missing hash never matches."""
    try:
        scheme, n, r, p, salt, digest = (stored or _dummy_hash()).split("$")
        if scheme != SCHEME:
            return False
        computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest)) and stored is not None
