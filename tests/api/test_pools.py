"""Pools through the API: create on a load balancer or a listener, Octavia's validation rules
(session persistence, backend TLS, protocols, algorithms), update with null meaning default,
delete, the 409 cases, list conventions and project isolation."""

from __future__ import annotations

from typing import Any

import pytest

from ostia.config import Settings
from tests.helpers import (
    OTHER_PROJECT,
    PROJECT,
    Api,
    create_health_monitor,
    create_l7policy,
    create_lb,
    create_listener,
    create_pool,
    expect,
    fault,
    new_id,
    wait_for_lb,
)

POOLS = "/v2/lbaas/pools"
DEFAULT_TLS_VERSIONS = ["TLSv1.2", "TLSv1.3"]
DEFAULT_ALPN = ["h2", "http/1.1", "http/1.0"]


def show(api: Api, kind: str, object_id: str) -> dict[str, Any]:
    key = {"loadbalancers": "loadbalancer", "listeners": "listener", "pools": "pool"}[kind]
    return dict(expect(api.get(f"/v2/lbaas/{kind}/{object_id}"), 200)[key])


def post_pool(api: Api, **fields: Any) -> Any:
    body = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", **fields}
    return api.post(POOLS, {"pool": body})


def put_pool(api: Api, pool_id: str, **fields: Any) -> Any:
    return api.put(f"{POOLS}/{pool_id}", {"pool": fields})


class TestCreate:
    def test_listener_default_pool_goes_through_pending(self, api: Api, ostia: Any) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        ostia.controller.stop()
        pool = expect(post_pool(api, listener_id=listener["id"]), 201)["pool"]
        assert pool["provisioning_status"] == "PENDING_CREATE"
        assert pool["operating_status"] == "OFFLINE"
        assert pool["listeners"] == [{"id": listener["id"]}]
        assert pool["loadbalancers"] == [{"id": lb["id"]}]
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
        assert show(api, "listeners", listener["id"])["provisioning_status"] == "PENDING_UPDATE"
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert show(api, "pools", pool["id"])["provisioning_status"] == "ACTIVE"
        settled = show(api, "listeners", listener["id"])
        assert settled["provisioning_status"] == "ACTIVE"
        assert settled["default_pool_id"] == pool["id"]

    def test_pool_on_load_balancer_leaves_listeners_alone(self, api: Api, ostia: Any) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        ostia.controller.stop()
        pool = expect(post_pool(api, loadbalancer_id=lb["id"]), 201)["pool"]
        assert pool["listeners"] == []
        assert show(api, "listeners", listener["id"])["provisioning_status"] == "ACTIVE"
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert show(api, "listeners", listener["id"])["default_pool_id"] is None

    def test_defaults(self, api: Api) -> None:
        lb = create_lb(api)
        pool = expect(post_pool(api, loadbalancer_id=lb["id"]), 201)["pool"]
        assert pool["name"] == "" and pool["description"] == ""
        assert pool["admin_state_up"] is True
        assert pool["session_persistence"] is None
        assert pool["healthmonitor_id"] is None
        assert pool["members"] == [] and pool["tags"] == []
        assert pool["project_id"] == PROJECT == pool["tenant_id"]
        assert pool["tls_enabled"] is False
        for name in ("tls_container_ref", "ca_tls_container_ref", "crl_container_ref"):
            assert pool[name] is None
        for name in ("tls_ciphers", "tls_versions", "alpn_protocols"):
            assert pool[name] is None
        assert pool["created_at"] and pool["updated_at"] is None

    def test_given_fields(self, api: Api, settings: Settings) -> None:
        lb = create_lb(api)
        pool = expect(
            post_pool(
                api,
                loadbalancer_id=lb["id"],
                name="web",
                description="the web pool",
                admin_state_up=None,
                lb_algorithm="SOURCE_IP",
                tags=["b", "a"],
                project_id=OTHER_PROJECT,
                session_persistence={"type": "APP_COOKIE", "cookie_name": "session"},
                tls_enabled=True,
                tls_container_ref="cert",
                ca_tls_container_ref="ca",
                crl_container_ref="crl",
            ),
            201,
        )["pool"]
        assert pool["name"] == "web" and pool["description"] == "the web pool"
        assert pool["admin_state_up"] is False
        assert pool["lb_algorithm"] == "SOURCE_IP"
        assert pool["tags"] == ["a", "b"]
        assert pool["project_id"] == PROJECT  # the load balancer's, whatever the body says
        assert pool["session_persistence"] == {
            "type": "APP_COOKIE",
            "cookie_name": "session",
            "persistence_timeout": None,
            "persistence_granularity": None,
        }
        assert (pool["tls_container_ref"], pool["ca_tls_container_ref"]) == ("cert", "ca")
        assert pool["crl_container_ref"] == "crl"
        assert pool["tls_ciphers"] == settings.api.default_pool_ciphers
        assert pool["tls_versions"] == DEFAULT_TLS_VERSIONS
        assert pool["alpn_protocols"] == DEFAULT_ALPN

    def test_needs_a_parent_that_exists(self, api: Api) -> None:
        lb = create_lb(api)
        other_lb = create_lb(api)
        listener = create_listener(api, other_lb["id"])
        assert (
            fault(post_pool(api), 400)
            == "Validation failure: Must provide at least one of: loadbalancer_id, listener_id"
        )
        missing = new_id()
        assert (
            fault(post_pool(api, loadbalancer_id=missing), 404)
            == f"Load Balancer {missing} not found."
        )
        assert fault(post_pool(api, listener_id=missing), 404) == f"Listener {missing} not found."
        message = fault(post_pool(api, loadbalancer_id=lb["id"], listener_id=listener["id"]), 404)
        assert message == f"Listener {listener['id']} not found."
        assert expect(api.get(POOLS), 200)["pools"] == []

    def test_listener_protocol_rules(self, api: Api) -> None:
        lb = create_lb(api)
        http = create_listener(api, lb["id"], protocol="HTTP", protocol_port=80)
        tcp = create_listener(api, lb["id"], protocol="TCP", protocol_port=81)
        stats = create_listener(api, lb["id"], protocol="PROMETHEUS", protocol_port=8123)
        message = fault(post_pool(api, listener_id=http["id"], protocol="TCP"), 400)
        assert message == (
            "Validation failure: The pool protocol 'TCP' is invalid while the listener "
            "protocol is 'HTTP'."
        )
        message = fault(post_pool(api, listener_id=stats["id"]), 400)
        assert message == "Protocol PROMETHEUS listeners cannot have child objects."
        expect(post_pool(api, listener_id=tcp["id"], protocol="PROXYV2"), 201)

    def test_listener_with_a_default_pool(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        create_pool(api, lb["id"], listener_id=listener["id"])
        message = fault(post_pool(api, loadbalancer_id=lb["id"], listener_id=listener["id"]), 409)
        assert message == "This listener already has a default pool"

    @pytest.mark.parametrize(
        ("protocol", "persistence", "message"),
        [
            (
                "HTTP",
                {"type": "HTTP_COOKIE", "cookie_name": "c"},
                'Field "cookie_name" can only be specified with session persistence of type '
                '"APP_COOKIE".',
            ),
            (
                "HTTP",
                {"type": "APP_COOKIE"},
                'Field "cookie_name" must be specified when using the "APP_COOKIE" session '
                "persistence type.",
            ),
            (
                "HTTP",
                {"type": "APP_COOKIE", "cookie_name": "a=b"},
                'Supplied "cookie_name" is invalid.',
            ),
            (
                "HTTP",
                {"type": "SOURCE_IP", "persistence_timeout": 3},
                "persistence_timeout and persistence_granularity is only for UDP and SCTP "
                "protocol pools.",
            ),
            (
                "UDP",
                {"type": "SOURCE_IP", "cookie_name": "c", "persistence_timeout": 3},
                "session_persistence SOURCE_IP type for UDP and SCTP protocols only accepts: "
                "type, persistence_timeout, persistence_granularity.",
            ),
            (
                "SCTP",
                {"type": "APP_COOKIE", "cookie_name": "c"},
                "Cookie names are not supported for UDP/SCTP pools.",
            ),
            (
                "UDP",
                {"type": "HTTP_COOKIE"},
                "Session persistence of type HTTP_COOKIE is not supported for UDP/SCTP "
                "protocol pools.",
            ),
        ],
    )
    def test_session_persistence_rules(
        self, api: Api, protocol: str, persistence: dict[str, Any], message: str
    ) -> None:
        lb = create_lb(api)
        response = post_pool(
            api, loadbalancer_id=lb["id"], protocol=protocol, session_persistence=persistence
        )
        assert fault(response, 400) == f"Validation failure: {message}"
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "ACTIVE"
        assert expect(api.get(POOLS), 200)["pools"] == []

    def test_udp_source_ip_persistence(self, api: Api) -> None:
        lb = create_lb(api)
        persistence = {
            "type": "SOURCE_IP",
            "persistence_timeout": 60,
            "persistence_granularity": "255.255.255.0",
        }
        pool = expect(
            post_pool(
                api, loadbalancer_id=lb["id"], protocol="UDP", session_persistence=persistence
            ),
            201,
        )["pool"]
        assert pool["session_persistence"] == {**persistence, "cookie_name": None}

    def test_cookie_name_pattern_is_checked_with_the_body(self, api: Api) -> None:
        lb = create_lb(api)
        persistence = {"type": "APP_COOKIE", "cookie_name": "two words"}
        message = fault(
            post_pool(api, loadbalancer_id=lb["id"], session_persistence=persistence), 400
        )
        assert message.startswith(
            "Invalid input for field/attribute cookie_name. Value: 'two words'."
        )

    def test_tls_rules(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.api.tls_cipher_prohibit_list = "RC4-MD5:DES-CBC3-SHA"
        settings.api.minimum_tls_version = "TLSv1.2"
        api: Api = request.getfixturevalue("api")
        lb = create_lb(api)
        cases = [
            (
                {"crl_container_ref": "crl"},
                "A CA certificate reference is required to specify a revocation list.",
            ),
            (
                {"tls_enabled": True, "tls_versions": []},
                "Empty TLS version list. Either specify at least one TLS version or remove "
                "this parameter to use the default.",
            ),
            ({"tls_enabled": True, "tls_versions": ["TLSv9"]}, "Invalid TLS versions: TLSv9"),
            (
                {"tls_enabled": True, "tls_versions": ["TLSv1.1", "TLSv1.2"]},
                "Requested TLS versions are less than the minimum: TLSv1.1 < TLSv1.2",
            ),
            (
                {"tls_enabled": True, "alpn_protocols": []},
                "Empty ALPN protocol list. Either specify at least one ALPN protocol or "
                "remove this parameter to use the default.",
            ),
            (
                {"tls_ciphers": "AES256 SHA"},
                "Invalid characters in cipher string. Only alphanumeric, -, +, !, :, @, =, _, "
                "and . are allowed.",
            ),
            (
                {"tls_ciphers": "ECDHE-RSA-AES128-GCM-SHA256:RC4-MD5:DES-CBC3-SHA"},
                "The following ciphers have been prohibited by an administrator: RC4-MD5, "
                "DES-CBC3-SHA",
            ),
        ]
        for fields, message in cases:
            response = post_pool(api, loadbalancer_id=lb["id"], **fields)
            assert fault(response, 400) == f"Validation failure: {message}", fields
        assert expect(api.get(POOLS), 200)["pools"] == []
        pool = expect(
            post_pool(
                api,
                loadbalancer_id=lb["id"],
                tls_enabled=True,
                tls_versions=["TLSv1.3"],
                tls_ciphers="ECDHE-RSA-AES128-GCM-SHA256",
                alpn_protocols=["h2"],
            ),
            201,
        )["pool"]
        assert pool["tls_versions"] == ["TLSv1.3"] and pool["alpn_protocols"] == ["h2"]
        assert pool["tls_ciphers"] == "ECDHE-RSA-AES128-GCM-SHA256"

    def test_amphora_refuses_source_ip_port(self, api: Api) -> None:
        lb = create_lb(api)
        message = fault(
            post_pool(api, loadbalancer_id=lb["id"], lb_algorithm="SOURCE_IP_PORT"), 501
        )
        assert message == (
            "Provider 'octavia' does not support a requested option: Amphora provider does not "
            "support SOURCE_IP_PORT algorithm."
        )
        assert expect(api.get(POOLS), 200)["pools"] == []
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "ACTIVE"

    def test_quota(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.quotas.default_pool_quota = 1
        api: Api = request.getfixturevalue("api")
        lb = create_lb(api)
        create_pool(api, lb["id"])
        message = fault(post_pool(api, loadbalancer_id=lb["id"]), 403)
        assert message == "Quota has been met for resources: Pool"

    def test_bad_bodies(self, api: Api) -> None:
        lb = create_lb(api)
        fault(api.post(POOLS, {"pool": {"loadbalancer_id": lb["id"], "protocol": "HTTP"}}), 400)
        fault(post_pool(api, loadbalancer_id=lb["id"], protocol="TERMINATED_HTTPS"), 400)
        message = fault(post_pool(api, loadbalancer_id=lb["id"], color="blue"), 400)
        assert message == "Unknown attribute for argument pool: color"


class TestLocks:
    def test_pending_load_balancer_refuses_changes(self, api: Api, ostia: Any) -> None:
        lb = create_lb(api)
        pool = create_pool(api, lb["id"])
        ostia.controller.stop()
        expect(put_pool(api, pool["id"], name="x"), 200)
        immutable = f"Load Balancer {lb['id']} is immutable and cannot be updated."
        assert fault(post_pool(api, loadbalancer_id=lb["id"]), 409) == immutable
        assert fault(put_pool(api, pool["id"], name="y"), 409) == immutable
        assert fault(api.delete(f"{POOLS}/{pool['id']}"), 409) == immutable
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert show(api, "pools", pool["id"])["name"] == "x"


class TestUpdate:
    def test_update_goes_through_pending(self, api: Api, ostia: Any) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        pool = create_pool(api, lb["id"], listener_id=listener["id"], tags=["old"])
        ostia.controller.stop()
        updated = expect(
            put_pool(
                api,
                pool["id"],
                name="new",
                description="d",
                admin_state_up=False,
                lb_algorithm="LEAST_CONNECTIONS",
                tags=["new"],
            ),
            200,
        )["pool"]
        assert updated["provisioning_status"] == "PENDING_UPDATE"
        assert (updated["name"], updated["description"]) == ("new", "d")
        assert updated["admin_state_up"] is False
        assert updated["lb_algorithm"] == "LEAST_CONNECTIONS" and updated["tags"] == ["new"]
        assert updated["updated_at"] is not None
        assert show(api, "listeners", listener["id"])["provisioning_status"] == "PENDING_UPDATE"
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert show(api, "pools", pool["id"])["provisioning_status"] == "ACTIVE"
        assert show(api, "listeners", listener["id"])["provisioning_status"] == "ACTIVE"

    def test_null_means_default(self, api: Api, settings: Settings) -> None:
        lb = create_lb(api)
        pool = create_pool(
            api,
            lb["id"],
            name="n",
            tls_enabled=True,
            tls_versions=["TLSv1.3"],
            tls_ciphers="ECDHE-RSA-AES128-GCM-SHA256",
            tags=["kept"],
        )
        updated = expect(
            put_pool(
                api,
                pool["id"],
                name=None,
                admin_state_up=None,
                tls_versions=None,
                tls_ciphers=None,
                tags=None,
            ),
            200,
        )["pool"]
        assert updated["name"] == "" and updated["admin_state_up"] is False
        assert updated["tls_versions"] == DEFAULT_TLS_VERSIONS
        assert updated["tls_ciphers"] == settings.api.default_pool_ciphers
        assert updated["tags"] == ["kept"]
        wait_for_lb(api, lb["id"])
        message = fault(put_pool(api, pool["id"], lb_algorithm=None), 400)
        assert message == "None is not a valid option for lb_algorithm"

    def test_session_persistence_changes(self, api: Api) -> None:
        lb = create_lb(api)
        pool = create_pool(api, lb["id"])
        message = fault(put_pool(api, pool["id"], session_persistence={"cookie_name": "c"}), 400)
        assert message == "Validation failure: Invalid session_persistence provided."
        persistence = {"type": "APP_COOKIE", "cookie_name": "first"}
        expect(put_pool(api, pool["id"], session_persistence=persistence), 200)
        wait_for_lb(api, lb["id"])
        # Without a type, the stored one is kept.
        updated = expect(
            put_pool(api, pool["id"], session_persistence={"cookie_name": "second"}), 200
        )
        assert updated["pool"]["session_persistence"]["type"] == "APP_COOKIE"
        assert updated["pool"]["session_persistence"]["cookie_name"] == "second"
        wait_for_lb(api, lb["id"])
        message = fault(
            put_pool(api, pool["id"], session_persistence={"persistence_timeout": 5}), 400
        )
        assert message == (
            "Validation failure: persistence_timeout and persistence_granularity is only for "
            "UDP protocol pools."
        )
        removed = expect(put_pool(api, pool["id"], session_persistence=None), 200)["pool"]
        assert removed["session_persistence"] is None

    def test_udp_session_persistence_update(self, api: Api) -> None:
        lb = create_lb(api)
        pool = create_pool(api, lb["id"], protocol="UDP")
        message = fault(put_pool(api, pool["id"], session_persistence={"type": "APP_COOKIE"}), 400)
        assert message == (
            "Validation failure: Session persistence of type APP_COOKIE is not supported for "
            "UDP/SCTP protocol pools."
        )
        persistence = {"type": "SOURCE_IP", "persistence_timeout": 30}
        updated = expect(put_pool(api, pool["id"], session_persistence=persistence), 200)["pool"]
        assert updated["session_persistence"]["persistence_timeout"] == 30

    def test_update_validation(self, api: Api) -> None:
        lb = create_lb(api)
        with_crl = create_pool(api, lb["id"], ca_tls_container_ref="ca", crl_container_ref="crl")
        without_ca = create_pool(api, lb["id"])
        cases = [
            (
                with_crl,
                {"ca_tls_container_ref": None},
                400,
                "Validation failure: A CA reference cannot be removed when a certificate "
                "revocation list is present.",
            ),
            (
                without_ca,
                {"crl_container_ref": "crl"},
                400,
                "Validation failure: A CA reference is required to specify a certificate "
                "revocation list.",
            ),
            (
                without_ca,
                {"tls_versions": []},
                400,
                "Validation failure: Empty TLS version list. Either specify at least one TLS "
                "version or remove this parameter to use the default.",
            ),
            (
                without_ca,
                {"alpn_protocols": []},
                400,
                "Validation failure: Empty ALPN protocol list. Either specify at least one ALPN "
                "protocol or remove this parameter to use the default.",
            ),
            (
                without_ca,
                {"lb_algorithm": "SOURCE_IP_PORT"},
                501,
                "Provider 'octavia' does not support a requested option: Amphora provider does "
                "not support SOURCE_IP_PORT algorithm.",
            ),
            (without_ca, {"protocol": "TCP"}, 400, "Unknown attribute for argument pool: protocol"),
            (
                without_ca,
                {"loadbalancer_id": lb["id"]},
                400,
                "Unknown attribute for argument pool: loadbalancer_id",
            ),
        ]
        for pool, fields, status, message in cases:
            assert fault(put_pool(api, pool["id"], **fields), status) == message, fields
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "ACTIVE"
        assert show(api, "pools", without_ca["id"])["lb_algorithm"] == "ROUND_ROBIN"
        # Replacing CA and CRL together is fine.
        expect(
            put_pool(api, with_crl["id"], ca_tls_container_ref="ca2", crl_container_ref="c2"), 200
        )


class TestDelete:
    def test_delete_goes_through_pending(self, api: Api, ostia: Any) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        pool = create_pool(api, lb["id"], listener_id=listener["id"])
        ostia.controller.stop()
        response = api.delete(f"{POOLS}/{pool['id']}")
        assert response.status_code == 204 and response.content == b""
        assert show(api, "pools", pool["id"])["provisioning_status"] == "PENDING_DELETE"
        assert show(api, "listeners", listener["id"])["provisioning_status"] == "PENDING_UPDATE"
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert fault(api.get(f"{POOLS}/{pool['id']}"), 404) == f"Pool {pool['id']} not found."
        assert show(api, "listeners", listener["id"])["default_pool_id"] is None

    def test_pool_used_by_an_l7_policy(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        pool = create_pool(api, lb["id"])
        policy = create_l7policy(
            api, lb["id"], listener["id"], action="REDIRECT_TO_POOL", redirect_pool_id=pool["id"]
        )
        message = fault(api.delete(f"{POOLS}/{pool['id']}"), 409)
        assert message == f"Pool {pool['id']} is in use by L7 policy {policy['id']}"
        assert show(api, "pools", pool["id"])["provisioning_status"] == "ACTIVE"

    def test_unknown_pool(self, api: Api) -> None:
        missing = new_id()
        for response in (
            api.get(f"{POOLS}/{missing}"),
            put_pool(api, missing, name="x"),
            api.delete(f"{POOLS}/{missing}"),
        ):
            assert fault(response, 404) == f"Pool {missing} not found."


class TestList:
    def test_filters(self, api: Api) -> None:
        lb = create_lb(api)
        other_lb = create_lb(api)
        a = create_pool(api, lb["id"], name="a")
        b = create_pool(api, lb["id"], name="b", protocol="TCP", lb_algorithm="LEAST_CONNECTIONS")
        c = create_pool(api, other_lb["id"], name="c", admin_state_up=False, tls_enabled=True)
        monitor = create_health_monitor(api, lb["id"], a["id"])

        def names(**params: Any) -> list[str]:
            pools = expect(api.get(POOLS, params={"sort": "name", **params}), 200)["pools"]
            return [p["name"] for p in pools]

        assert names() == ["a", "b", "c"]
        assert names(protocol="HTTP") == ["a", "c"]
        assert names(lb_algorithm="LEAST_CONNECTIONS") == ["b"]
        assert names(admin_state_up="false") == ["c"]
        assert names(tls_enabled="true") == ["c"]
        assert names(tls_versions="TLSv1.3") == ["c"]
        assert names(loadbalancer_id=lb["id"]) == ["a", "b"]
        assert names(healthmonitor_id=monitor["id"]) == ["a"]
        assert names(id=b["id"]) == ["b"]
        assert names(name="a", protocol="TCP") == []
        assert names(project_id=PROJECT) == ["a", "b", "c"]
        assert names(operating_status="OFFLINE", provisioning_status="ACTIVE") == ["a", "b", "c"]
        assert c["tls_enabled"] is True
        message = fault(api.get(POOLS, params={"listener_id": new_id()}), 400)
        assert message == "One or more arguments are either duplicate or invalid"

    def test_tag_filters(self, api: Api) -> None:
        lb = create_lb(api)
        create_pool(api, lb["id"], name="ab", tags=["a", "b"])
        create_pool(api, lb["id"], name="b", tags=["b"])
        create_pool(api, lb["id"], name="none")

        def names(**params: Any) -> list[str]:
            pools = expect(api.get(POOLS, params={"sort": "name", **params}), 200)["pools"]
            return [p["name"] for p in pools]

        assert names(tags="a,b") == ["ab"]
        assert names(**{"tags-any": "a,b"}) == ["ab", "b"]
        assert names(**{"not-tags": "a,b"}) == ["b", "none"]
        assert names(**{"not-tags-any": "a"}) == ["b", "none"]

    def test_sorting_pagination_and_fields(self, api: Api) -> None:
        lb = create_lb(api)
        for name in ("p1", "p2", "p3"):
            create_pool(api, lb["id"], name=name)
        body = expect(api.get(POOLS, params={"sort": "name:desc"}), 200)
        assert [p["name"] for p in body["pools"]] == ["p3", "p2", "p1"]
        assert body["pools_links"] == []
        body = expect(api.get(POOLS, params={"sort_key": "name", "sort_dir": "asc"}), 200)
        assert [p["name"] for p in body["pools"]] == ["p1", "p2", "p3"]
        first = expect(api.get(POOLS, params={"sort": "name", "limit": 2}), 200)
        assert [p["name"] for p in first["pools"]] == ["p1", "p2"]
        [following] = first["pools_links"]
        assert following["rel"] == "next"
        assert f"marker={first['pools'][1]['id']}" in following["href"]
        assert following["href"].startswith("http://testserver/v2/lbaas/pools?")
        marker = first["pools"][1]["id"]
        second = expect(api.get(POOLS, params={"sort": "name", "limit": 2, "marker": marker}), 200)
        assert [p["name"] for p in second["pools"]] == ["p3"]
        assert [link["rel"] for link in second["pools_links"]] == ["previous"]
        fields = expect(api.get(POOLS, params={"fields": ["id", "name"]}), 200)["pools"]
        assert all(set(p) == {"id", "name"} for p in fields)
        one = expect(api.get(f"{POOLS}/{first['pools'][0]['id']}", params={"fields": "name"}), 200)
        assert one == {"pool": {"name": "p1"}}
        fault(api.get(POOLS, params={"sort": "color"}), 400)
        fault(api.get(POOLS, params={"marker": new_id()}), 400)


class TestProjects:
    def test_isolation(self, api: Api) -> None:
        mine = create_lb(api)
        my_pool = create_pool(api, mine["id"], name="mine")
        other = api.as_user(OTHER_PROJECT, "member")
        their_lb = create_lb(other)
        their_pool = create_pool(other, their_lb["id"], name="theirs")
        assert their_pool["project_id"] == OTHER_PROJECT
        listed = expect(other.get(POOLS), 200)["pools"]
        assert [p["id"] for p in listed] == [their_pool["id"]]
        path = f"{POOLS}/{my_pool['id']}"
        forbidden = "Policy does not allow this request to be performed."
        assert fault(other.get(path), 403) == forbidden
        assert fault(other.put(path, {"pool": {"name": "stolen"}}), 403) == forbidden
        assert fault(other.delete(path), 403) == forbidden
        assert fault(post_pool(other, loadbalancer_id=mine["id"]), 403) == forbidden
        assert fault(other.get(POOLS, params={"project_id": PROJECT}), 403) == forbidden
        everything = expect(api.get(POOLS), 200)["pools"]
        assert {p["name"] for p in everything} == {"mine", "theirs"}

    def test_reader_is_read_only(self, api: Api) -> None:
        lb = create_lb(api)
        pool = create_pool(api, lb["id"])
        reader = api.as_user(PROJECT, "reader")
        assert expect(reader.get(f"{POOLS}/{pool['id']}"), 200)["pool"]["id"] == pool["id"]
        assert len(expect(reader.get(POOLS), 200)["pools"]) == 1
        fault(post_pool(reader, loadbalancer_id=lb["id"]), 403)
        fault(put_pool(reader, pool["id"], name="x"), 403)
        fault(reader.delete(f"{POOLS}/{pool['id']}"), 403)
        assert show(api, "pools", pool["id"])["name"] == ""
