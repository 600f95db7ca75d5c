"""Configuration changes HAProxy can take without a reload.

A member's weight and its admin state (``disabled``) can be changed on a running HAProxy
through its runtime API; anything else (a member added or removed, its backup flag, which
HAProxy cannot change at runtime, any other setting) needs the new configuration loaded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class _Server:
    weight: str | None
    disabled: bool
    rest: list[str]

    @classmethod
    def parse(cls, words: list[str]) -> _Server:
        weight, rest, skip = None, [], False
        for index, word in enumerate(words):
            if skip:
                skip = False
            elif word == "weight" and index + 1 < len(words):
                weight, skip = words[index + 1], True
            elif word != "disabled":
                rest.append(word)
        return cls(weight, "disabled" in words, rest)


def _split(text: str) -> tuple[list[str], dict[tuple[str, str], list[str]]]:
    """The configuration's lines other than ``server`` lines, and the words of each server
    line by (backend, server name). Servers are matched by name, not by position, as the
    order of members with the same creation time may differ between two renderings."""
    others: list[str] = []
    servers: dict[tuple[str, str], list[str]] = {}
    backend: str | None = None
    for line in text.splitlines():
        words = line.split()
        if line[:1].strip():  # a section starts
            backend = words[1] if words[:1] == ["backend"] and len(words) > 1 else None
        if backend is not None and words[:1] == ["server"] and len(words) > 1:
            servers[(backend, words[1])] = words
        else:
            others.append(line)
    return others, servers


def runtime_commands(current: str, new: str) -> list[str] | None:
    """The runtime API commands that make an HAProxy running ``current`` behave as ``new``
    would, when the two differ only in servers' weights and ``disabled`` flags; None when
    ``new`` must be loaded (reloaded) instead."""
    old_others, old_servers = _split(current)
    new_others, new_servers = _split(new)
    if old_others != new_others or old_servers.keys() != new_servers.keys():
        return None
    commands: list[str] = []
    for (backend, name), words in new_servers.items():
        before, after = _Server.parse(old_servers[(backend, name)]), _Server.parse(words)
        if before.rest != after.rest or after.weight is None:
            return None
        server = f"{backend}/{name}"
        if before.weight != after.weight:
            commands.append(f"set server {server} weight {after.weight}")
        if before.disabled != after.disabled:
            commands.append(f"set server {server} state {'maint' if after.disabled else 'ready'}")
    return commands
