"""What the reconciler asks of a data plane, and the noop data plane for API-level use.

A provider receives the load balancer with its whole tree loaded (detached from any
session, so it may take as long as it needs without holding a database transaction) and
makes the running load balancer match it. Every method must be idempotent: after a crash
the reconciler simply calls it again.
"""

from __future__ import annotations

import time
from typing import Protocol

from ostia.db.models import LoadBalancer


class ProviderUnavailable(RuntimeError):
    """The configured data plane cannot run here; the controller does not start."""


class Provider(Protocol):
    def apply(self, lb: LoadBalancer) -> None:
        """Make the data plane run ``lb`` as it now stands (create or update)."""

    def failover(self, lb: LoadBalancer) -> None:
        """Replace the load balancer's amphorae and run ``lb`` on the new ones."""

    def delete(self, lb: LoadBalancer) -> None:
        """Remove everything the data plane runs for ``lb``."""


class NoopProvider:
    """Accepts everything, runs nothing: like Octavia's noop drivers, for API tests.

    ``step_delay`` makes each call take that long, so that tests and demonstrations can
    interrupt a controller while it holds work.
    """

    def __init__(self, step_delay: float = 0.0) -> None:
        self.step_delay = step_delay

    def _step(self) -> None:
        if self.step_delay > 0:
            time.sleep(self.step_delay)

    def apply(self, lb: LoadBalancer) -> None:
        self._step()

    def failover(self, lb: LoadBalancer) -> None:
        self._step()

    def delete(self, lb: LoadBalancer) -> None:
        self._step()
