"""``ostia-agent --config <dir>/agent.json``: run the amphora agent in the foreground.

It logs to ``agent.log`` and writes its pid to ``agent.pid`` in that directory, and stops its
HAProxy and keepalived on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from ostia.agent import scripts
from ostia.agent.api import Agent
from ostia.agent.config import ConfigError, load
from ostia.agent.process import command_line, pid_from_file
from ostia.agent.sender import HeartbeatSender
from ostia.agent.server import AgentServer, tls_context

log = logging.getLogger("ostia.agent")


def _claim_pid_file(path: Path) -> bool:
    """Write our pid, unless another agent of this directory runs."""
    other = pid_from_file(path)
    if other is not None and other != os.getpid():
        if any("ostia" in part for part in command_line(other)):
            return False
    path.write_text(f"{os.getpid()}\n")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ostia-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="path of agent.json")
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except (OSError, ConfigError) as exc:
        print(f"ostia-agent: {args.config}: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        filename=config.log_file,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not _claim_pid_file(config.pid_file):
        log.error("another agent runs for %s", config.directory)
        print(f"ostia-agent: another agent runs for {config.directory}", file=sys.stderr)
        return 1
    try:
        scripts.install(config.directory)
        agent = Agent(config, args.config.resolve())
        server = AgentServer(
            (config.bind_host, config.bind_port),
            agent.router,
            tls_context(config.server_cert, config.client_ca, config.agent_tls_protocol),
            config.agent_request_read_timeout,
        )
    except (OSError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        print(f"ostia-agent: {exc}", file=sys.stderr)
        config.pid_file.unlink(missing_ok=True)
        return 1

    def rotate_certificate() -> None:
        server.context = tls_context(
            config.server_cert, config.client_ca, config.agent_tls_protocol
        )

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        # shutdown() waits for serve_forever(), which runs in this (the main) thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    agent.on_certificate = rotate_certificate
    sender = HeartbeatSender(
        config.amphora_id,
        config.heartbeat_key,
        config.heartbeat_interval,
        list(config.controller_ip_port_list),
        config.file("stats_counters.json"),
        stats_socket=lambda: agent.haproxy.stats_socket() if agent.haproxy.running else None,
        silent=lambda: agent.state.keepalived and not agent.keepalived.running,
    )
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        agent.restore()
        # A replaced amphora may have had this management address with another MAC.
        agent.ip.announce([ipaddress.ip_address(config.bind_host)])
        log.info(
            "amphora %s: listening on %s:%d", config.amphora_id, config.bind_host, config.bind_port
        )
        if config.controller_ip_port_list:
            sender.start()
        server.serve_forever(poll_interval=0.2)
    finally:
        sender.stop()
        agent.shutdown()
        server.server_close()
        config.pid_file.unlink(missing_ok=True)
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
