"""The reconciler's guarantees: leases are exclusive, failures are retried with backoff and
end in ERROR with the reason kept, and a child's failure does not lock its load balancer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from ostia.config import Settings
from ostia.controller.reconciler import Reconciler
from ostia.db.models import LoadBalancer, ReconcileState, utcnow
from ostia.db.notify import WorkSignal
from tests.conftest import Ostia
from tests.helpers import Api, create_lb, create_listener, expect, wait_for_lb


class FailingProvider:
    """A data plane that refuses every change."""

    def __init__(self) -> None:
        self.calls = 0

    def _fail(self, lb: LoadBalancer) -> None:
        self.calls += 1
        raise RuntimeError(f"agent of {lb.id} unreachable")

    apply = failover = delete = _fail


def _state(ostia: Ostia, lb_id: str) -> ReconcileState:
    with ostia.db.read() as session:
        state = session.get(ReconcileState, lb_id)
        assert state is not None
        return state


def test_lease_is_exclusive_until_it_expires(ostia: Ostia, api: Api) -> None:
    ostia.controller.stop()
    lb = expect(
        api.post(
            "/v2/lbaas/loadbalancers",
            {"loadbalancer": {"vip_subnet_id": "5a7c0ad2-5d1d-4e0a-9d6e-3c3f9bbf6e71"}},
        ),
        201,
    )["loadbalancer"]
    settings = ostia.settings.controller.model_copy(update={"instance_id": "first"})
    first = Reconciler(settings, ostia.db, WorkSignal(ostia.db.backend), FailingProvider())
    second = Reconciler(
        settings.model_copy(update={"instance_id": "second"}),
        ostia.db,
        WorkSignal(ostia.db.backend),
        FailingProvider(),
    )
    assert first.acquire(lb["id"]) is True
    assert second.acquire(lb["id"]) is False
    assert lb["id"] not in second.due_load_balancers()
    with ostia.db.write() as session:
        session.execute(update(ReconcileState).values(lease_expires_at=utcnow().replace(year=2000)))
    assert second.acquire(lb["id"]) is True
    assert _state(ostia, lb["id"]).lease_owner == second.owner


def test_failures_are_retried_then_end_in_error(ostia: Ostia, api: Api, settings: Settings) -> None:
    ostia.controller.stop()
    provider = FailingProvider()
    controller_settings = settings.controller.model_copy(
        update={"max_attempts": 3, "retry_initial_delay": 0.01, "instance_id": "failing"}
    )
    reconciler = Reconciler(controller_settings, ostia.db, ostia.runtime.signal, provider)
    reconciler.start()
    try:
        lb = create_lb(api, wait=False)
        error = wait_for_lb(api, lb["id"], "ERROR")
        assert error["provisioning_status"] == "ERROR"
        assert provider.calls == 3
        assert error["fault"] == f"RuntimeError: agent of {lb['id']} unreachable"
        state = _state(ostia, lb["id"])
        assert state.last_error == f"RuntimeError: agent of {lb['id']} unreachable"
        assert state.lease_owner is None
    finally:
        reconciler.stop()


def test_failed_child_goes_to_error_and_unlocks_the_load_balancer(
    ostia: Ostia, api: Api, settings: Settings
) -> None:
    lb = create_lb(api)
    ostia.controller.stop()
    reconciler = Reconciler(
        settings.controller.model_copy(update={"max_attempts": 1, "instance_id": "child"}),
        ostia.db,
        ostia.runtime.signal,
        FailingProvider(),
    )
    reconciler.start()
    try:
        body: dict[str, Any] = {"loadbalancer_id": lb["id"], "protocol": "TCP", "protocol_port": 22}
        listener = expect(api.post("/v2/lbaas/listeners", {"listener": body}), 201)["listener"]
        wait_for_lb(api, lb["id"], "ACTIVE")
        shown = expect(api.get(f"/v2/lbaas/listeners/{listener['id']}"), 200)["listener"]
        assert shown["provisioning_status"] == "ERROR"
    finally:
        reconciler.stop()
    ostia.controller.start()
    # An ERROR listener can be deleted by its owner, as in Octavia.
    assert api.delete(f"/v2/lbaas/listeners/{listener['id']}").status_code == 204
    wait_for_lb(api, lb["id"])
    assert api.get(f"/v2/lbaas/listeners/{listener['id']}").status_code == 404
    assert create_listener(api, lb["id"], protocol_port=8080)["provisioning_status"] == "ACTIVE"


class RefusedConfiguration(Exception):
    permanent = True


class RefusingProvider(FailingProvider):
    """A data plane whose agent refuses the configuration: retrying cannot help."""

    def _fail(self, lb: LoadBalancer) -> None:
        self.calls += 1
        raise RefusedConfiguration("[ALERT] parsing [haproxy.cfg:12]: unknown keyword 'x'")

    apply = failover = delete = _fail


def test_a_permanent_failure_is_not_retried(ostia: Ostia, api: Api, settings: Settings) -> None:
    ostia.controller.stop()
    provider = RefusingProvider()
    reconciler = Reconciler(
        settings.controller.model_copy(update={"max_attempts": 5, "instance_id": "refused"}),
        ostia.db,
        ostia.runtime.signal,
        provider,
    )
    reconciler.start()
    try:
        lb = create_lb(api, wait=False)
        error = wait_for_lb(api, lb["id"], "ERROR")
        assert provider.calls == 1
        assert error["fault"] == (
            "RefusedConfiguration: [ALERT] parsing [haproxy.cfg:12]: unknown keyword 'x'"
        )
    finally:
        reconciler.stop()
