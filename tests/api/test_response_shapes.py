"""Every response carries exactly the attributes its documented (OpenAPI) model lists."""

from __future__ import annotations

from pydantic import BaseModel

from ostia.api.schemas.healthmonitor import HealthMonitorResponse
from ostia.api.schemas.l7policy import L7PolicyFullResponse, L7PolicyResponse
from ostia.api.schemas.l7rule import L7RuleResponse
from ostia.api.schemas.listener import ListenerFullResponse, ListenerResponse
from ostia.api.schemas.loadbalancer import LoadBalancerFullResponse, LoadBalancerResponse
from ostia.api.schemas.member import MemberResponse
from ostia.api.schemas.pool import PoolFullResponse, PoolResponse
from tests.api.test_loadbalancers import full_graph
from tests.helpers import Api, expect, wait_for_lb


def check(model: type[BaseModel], item: dict[str, object]) -> None:
    assert set(item) == set(model.model_fields), (
        f"{model.__name__}: {set(item) ^ set(model.model_fields)}"
    )
    model.model_validate(item)


def test_every_object_has_its_documented_shape(api: Api) -> None:
    created = expect(api.post("/v2/lbaas/loadbalancers", {"loadbalancer": full_graph()}), 201)
    lb = created["loadbalancer"]
    check(LoadBalancerFullResponse, lb)
    check(ListenerFullResponse, lb["listeners"][0])
    check(L7PolicyFullResponse, lb["listeners"][0]["l7policies"][0])
    check(PoolFullResponse, lb["pools"][0])
    wait_for_lb(api, lb["id"])
    check(
        LoadBalancerResponse,
        expect(api.get(f"/v2/lbaas/loadbalancers/{lb['id']}"), 200)["loadbalancer"],
    )
    listener = expect(api.get("/v2/lbaas/listeners"), 200)["listeners"][0]
    check(ListenerResponse, listener)
    pool = expect(api.get(f"/v2/lbaas/pools/{lb['pools'][0]['id']}"), 200)["pool"]
    check(PoolResponse, pool)
    check(
        MemberResponse, expect(api.get(f"/v2/lbaas/pools/{pool['id']}/members"), 200)["members"][0]
    )
    check(
        HealthMonitorResponse, expect(api.get("/v2/lbaas/healthmonitors"), 200)["healthmonitors"][0]
    )
    policy = expect(api.get("/v2/lbaas/l7policies"), 200)["l7policies"][0]
    check(L7PolicyResponse, policy)
    check(
        L7RuleResponse,
        expect(api.get(f"/v2/lbaas/l7policies/{policy['id']}/rules"), 200)["rules"][0],
    )
