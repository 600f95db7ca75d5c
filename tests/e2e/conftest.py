"""The real OpenStack clients against a real Ostia process: ``ostia up`` in keystone mode with
managed networks, on SQLite in a temporary data directory, one server per test module.

The ``openstack`` command runs as a subprocess with a ``clouds.yaml`` of its own. It starts
slowly (about two seconds of imports), so the bulk of the commands go through one process
reading them from its standard input, as its interactive mode does; each command's output
is still the JSON it prints alone.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ADMIN_PASSWORD = "e2e-admin-secret"
# The user of project "other" that the tests create; clouds.yaml has it as cloud "other".
OTHER_PASSWORD = "e2e-other-secret"
START_SECONDS = 30.0
CLI_SECONDS = 120.0
OPENSTACK = str(Path(sys.executable).with_name("openstack"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """``ostia up`` on 127.0.0.1, with its identity at ``auth_url``."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def auth_url(self) -> str:
        return f"{self.url}/identity/v3"

    @property
    def log(self) -> str:
        return (self.data_dir / "ostia.log").read_text(errors="replace")


def _ostia(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ostia.cli", *args], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def _wait_until_serving(server: Server) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"ostia up exited with {server.process.returncode}:\n{server.log}")
        try:
            if httpx.get(f"{server.url}/", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"ostia up did not answer within {START_SECONDS} s:\n{server.log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Ostia with its admin bootstrapped, serving until the module's tests are done."""
    data_dir = tmp_path_factory.mktemp("ostia-e2e")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OSTIA_", "OS_"))},
        "OSTIA_DATA_DIR": str(data_dir),
        "OSTIA_API__AUTH_STRATEGY": "keystone",
        "OSTIA_NETWORKING__MODE": "managed",
        "OSTIA_IDENTITY__PUBLIC_URL": url,
    }
    _ostia(env, "db", "upgrade")
    _ostia(env, "admin", "bootstrap", "--password", ADMIN_PASSWORD)
    with (data_dir / "ostia.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ostia.cli", "up", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = Server(url=url, data_dir=data_dir, process=process)
    try:
        _wait_until_serving(running)
        yield running
    finally:
        _stop(process)


class CliError(AssertionError):
    pass


@dataclass
class Cli:
    """The ``openstack`` command as the user of one cloud of the ``clouds.yaml``."""

    server: Server
    home: Path
    cloud: str = "admin"

    def as_cloud(self, cloud: str) -> Cli:
        return Cli(self.server, self.home, cloud)

    def process(
        self, args: list[str], stdin: str | None = None, *, cloud: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``openstack ARGS…``, with this cloud of the ``clouds.yaml`` as ``$OS_CLOUD`` (the
        interactive mode takes any argument for a command), or with no configuration at all."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "OSTIA_"))}
        env["HOME"] = str(self.home)
        if cloud:
            env["OS_CLIENT_CONFIG_FILE"] = str(self.home / "clouds.yaml")
            env["OS_CLOUD"] = self.cloud
        return subprocess.run(
            [OPENSTACK, *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=CLI_SECONDS,
        )

    def run(self, command: str) -> Any:
        """One ``openstack COMMAND`` that must succeed: its JSON output, or None when it prints
        nothing."""
        done = self.process(shlex.split(command))
        if done.returncode != 0:
            raise CliError(f"openstack {command} exited {done.returncode}:\n{done.stderr}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def fail(self, command: str) -> str:
        """One command that must fail: the message it prints."""
        done = self.process(shlex.split(command))
        if done.returncode == 0:
            raise CliError(f"openstack {command} succeeded:\n{done.stdout}")
        return done.stderr.strip()

    def batch(self, *commands: str) -> list[Any]:
        """Commands that must all succeed, read by one ``openstack`` from its standard input;
        the JSON documents they print, in order (one for each ``-f json`` command)."""
        listing = "\n".join(commands)
        # The interactive mode splits a line twice (cmd2, then cliff): quotes do not survive.
        assert not {"'", '"'} & set(listing), "quoted arguments need run(), not batch()"
        done = self.process([], stdin=listing + "\n")
        # The interactive mode always exits with 1: a failed command says so on the
        # standard error, or (an unknown command) with text among the JSON documents.
        if done.stderr.strip():
            raise CliError(f"openstack failed on\n{listing}\n{done.stderr}")
        try:
            documents = _documents(done.stdout)
        except json.JSONDecodeError:
            raise CliError(
                f"openstack printed more than JSON on\n{listing}\n{done.stdout}"
            ) from None
        expected = sum("-f json" in command for command in commands)
        assert len(documents) == expected, f"{expected} outputs expected:\n{done.stdout}"
        return documents

    def batches(self, *batches: list[str]) -> list[list[Any]]:
        """Independent batches side by side, as several users would run them: the clients'
        ``--wait`` sleeps three seconds between polls, so sequences of changes, each on its
        own load balancer, take as long together as the longest alone."""
        with ThreadPoolExecutor(max_workers=len(batches)) as pool:
            running = [pool.submit(self.batch, *commands) for commands in batches]
            return [future.result() for future in running]


def _documents(text: str) -> list[Any]:
    """The JSON documents printed one after the other."""
    decoder = json.JSONDecoder()
    found = []
    position = 0
    text = text.strip()
    while position < len(text):
        document, position = decoder.raw_decode(text, position)
        found.append(document)
        while position < len(text) and text[position].isspace():
            position += 1
    return found


def write_clouds(home: Path, auth_url: str, users: dict[str, tuple[str, str]]) -> None:
    """A ``clouds.yaml`` (JSON is YAML) with one cloud per user, named after its project:
    user name → (password, project)."""
    clouds = {
        project: {
            "auth": {
                "auth_url": auth_url,
                "username": name,
                "password": password,
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": "RegionOne",
            "identity_api_version": 3,
        }
        for name, (password, project) in users.items()
    }
    (home / "clouds.yaml").write_text(json.dumps({"clouds": clouds}, indent=2))


@pytest.fixture(scope="module")
def cli(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The ``openstack`` command as the bootstrapped admin."""
    home = tmp_path_factory.mktemp("openstack-home")
    users = {"admin": (ADMIN_PASSWORD, "admin"), "other-user": (OTHER_PASSWORD, "other")}
    write_clouds(home, server.auth_url, users)
    return Cli(server, home)
