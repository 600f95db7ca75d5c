"""Which configuration changes the controller applies through HAProxy's runtime API instead of
a reload."""

from __future__ import annotations

from ostia.controller.haproxy_changes import runtime_commands

BACKEND = "5c9a1a5e-5b8f-4c0e-9d1e-1f6a2b3c4d01:0e2f4a6c-8b1d-4e3f-a5c7-9d0b2e4f6a02"


def config(*servers: str, maxconn: int = 4000) -> str:
    lines = [
        "global",
        f"    maxconn {maxconn}",
        "",
        "frontend 0e2f4a6c-8b1d-4e3f-a5c7-9d0b2e4f6a02",
        "    bind 10.0.0.10:80",
        f"    default_backend {BACKEND}",
        "",
        f"backend {BACKEND}",
        "    balance roundrobin",
        *(f"    server {server}" for server in servers),
    ]
    return "\n".join(lines) + "\n"


M1 = "m1 10.0.1.1:80 weight 1"
M2 = "m2 10.0.1.2:80 weight 1"


def test_nothing_changed_needs_no_command() -> None:
    assert runtime_commands(config(M1, M2), config(M1, M2)) == []


def test_weight_and_admin_state_are_runtime_commands() -> None:
    new = config("m1 10.0.1.1:80 weight 0", "m2 10.0.1.2:80 weight 1 disabled")
    assert runtime_commands(config(M1, M2), new) == [
        f"set server {BACKEND}/m1 weight 0",
        f"set server {BACKEND}/m2 state maint",
    ]
    assert runtime_commands(new, config(M1, M2)) == [
        f"set server {BACKEND}/m1 weight 1",
        f"set server {BACKEND}/m2 state ready",
    ]


def test_servers_are_matched_by_name_not_position() -> None:
    new = config("m2 10.0.1.2:80 weight 5", M1)
    assert runtime_commands(config(M1, M2), new) == [f"set server {BACKEND}/m2 weight 5"]


def test_other_changes_need_a_reload() -> None:
    current = config(M1, M2)
    assert runtime_commands(current, config(M1, M2, "m3 10.0.1.3:80 weight 1")) is None
    assert runtime_commands(current, config(M1)) is None
    assert runtime_commands(current, config(M1, "m2 10.0.1.2:80 weight 1 backup")) is None
    assert runtime_commands(current, config(M1, "m2 10.0.1.9:80 weight 1")) is None
    assert runtime_commands(current, config(M1, M2, maxconn=3000)) is None
