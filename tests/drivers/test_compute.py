"""The compute driver: an amphora booted as a namespace with its agent, reached over mutual TLS
from the controller's namespace, booted again without a second agent, outliving the process
that booted it, and deleted without anything left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from ostia.certificates.ca import LocalCA
from ostia.drivers.compute import AgentFiles, ComputeError, NetnsCompute
from ostia.drivers.fabric import Fabric, PortPlug, veth_name
from ostia.drivers.netns import namespace_exists, namespace_pids
from tests.drivers.site import AgentCaller, link, new_port, wait_for

pytestmark = pytest.mark.slow

BOOT_IN_A_CHILD = """
import json, sys
from pathlib import Path
from ostia.drivers.compute import AgentFiles, NetnsCompute
from ostia.drivers.fabric import Fabric, PortPlug
args = json.loads(sys.argv[1])
compute = NetnsCompute(args["prefix"], Path(args["amphora_dir"]), Fabric(args["prefix"]))
files = AgentFiles(Path(args["server_pem"]).read_bytes(), Path(args["client_ca"]).read_bytes())
compute.boot(args["amphora_id"], PortPlug(**args["port"]), args["cidr"], {}, files)
"""


@dataclass
class Cloud:
    """A site with its management network, the controller on it, and a CA."""

    fabric: Fabric
    compute: NetnsCompute
    ca: LocalCA
    caller: AgentCaller
    management_network: str
    base: Path

    def files(self, amphora_id: str, address: str) -> AgentFiles:
        server = self.ca.issue_server_certificate(amphora_id, address)
        return AgentFiles(server_pem=server.bundle, client_ca_pem=self.ca.certificate_pem)

    def boot(self, address: str, agent: dict[str, object] | None = None) -> tuple[str, PortPlug]:
        amphora_id, port = str(uuid.uuid4()), new_port(self.management_network)
        self.compute.boot(
            amphora_id,
            port,
            f"{address}/24",
            {"topology": "SINGLE"} if agent is None else agent,
            self.files(amphora_id, address),
        )
        return amphora_id, port


@pytest.fixture
def cloud(fabric: Fabric, tmp_path: Path) -> Iterator[Cloud]:
    ca = LocalCA.create()
    (tmp_path / "ca.pem").write_bytes(ca.certificate_pem)
    (tmp_path / "client.pem").write_bytes(ca.issue_client_certificate().bundle)
    network = str(uuid.uuid4())
    controller = fabric.attach_controller(new_port(network), "10.242.0.2/24")
    caller = AgentCaller(controller, tmp_path / "ca.pem", tmp_path / "client.pem")
    compute = NetnsCompute(fabric.prefix, tmp_path / "amphorae", fabric)
    yield Cloud(fabric, compute, ca, caller, network, tmp_path)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_boot_reach_and_delete(cloud: Cloud) -> None:
    amphora_id, port = cloud.boot("10.242.0.11")
    compute = cloud.compute
    namespace = compute.namespace(amphora_id)
    assert namespace == f"{cloud.fabric.prefix}-a{amphora_id.replace('-', '')[:12]}"
    assert compute.status(amphora_id) == "ACTIVE"

    assert cloud.caller.get("10.242.0.11", amphora_id, "/") == (200, {"api_version": "1.0"})
    assert cloud.caller.get("10.242.0.11", amphora_id, "/1.0/interface/10.242.0.11") == (
        200,
        {"message": "OK", "interface": "mgmt0"},
    )
    mgmt = link(namespace, "mgmt0")
    assert mgmt is not None and mgmt["address"] == port.mac_address

    directory = compute.directory(amphora_id)
    assert directory == cloud.base / "amphorae" / amphora_id
    assert directory.stat().st_mode & 0o777 == 0o755
    assert (directory / "server.pem").stat().st_mode & 0o777 == 0o600
    assert json.loads((directory / "agent.json").read_text()) == {
        "amphora_id": amphora_id,
        "bind_host": "10.242.0.11",
        "topology": "SINGLE",
    }

    agent = compute.agent_pid(amphora_id)
    assert agent is not None
    leftover = subprocess.Popen(
        ["ip", "netns", "exec", namespace, "sleep", "600"], start_new_session=True
    )
    try:
        wait_for(lambda: leftover.pid in namespace_pids(namespace), what="the leftover")
        compute.delete(amphora_id)
        assert compute.status(amphora_id) == "MISSING"
        assert not namespace_exists(namespace)
        assert not alive(agent)
        assert leftover.wait(5) == -signal.SIGTERM
        assert not directory.exists()
        assert link(cloud.fabric.namespace, veth_name(port.port_id)) is None
        compute.delete(amphora_id)
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait(5)


def test_boot_twice_keeps_the_running_agent(cloud: Cloud) -> None:
    amphora_id = str(uuid.uuid4())
    port = new_port(cloud.management_network)
    files = cloud.files(amphora_id, "10.242.0.11")
    cloud.compute.boot(amphora_id, port, "10.242.0.11/24", {}, files)
    first = cloud.compute.agent_pid(amphora_id)
    cloud.compute.boot(amphora_id, port, "10.242.0.11/24", {}, files)
    assert cloud.compute.agent_pid(amphora_id) == first
    log = (cloud.compute.directory(amphora_id) / "agent.log").read_text()
    assert log.count(f"amphora {amphora_id}: listening on 10.242.0.11:9443") == 1
    assert cloud.caller.get("10.242.0.11", amphora_id, "/")[0] == 200


def test_a_stopped_agent_is_shutoff_and_boot_starts_it_again(cloud: Cloud) -> None:
    amphora_id, port = cloud.boot("10.242.0.11")
    first = cloud.compute.agent_pid(amphora_id)
    assert first is not None
    os.kill(first, signal.SIGTERM)
    wait_for(lambda: not alive(first), what="the agent to stop")
    assert cloud.compute.status(amphora_id) == "SHUTOFF"
    files = cloud.files(amphora_id, "10.242.0.11")
    cloud.compute.boot(amphora_id, port, "10.242.0.11/24", {}, files)
    assert cloud.compute.status(amphora_id) == "ACTIVE"
    assert cloud.compute.agent_pid(amphora_id) not in (None, first)
    assert cloud.caller.get("10.242.0.11", amphora_id, "/")[0] == 200


def test_the_agent_outlives_the_process_that_booted_it(cloud: Cloud) -> None:
    amphora_id, port = str(uuid.uuid4()), new_port(cloud.management_network)
    files = cloud.files(amphora_id, "10.242.0.12")
    (cloud.base / "server.pem").write_bytes(files.server_pem)
    (cloud.base / "client_ca.pem").write_bytes(files.client_ca_pem)
    args = {
        "prefix": cloud.fabric.prefix,
        "amphora_dir": str(cloud.base / "amphorae"),
        "amphora_id": amphora_id,
        "port": asdict(port),
        "cidr": "10.242.0.12/24",
        "server_pem": str(cloud.base / "server.pem"),
        "client_ca": str(cloud.base / "client_ca.pem"),
    }
    # Captured output: the booter's pipes must not be held open by the agent.
    booter = subprocess.run(
        [sys.executable, "-c", BOOT_IN_A_CHILD, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert booter.returncode == 0, booter.stderr
    assert cloud.compute.status(amphora_id) == "ACTIVE"
    agent = cloud.compute.agent_pid(amphora_id)
    assert agent is not None
    assert cloud.caller.get("10.242.0.12", amphora_id, "/")[0] == 200
    cloud.compute.delete(amphora_id)
    assert cloud.compute.status(amphora_id) == "MISSING"
    assert not alive(agent)


def test_an_agent_that_cannot_start_is_reported(cloud: Cloud) -> None:
    with pytest.raises(ComputeError, match=r"exited with code 2: .*unknown option\(s\): colour"):
        cloud.boot("10.242.0.11", {"colour": "blue"})
    (amphora_id,) = [path.name for path in (cloud.base / "amphorae").iterdir()]
    assert cloud.compute.status(amphora_id) == "SHUTOFF"
