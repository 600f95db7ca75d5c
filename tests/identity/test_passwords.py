"""Password hashes: scrypt with a salt of its own per password."""

from __future__ import annotations

from ostia.identity.passwords import hash_password, verify_password


def test_hash_and_verify() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$16384$8$1$")
    assert first != second  # each has its own salt
    assert "correct horse" not in first
    assert verify_password("correct horse", first)
    assert verify_password("correct horse", second)
    assert not verify_password("correct horsE", first)
    assert not verify_password("", first)


def test_nothing_else_verifies() -> None:
    assert not verify_password("anything", None)
    assert not verify_password("anything", "")
    assert not verify_password("anything", "md5$abc")
    assert not verify_password("x", hash_password("x").replace("scrypt", "bcrypt"))
