"""The amphora's keepalived (VRRP only), run in the foreground as the agent's child.

Files in the agent's directory: ``keepalived.conf`` (``keepalived.conf.new`` while validated),
``keepalived.pid`` (the parent) and ``vrrp.pid`` (its VRRP process). The agent runs in the
amphora's namespace, so ``keepalived -t`` sees the interfaces the configuration names.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import signal
import subprocess

from ostia.agent import files
from ostia.agent.config import AgentConfig
from ostia.agent.interfaces import IpAddress
from ostia.agent.process import Child, InvalidConfig, kill_leftover, pid_from_file

log = logging.getLogger(__name__)

ADDRESS_BLOCKS = ("virtual_ipaddress", "virtual_ipaddress_excluded")


def virtual_addresses(config_text: str) -> set[IpAddress]:
    """The addresses of a configuration's ``virtual_ipaddress[_excluded]`` blocks: the first
    word of each entry (``<address>[/<prefix>] [dev …] [label …]``)."""
    found: set[IpAddress] = set()
    inside, previous = False, ""
    for raw in config_text.splitlines():
        words = re.split(r"[#!]", raw, maxsplit=1)[0].replace("{", " { ").replace("}", " } ")
        first = True
        for word in words.split():
            if inside:
                if word == "}":
                    inside = False
                elif first:
                    try:
                        found.add(ipaddress.ip_interface(word).ip)
                    except ValueError:
                        pass
                first = False
            elif word == "{" and previous in ADDRESS_BLOCKS:
                inside, first = True, True
            previous = word
    return found


class Keepalived:
    def __init__(self, config: AgentConfig, child: Child) -> None:
        self.config = config
        self.child = child
        self.conf = config.file("keepalived.conf")
        self.new = config.file("keepalived.conf.new")
        self.pid_file = config.file("keepalived.pid")
        self.vrrp_pid_file = config.file("vrrp.pid")

    @property
    def running(self) -> bool:
        return self.child.running

    def install(self, text: bytes) -> None:
        """Validate a new configuration with ``keepalived -t`` and put it in place."""
        files.write(self.new, text)
        result = subprocess.run(
            [self.config.keepalived_cmd, "-t", "-f", str(self.new)],
            cwd=self.config.directory,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            self.new.unlink()
            raise InvalidConfig((result.stdout + result.stderr).strip())
        os.replace(self.new, self.conf)

    def start(self) -> None:
        """Start keepalived (no-op when running); raises StartError with its output."""
        argv = [
            self.config.keepalived_cmd,
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--no-syslog",
            "--vrrp",
            "--use-file",
            str(self.conf),
            "--pid",
            str(self.pid_file),
            "--vrrp_pid",
            str(self.vrrp_pid_file),
        ]
        self.child.start(argv, lambda: pid_from_file(self.vrrp_pid_file) is not None)

    def stop(self) -> None:
        """SIGTERM: keepalived sends a priority 0 advert and removes its addresses."""
        self.child.stop()

    def reload(self) -> None:
        self.child.signal(signal.SIGHUP)

    def virtual_addresses(self) -> set[IpAddress]:
        try:
            return virtual_addresses(self.conf.read_text())
        except OSError:
            return set()

    def stop_leftovers(self) -> None:
        """Stop keepalived processes an earlier keepalived or agent of this directory left."""
        for pid_file in (self.pid_file, self.vrrp_pid_file):
            kill_leftover(pid_file, str(self.conf))
