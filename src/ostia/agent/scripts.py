"""Scripts the agent installs in its directory for the configurations the controller renders:

- ``ping-wrapper.sh``: HAProxy's ``external-check command`` for PING health monitors (as
  Octavia's ``/var/lib/octavia/ping-wrapper.sh``);
- ``haproxy-check <stats socket>``: keepalived's ``vrrp_script``; it fails while HAProxy is
  asked to run (``state.json``) and its stats socket does not answer.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PING_WRAPPER = "ping-wrapper.sh"
HAPROXY_CHECK = "haproxy-check"

_PING_WRAPPER = """#!/bin/sh
case "$HAPROXY_SERVER_ADDR" in
  *:*) exec /bin/ping -6 -q -n -w 1 -c 1 "$HAPROXY_SERVER_ADDR" > /dev/null 2>&1 ;;
  *) exec /bin/ping -q -n -w 1 -c 1 "$HAPROXY_SERVER_ADDR" > /dev/null 2>&1 ;;
esac
"""

_HAPROXY_CHECK = """#!{python} -I
import json, pathlib, socket, sys

state = pathlib.Path(__file__).with_name("state.json")
try:
    wanted = json.loads(state.read_text()).get("haproxy", False)
except (OSError, ValueError):
    wanted = False
if not wanted:
    sys.exit(0)
try:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1)
        sock.connect(sys.argv[1])
        sock.sendall(b"show info\\n")
        answer = sock.recv(4096)
except OSError:
    sys.exit(1)
sys.exit(0 if answer.startswith(b"Name:") else 1)
"""


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.replace(tmp, path)


def install(directory: Path) -> None:
    _write(directory / PING_WRAPPER, _PING_WRAPPER)
    _write(directory / HAPROXY_CHECK, _HAPROXY_CHECK.format(python=sys.executable))
