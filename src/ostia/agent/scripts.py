"""Scripts the agent installs in its directory for the configurations the controller renders:

- ``ping-check.sh``: HAProxy's ``external-check command`` for PING health monitors (as
  Octavia's ping wrapper). HAProxy runs it as its unprivileged user, with an empty PATH and
  ``<proxy address> <proxy port> <server address> <server port>`` as arguments;
- ``haproxy-check <stats socket>``: for keepalived's ``vrrp_script``; it fails while HAProxy is
  asked to run (``state.json``) and its stats socket does not answer ``show info``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ostia.agent import files

PING_CHECK = "ping-check.sh"
HAPROXY_CHECK = "haproxy-check"

_PING_CHECK = """#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
exec ping -q -n -c 1 -W 1 "$3" > /dev/null 2>&1
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


def install(directory: Path) -> None:
    files.write(directory / PING_CHECK, _PING_CHECK.encode(), 0o755)
    check = _HAPROXY_CHECK.format(python=sys.executable)
    files.write(directory / HAPROXY_CHECK, check.encode(), 0o700)
