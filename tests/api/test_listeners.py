"""Listeners through the API: create with Octavia's defaults and validation rules (ports,
protocols, TLS, header insertion, ACLs, HSTS, default pools), update with null meaning
default, delete, statistics, the 409 cases, list conventions and project isolation."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ostia.config import OWASP_SUITE_B_CIPHERS, Settings
from ostia.db.models import ListenerStatistics
from tests.helpers import (
    OTHER_PROJECT,
    PROJECT,
    Api,
    create_lb,
    create_listener,
    create_pool,
    expect,
    fault,
    new_id,
    wait_for_lb,
)

LISTENERS = "/v2/lbaas/listeners"
DEFAULT_TLS_VERSIONS = ["TLSv1.2", "TLSv1.3"]
DEFAULT_ALPN = ["h2", "http/1.1", "http/1.0"]
SSL_HEADERS = (
    "X-SSL-Client-Verify",
    "X-SSL-Client-Has-Cert",
    "X-SSL-Client-DN",
    "X-SSL-Client-CN",
    "X-SSL-Issuer",
    "X-SSL-Client-SHA1",
    "X-SSL-Client-Not-Before",
    "X-SSL-Client-Not-After",
)


def post(api: Api, lb_id: str, **fields: Any) -> Any:
    body = {"loadbalancer_id": lb_id, "protocol": "HTTP", "protocol_port": 80, **fields}
    return api.post(LISTENERS, {"listener": body})


def put(api: Api, listener_id: str, **fields: Any) -> Any:
    return api.put(f"{LISTENERS}/{listener_id}", {"listener": fields})


def show(api: Api, kind: str, object_id: str) -> dict[str, Any]:
    key = {"loadbalancers": "loadbalancer", "listeners": "listener"}[kind]
    return dict(expect(api.get(f"/v2/lbaas/{kind}/{object_id}"), 200)[key])


def terminated_https(**fields: Any) -> dict[str, Any]:
    return {"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": new_id(), **fields}


def listed(api: Api, query: str = "") -> list[str]:
    return [li["id"] for li in expect(api.get(f"{LISTENERS}{query}"), 200)["listeners"]]


class TestCreate:
    def test_defaults_then_active(self, api: Api, ostia: Any) -> None:
        lb = create_lb(api)
        ostia.controller.stop()
        listener = expect(post(api, lb["id"]), 201)["listener"]
        assert listener["provisioning_status"] == "PENDING_CREATE"
        assert listener["operating_status"] == "OFFLINE"
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
        expected = {
            "name": "",
            "description": "",
            "admin_state_up": True,
            "protocol": "HTTP",
            "protocol_port": 80,
            "connection_limit": -1,
            "default_tls_container_ref": None,
            "sni_container_refs": [],
            "project_id": PROJECT,
            "tenant_id": PROJECT,
            "default_pool_id": None,
            "l7policies": [],
            "insert_headers": {},
            "loadbalancers": [{"id": lb["id"]}],
            "timeout_client_data": 50000,
            "timeout_member_connect": 5000,
            "timeout_member_data": 50000,
            "timeout_tcp_inspect": 0,
            "tags": [],
            "client_ca_tls_container_ref": None,
            "client_authentication": "NONE",
            "client_crl_container_ref": None,
            "allowed_cidrs": None,
            "tls_ciphers": None,
            "tls_versions": None,
            "alpn_protocols": None,
            "hsts_max_age": None,
            "hsts_include_subdomains": False,
            "hsts_preload": False,
        }
        assert {k: listener[k] for k in expected} == expected
        assert listener["created_at"] and listener["updated_at"] is None
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        active = show(api, "listeners", listener["id"])
        assert active["provisioning_status"] == "ACTIVE"
        assert show(api, "loadbalancers", lb["id"])["listeners"] == [{"id": listener["id"]}]

    def test_given_fields_are_kept(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(
            api,
            lb["id"],
            name="web",
            description="front",
            admin_state_up=False,
            connection_limit=100,
            protocol="TCP",
            protocol_port=8080,
            timeout_client_data=1,
            timeout_member_connect=2,
            timeout_member_data=3,
            timeout_tcp_inspect=4,
            tags=["b", "a"],
            allowed_cidrs=["10.0.1.0/24", "10.0.2.7/16", "10.0.1.0/24"],
        )
        assert (listener["name"], listener["description"]) == ("web", "front")
        assert listener["admin_state_up"] is False
        assert (listener["protocol"], listener["protocol_port"]) == ("TCP", 8080)
        assert listener["connection_limit"] == 100
        assert [listener[f"timeout_{n}"] for n in ("client_data", "member_connect")] == [1, 2]
        assert [listener[f"timeout_{n}"] for n in ("member_data", "tcp_inspect")] == [3, 4]
        assert listener["tags"] == ["a", "b"]
        assert listener["allowed_cidrs"] == ["10.0.1.0/24", "10.0.0.0/16"]

    def test_null_means_default(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(
            api,
            lb["id"],
            admin_state_up=None,
            connection_limit=None,
            timeout_client_data=None,
            client_authentication=None,
            sni_container_refs=None,
            insert_headers=None,
        )
        assert listener["admin_state_up"] is False
        assert listener["connection_limit"] == -1
        assert listener["timeout_client_data"] == 50000
        assert listener["client_authentication"] == "NONE"
        assert listener["sni_container_refs"] == [] and listener["insert_headers"] == {}

    def test_timeouts_default_from_settings(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.haproxy.timeout_client_data = 20
        settings.haproxy.timeout_member_connect = 21
        settings.haproxy.timeout_member_data = 22
        settings.haproxy.timeout_tcp_inspect = 23
        api: Api = request.getfixturevalue("api")
        listener = create_listener(api, create_lb(api)["id"])
        timeouts = ("client_data", "member_connect", "member_data", "tcp_inspect")
        assert [listener[f"timeout_{name}"] for name in timeouts] == [20, 21, 22, 23]

    def test_terminated_https_gets_tls_defaults(self, api: Api) -> None:
        lb = create_lb(api)
        sni = [new_id(), new_id()]
        listener = create_listener(api, lb["id"], **terminated_https(sni_container_refs=sni))
        assert listener["tls_ciphers"] == OWASP_SUITE_B_CIPHERS
        assert listener["tls_versions"] == DEFAULT_TLS_VERSIONS
        assert listener["alpn_protocols"] == DEFAULT_ALPN
        assert listener["sni_container_refs"] == sni
        custom = create_listener(
            api,
            lb["id"],
            **terminated_https(
                protocol_port=443,
                tls_ciphers="ECDHE-RSA-AES256-GCM-SHA384",
                tls_versions=["TLSv1.3"],
                alpn_protocols=["http/1.1"],
                client_ca_tls_container_ref="ca",
                client_authentication="MANDATORY",
                client_crl_container_ref="crl",
                hsts_max_age=300,
                hsts_include_subdomains=True,
                hsts_preload=True,
                insert_headers={name: "true" for name in SSL_HEADERS},
            ),
        )
        assert custom["tls_ciphers"] == "ECDHE-RSA-AES256-GCM-SHA384"
        assert (custom["tls_versions"], custom["alpn_protocols"]) == (["TLSv1.3"], ["http/1.1"])
        assert custom["client_authentication"] == "MANDATORY"
        assert custom["client_crl_container_ref"] == "crl"
        assert (custom["hsts_max_age"], custom["hsts_preload"]) == (300, True)
        assert set(custom["insert_headers"]) == set(SSL_HEADERS)

    def test_tls_defaults_follow_settings(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.api.default_listener_ciphers = "AES128-SHA"
        settings.api.default_listener_tls_versions = ["TLSv1.3"]
        settings.api.default_listener_alpn_protocols = ["h2"]
        api: Api = request.getfixturevalue("api")
        listener = create_listener(api, create_lb(api)["id"], **terminated_https())
        assert listener["tls_ciphers"] == "AES128-SHA"
        assert (listener["tls_versions"], listener["alpn_protocols"]) == (["TLSv1.3"], ["h2"])

    def test_project_is_the_load_balancers(self, api: Api) -> None:
        lb = create_lb(api, project_id=OTHER_PROJECT)
        listener = create_listener(api, lb["id"], project_id=PROJECT)
        assert listener["project_id"] == OTHER_PROJECT

    def test_unknown_load_balancer(self, api: Api) -> None:
        lb_id = new_id()
        assert fault(post(api, lb_id), 404) == f"Load Balancer {lb_id} not found."

    def test_schema_errors(self, api: Api) -> None:
        lb = create_lb(api)
        assert fault(post(api, lb["id"], protocol="PROXY"), 400).startswith(
            "Invalid input for field/attribute protocol."
        )
        assert fault(post(api, lb["id"], protocol_port=0), 400).startswith(
            "Invalid input for field/attribute protocol_port."
        )
        message = fault(post(api, lb["id"], allowed_cidrs=["10.0.1.0/33"]), 400)
        assert "Value should be IPv4 or IPv6 CIDR format" in message
        assert fault(post(api, lb["id"], connection_limit=-2), 400).startswith(
            "Invalid input for field/attribute connection_limit."
        )
        assert fault(post(api, lb["id"], timeout_client_data=2073600001), 400).startswith(
            "Invalid input for field/attribute timeout_client_data."
        )
        for name, value in (
            ("default_pool", {"name": "p"}),
            ("l7policies", [{"action": "REJECT"}]),
        ):
            message = fault(post(api, lb["id"], **{name: value}), 400)
            assert message == f"Unknown attribute for argument listener: {name}"
        assert listed(api) == []
        create_listener(api, lb["id"], l7policies=[])


class TestPorts:
    def test_same_l4_protocol_and_port_conflict(self, api: Api) -> None:
        lb = create_lb(api)
        create_listener(api, lb["id"], protocol="HTTP", protocol_port=80)
        for protocol in ("HTTP", "TCP", "HTTPS", "PROMETHEUS"):
            message = fault(post(api, lb["id"], protocol=protocol), 409)
            assert message == (
                "Another Listener on this Load Balancer is already using protocol HTTP "
                "and protocol_port 80"
            )
        message = fault(post(api, lb["id"], **terminated_https()), 409)
        assert "already using protocol HTTP and protocol_port 80" in message

    def test_other_l4_protocols_share_a_port(self, api: Api) -> None:
        lb = create_lb(api)
        create_listener(api, lb["id"], protocol="TCP", protocol_port=53)
        create_listener(api, lb["id"], protocol="UDP", protocol_port=53)
        create_listener(api, lb["id"], protocol="SCTP", protocol_port=53)
        message = fault(post(api, lb["id"], protocol="UDP", protocol_port=53), 409)
        assert message.startswith("Another Listener on this Load Balancer is already using")
        assert "protocol UDP and protocol_port 53" in message
        other_lb = create_lb(api)
        create_listener(api, other_lb["id"], protocol="TCP", protocol_port=53)


class TestValidation:
    def test_udp_and_sctp_refuse_tls_and_headers(self, api: Api) -> None:
        lb = create_lb(api)
        for protocol in ("UDP", "SCTP"):
            message = fault(
                post(api, lb["id"], protocol=protocol, default_tls_container_ref=new_id()), 400
            )
            assert (
                message == f"Validation failure: {protocol} protocol listener does not support TLS."
            )
            message = fault(
                post(api, lb["id"], protocol=protocol, insert_headers={"X-Forwarded-For": "true"}),
                400,
            )
            assert (
                message
                == f"insert-headers is not a valid option for a {protocol} protocol listener."
            )

    def test_certificates_only_where_tls_ends(self, api: Api) -> None:
        lb = create_lb(api)
        for protocol in ("HTTP", "TCP", "HTTPS"):
            for ref in ("default_tls_container_ref", "client_ca_tls_container_ref"):
                message = fault(post(api, lb["id"], protocol=protocol, **{ref: new_id()}), 400)
                assert message == (
                    "Validation failure: Certificate container references are not allowed on "
                    f"{protocol} protocol listeners."
                )
            message = fault(post(api, lb["id"], protocol=protocol, sni_container_refs=["x"]), 400)
            assert "not allowed on" in message

    def test_terminated_https_rules(self, api: Api) -> None:
        lb = create_lb(api)
        cases = [
            (
                {"protocol": "TERMINATED_HTTPS"},
                "An SNI or default certificate container reference must be provided for "
                "TERMINATED_HTTPS protocol listeners.",
            ),
            (
                {"protocol": "TERMINATED_HTTPS", "client_ca_tls_container_ref": "ca"},
                "An SNI or default certificate container reference must be provided with a "
                "client CA container reference.",
            ),
            (
                terminated_https(client_authentication="OPTIONAL"),
                "Client authentication setting OPTIONAL requires a client CA container reference.",
            ),
            (
                terminated_https(client_crl_container_ref="crl"),
                "A client authentication CA reference is required to specify a client "
                "authentication revocation list.",
            ),
            (
                terminated_https(tls_versions=[]),
                "Empty TLS version list. Either specify at least one TLS version or remove "
                "this parameter to use the default.",
            ),
            (terminated_https(tls_versions=["TLSv1.2", "TLSv9"]), "Invalid TLS versions: TLSv9"),
            (
                terminated_https(alpn_protocols=[]),
                "Empty ALPN protocol list. Either specify at least one ALPN protocol or remove "
                "this parameter to use the default.",
            ),
            (
                terminated_https(tls_ciphers="AES128 SHA"),
                "Invalid characters in cipher string. Only alphanumeric, -, +, !, :, @, =, _, "
                "and . are allowed.",
            ),
            (
                terminated_https(hsts_preload=True),
                "HSTS configuration options hsts_include_subdomains and hsts_preload only make "
                "sense if hsts_max_age is set as well.",
            ),
            (
                {"hsts_max_age": 10},
                "The HSTS feature can only be used for listeners using the TERMINATED_HTTPS "
                "protocol.",
            ),
        ]
        for fields, detail in cases:
            assert fault(post(api, lb["id"], **fields), 400) == f"Validation failure: {detail}", (
                fields
            )
        message = fault(post(api, lb["id"], **terminated_https(alpn_protocols=["h3"])), 400)
        assert message.startswith("Invalid input for field/attribute alpn_protocols.")
        assert listed(api) == []

    def test_sni_alone_is_enough(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(
            api, lb["id"], protocol="TERMINATED_HTTPS", sni_container_refs=["a", "b"]
        )
        assert listener["default_tls_container_ref"] is None

    def test_tls_termination_can_be_disabled(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.api.allow_tls_terminated_listeners = False
        api: Api = request.getfixturevalue("api")
        lb = create_lb(api)
        message = fault(post(api, lb["id"], **terminated_https()), 400)
        assert (
            message == "The selected protocol is not allowed in this deployment: TERMINATED_HTTPS"
        )
        message = fault(
            post(api, lb["id"], protocol="PROMETHEUS", default_tls_container_ref="x"), 400
        )
        assert message == (
            "The selected protocol is not allowed in this deployment: PROMETHEUS with TLS"
        )
        create_listener(api, lb["id"], protocol="PROMETHEUS", protocol_port=9100)

    def test_prometheus(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        api: Api = request.getfixturevalue("api")
        lb = create_lb(api)
        plain = create_listener(api, lb["id"], protocol="PROMETHEUS", protocol_port=9100)
        assert plain["tls_versions"] is None
        message = fault(
            post(
                api,
                lb["id"],
                protocol="PROMETHEUS",
                protocol_port=9101,
                client_ca_tls_container_ref="ca",
            ),
            400,
        )
        assert "must be provided with a client CA container reference" in message
        tls = create_listener(
            api,
            lb["id"],
            protocol="PROMETHEUS",
            protocol_port=9102,
            default_tls_container_ref="cert",
        )
        assert tls["default_tls_container_ref"] == "cert"
        pool = create_pool(api, lb["id"])
        message = fault(
            post(
                api, lb["id"], protocol="PROMETHEUS", protocol_port=9103, default_pool_id=pool["id"]
            ),
            400,
        )
        assert message == "Protocol PROMETHEUS listeners cannot have child objects."
        settings.api.allow_prometheus_listeners = False
        message = fault(post(api, lb["id"], protocol="PROMETHEUS", protocol_port=9104), 400)
        assert message == "The selected protocol is not allowed in this deployment: PROMETHEUS"

    def test_insert_headers(self, api: Api) -> None:
        lb = create_lb(api)
        headers = {"X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "x"}
        listener = create_listener(api, lb["id"], insert_headers=headers)
        assert listener["insert_headers"] == headers
        message = fault(
            post(api, lb["id"], protocol_port=81, insert_headers={"X-Forwarded-Four": "true"}), 400
        )
        assert message == "dict_keys(['X-Forwarded-Four']) is not a valid option for insert_headers"
        for name in SSL_HEADERS:
            message = fault(
                post(api, lb["id"], protocol_port=81, insert_headers={name: "true"}), 400
            )
            assert message == f"['{name}'] is not a valid option for HTTP protocol listener."
        for protocol in ("TCP", "HTTPS"):
            message = fault(
                post(api, lb["id"], protocol=protocol, protocol_port=81, insert_headers=headers),
                400,
            )
            assert (
                message
                == f"insert-headers is not a valid option for a {protocol} protocol listener."
            )

    def test_cipher_prohibit_list(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.api.tls_cipher_prohibit_list = "NULL-MD5:RC4-SHA"
        api: Api = request.getfixturevalue("api")
        lb = create_lb(api)
        message = fault(
            post(api, lb["id"], **terminated_https(tls_ciphers="RC4-SHA:AES128-SHA:NULL-MD5")), 400
        )
        assert message == (
            "Validation failure: The following ciphers have been prohibited by an "
            "administrator: RC4-SHA, NULL-MD5"
        )
        settings.api.default_listener_ciphers = "RC4-SHA"
        message = fault(post(api, lb["id"], **terminated_https()), 400)
        assert message.endswith("prohibited by an administrator: RC4-SHA")

    def test_minimum_tls_version(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.api.minimum_tls_version = "TLSv1.2"
        api: Api = request.getfixturevalue("api")
        lb = create_lb(api)
        message = fault(
            post(api, lb["id"], **terminated_https(tls_versions=["TLSv1", "TLSv1.1", "TLSv1.3"])),
            400,
        )
        assert message == (
            "Validation failure: Requested TLS versions are less than the minimum: "
            "TLSv1, TLSv1.1 < TLSv1.2"
        )

    def test_allowed_cidrs_must_match_a_vip(self, api: Api) -> None:
        lb = create_lb(api, vip_address="198.51.100.5")
        message = fault(post(api, lb["id"], allowed_cidrs=["2001:db8::/64"]), 400)
        assert message == (
            "Validation failure: CIDR 2001:db8::/64 IP version incompatible with all VIPs "
            "['198.51.100.5'] IP version."
        )
        v6 = create_lb(api, vip_address="2001:db8::5")
        message = fault(post(api, v6["id"], allowed_cidrs=["10.0.0.0/8"]), 400)
        assert message == (
            "Validation failure: CIDR 10.0.0.0/8 IP version incompatible with all VIPs "
            "['2001:db8::5'] IP version."
        )
        dual = create_lb(
            api,
            vip_address="198.51.100.6",
            additional_vips=[{"subnet_id": new_id(), "ip_address": "2001:db8::6"}],
        )
        listener = create_listener(api, dual["id"], allowed_cidrs=["10.0.0.0/8", "2001:db8::/64"])
        assert listener["allowed_cidrs"] == ["10.0.0.0/8", "2001:db8::/64"]

    def test_allowed_cidrs_exclude_custom_security_groups(self, api: Api) -> None:
        lb = create_lb(api, vip_sg_ids=[new_id()])
        message = fault(post(api, lb["id"], allowed_cidrs=["10.0.0.0/8"]), 400)
        assert message == (
            "Validation failure: Allowed CIDRs are not allowed when using custom VIP Security "
            "Groups."
        )


class TestDefaultPool:
    def test_pool_of_the_load_balancer(self, api: Api) -> None:
        lb = create_lb(api)
        pool = create_pool(api, lb["id"])
        first = create_listener(api, lb["id"], default_pool_id=pool["id"])
        second = create_listener(api, lb["id"], protocol_port=81, default_pool_id=pool["id"])
        assert first["default_pool_id"] == second["default_pool_id"] == pool["id"]

    def test_unknown_foreign_or_incompatible_pool(self, api: Api) -> None:
        lb = create_lb(api)
        unknown = new_id()
        assert (
            fault(post(api, lb["id"], default_pool_id=unknown), 404) == f"Pool {unknown} not found."
        )
        other_lb = create_lb(api)
        foreign = create_pool(api, other_lb["id"])
        message = fault(post(api, lb["id"], default_pool_id=foreign["id"]), 404)
        assert message == f"Pool {foreign['id']} not found."
        tcp_pool = create_pool(api, lb["id"], protocol="TCP")
        message = fault(post(api, lb["id"], default_pool_id=tcp_pool["id"]), 400)
        assert message == (
            "Validation failure: The pool protocol 'TCP' is invalid while the listener "
            "protocol is 'HTTP'."
        )
        create_listener(api, lb["id"], protocol="HTTPS", default_pool_id=tcp_pool["id"])


class TestQuota:
    def test_listener_quota(self, settings: Settings, request: pytest.FixtureRequest) -> None:
        settings.quotas.default_listener_quota = 1
        api: Api = request.getfixturevalue("api")
        lb = create_lb(api)
        create_listener(api, lb["id"])
        message = fault(post(api, lb["id"], protocol_port=81), 403)
        assert message == "Quota has been met for resources: Listener"


class TestUpdate:
    def test_update_goes_through_pending(self, api: Api, ostia: Any) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"], tags=["old"])
        ostia.controller.stop()
        updated = expect(
            put(
                api,
                listener["id"],
                name="renamed",
                admin_state_up=False,
                connection_limit=5,
                tags=["new"],
                insert_headers={"X-Forwarded-For": "true"},
            ),
            200,
        )["listener"]
        assert updated["provisioning_status"] == "PENDING_UPDATE"
        assert (updated["name"], updated["admin_state_up"]) == ("renamed", False)
        assert (updated["connection_limit"], updated["tags"]) == (5, ["new"])
        assert updated["insert_headers"] == {"X-Forwarded-For": "true"}
        assert updated["updated_at"] is not None
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
        message = fault(put(api, listener["id"], name="again"), 409)
        assert message == f"Load Balancer {lb['id']} is immutable and cannot be updated."
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        assert show(api, "listeners", listener["id"])["provisioning_status"] == "ACTIVE"

    def test_null_resets_to_defaults(
        self, settings: Settings, request: pytest.FixtureRequest
    ) -> None:
        settings.haproxy.timeout_client_data = 20
        settings.haproxy.timeout_member_connect = 21
        settings.haproxy.timeout_member_data = 22
        settings.haproxy.timeout_tcp_inspect = 23
        settings.api.default_listener_tls_versions = ["TLSv1.3"]
        settings.api.default_listener_alpn_protocols = ["http/1.1"]
        api: Api = request.getfixturevalue("api")
        lb = create_lb(api)
        pool = create_pool(api, lb["id"])
        listener = create_listener(
            api,
            lb["id"],
            **terminated_https(
                name="n",
                description="d",
                connection_limit=10,
                sni_container_refs=["sni"],
                default_pool_id=pool["id"],
                tags=["keep"],
                insert_headers={"X-Forwarded-For": "true"},
                timeout_client_data=1,
                timeout_member_connect=2,
                timeout_member_data=3,
                timeout_tcp_inspect=4,
                client_ca_tls_container_ref="ca",
                client_authentication="OPTIONAL",
                client_crl_container_ref="crl",
                allowed_cidrs=["10.0.0.0/8"],
                tls_versions=["TLSv1.2"],
                tls_ciphers="AES128-SHA",
                alpn_protocols=["h2"],
                hsts_max_age=20,
                hsts_include_subdomains=True,
                hsts_preload=True,
            ),
        )
        unset = dict.fromkeys(
            (
                "name",
                "description",
                "connection_limit",
                "default_tls_container_ref",
                "sni_container_refs",
                "insert_headers",
                "timeout_client_data",
                "timeout_member_connect",
                "timeout_member_data",
                "timeout_tcp_inspect",
                "client_ca_tls_container_ref",
                "client_authentication",
                "default_pool_id",
                "client_crl_container_ref",
                "allowed_cidrs",
                "tls_versions",
                "tls_ciphers",
                "alpn_protocols",
                "hsts_max_age",
                "hsts_include_subdomains",
                "hsts_preload",
                "tags",
            )
        )
        updated = expect(put(api, listener["id"], **unset), 200)["listener"]
        assert (updated["name"], updated["description"]) == ("", "")
        assert updated["connection_limit"] == -1
        assert updated["default_tls_container_ref"] is None
        assert updated["sni_container_refs"] == [] and updated["insert_headers"] == {}
        timeouts = ("client_data", "member_connect", "member_data", "tcp_inspect")
        assert [updated[f"timeout_{name}"] for name in timeouts] == [20, 21, 22, 23]
        assert updated["client_ca_tls_container_ref"] is None
        assert updated["client_crl_container_ref"] is None
        assert updated["client_authentication"] == "NONE"
        assert updated["default_pool_id"] is None
        assert updated["allowed_cidrs"] is None
        assert updated["tls_versions"] == ["TLSv1.3"]
        assert updated["tls_ciphers"] == OWASP_SUITE_B_CIPHERS
        assert updated["alpn_protocols"] == ["http/1.1"]
        assert updated["hsts_max_age"] is None
        assert updated["hsts_include_subdomains"] is False and updated["hsts_preload"] is False
        assert updated["tags"] == ["keep"]

    def test_tags_and_cidrs(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"], tags=["a"], allowed_cidrs=["10.0.1.0/24"])
        updated = expect(put(api, listener["id"], tags=[], allowed_cidrs=["10.0.3.0/24"]), 200)
        assert updated["listener"]["tags"] == []
        assert updated["listener"]["allowed_cidrs"] == ["10.0.3.0/24"]

    def test_immutable_fields(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        for name, value in (
            ("protocol", "TCP"),
            ("protocol_port", 81),
            ("loadbalancer_id", lb["id"]),
        ):
            message = fault(put(api, listener["id"], **{name: value}), 400)
            assert message == f"Unknown attribute for argument listener: {name}"
        assert fault(api.put(f"{LISTENERS}/{listener['id']}", {}), 400).startswith(
            "Missing argument"
        )

    def test_update_validation(self, api: Api) -> None:
        lb = create_lb(api)
        http = create_listener(api, lb["id"])
        udp = create_listener(api, lb["id"], protocol="UDP", protocol_port=53)
        tls = create_listener(api, lb["id"], **terminated_https(protocol_port=443))
        cases = [
            (
                udp,
                {"insert_headers": {"X-Forwarded-For": "true"}},
                "Validation failure: UDP protocol listener does not support TLS or header "
                "insertion.",
            ),
            (
                udp,
                {"sni_container_refs": ["x"]},
                "Validation failure: UDP protocol listener does not support TLS or header "
                "insertion.",
            ),
            (
                http,
                {"default_tls_container_ref": "x"},
                "Validation failure: Certificate container references are not allowed on HTTP "
                "protocol listeners.",
            ),
            (
                tls,
                {"client_authentication": "MANDATORY"},
                "Validation failure: Client authentication setting MANDATORY requires a client "
                "CA container reference.",
            ),
            (
                tls,
                {"client_crl_container_ref": "crl"},
                "Validation failure: A client authentication CA reference is required to "
                "specify a client authentication revocation list.",
            ),
            (
                http,
                {"insert_headers": {"X-Bad-Header": "true"}},
                "['X-Bad-Header'] is not a valid option for insert_headers",
            ),
            (
                http,
                {"insert_headers": {"X-SSL-Issuer": "true"}},
                "['X-SSL-Issuer'] is not a valid option for HTTP protocol listener.",
            ),
            (
                http,
                {"hsts_max_age": 10},
                "Validation failure: The HSTS feature can only be used for listeners using the "
                "TERMINATED_HTTPS protocol.",
            ),
            (
                tls,
                {"hsts_include_subdomains": True},
                "Validation failure: Cannot enable hsts_include_subdomains or hsts_preload if "
                "hsts_max_age was not set as well.",
            ),
            (
                tls,
                {"tls_versions": []},
                "Validation failure: Empty TLS version list. Either specify at least one TLS "
                "version or remove this parameter to use the default.",
            ),
            (
                tls,
                {"alpn_protocols": []},
                "Validation failure: Empty ALPN protocol list. Either specify at least one ALPN "
                "protocol or remove this parameter to use the default.",
            ),
            (
                tls,
                {"tls_ciphers": "A;B"},
                "Validation failure: Invalid characters in cipher string.",
            ),
        ]
        for listener, fields, message in cases:
            assert fault(put(api, listener["id"], **fields), 400).startswith(message), fields
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "ACTIVE"

    def test_client_auth_uses_the_stored_ca(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(
            api, lb["id"], **terminated_https(client_ca_tls_container_ref="ca")
        )
        updated = expect(put(api, listener["id"], client_authentication="OPTIONAL"), 200)
        assert updated["listener"]["client_authentication"] == "OPTIONAL"
        wait_for_lb(api, lb["id"])
        updated = expect(put(api, listener["id"], client_crl_container_ref="crl"), 200)
        assert updated["listener"]["client_crl_container_ref"] == "crl"
        wait_for_lb(api, lb["id"])
        hsts = expect(put(api, listener["id"], hsts_max_age=60, hsts_preload=True), 200)
        assert (hsts["listener"]["hsts_max_age"], hsts["listener"]["hsts_preload"]) == (60, True)

    def test_default_pool(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        pool = create_pool(api, lb["id"])
        updated = expect(put(api, listener["id"], default_pool_id=pool["id"]), 200)["listener"]
        assert updated["default_pool_id"] == pool["id"]
        wait_for_lb(api, lb["id"])
        unknown = new_id()
        message = fault(put(api, listener["id"], default_pool_id=unknown), 404)
        assert message == f"Pool {unknown} not found."
        udp_pool = create_pool(api, lb["id"], protocol="UDP")
        message = fault(put(api, listener["id"], default_pool_id=udp_pool["id"]), 400)
        assert (
            "The pool protocol 'UDP' is invalid while the listener protocol is 'HTTP'." in message
        )
        prometheus = create_listener(api, lb["id"], protocol="PROMETHEUS", protocol_port=9100)
        message = fault(put(api, prometheus["id"], default_pool_id=pool["id"]), 400)
        assert message == "Protocol PROMETHEUS listeners cannot have child objects."

    def test_unknown_listener(self, api: Api) -> None:
        listener_id = new_id()
        assert fault(put(api, listener_id, name="x"), 404) == f"Listener {listener_id} not found."


class TestDelete:
    def test_delete_goes_through_pending_then_gone(self, api: Api, ostia: Any) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        ostia.controller.stop()
        assert api.delete(f"{LISTENERS}/{listener['id']}").status_code == 204
        assert show(api, "listeners", listener["id"])["provisioning_status"] == "PENDING_DELETE"
        assert show(api, "loadbalancers", lb["id"])["provisioning_status"] == "PENDING_UPDATE"
        message = fault(api.delete(f"{LISTENERS}/{listener['id']}"), 409)
        assert message == f"Load Balancer {lb['id']} is immutable and cannot be updated."
        ostia.controller.start()
        wait_for_lb(api, lb["id"])
        message = fault(api.get(f"{LISTENERS}/{listener['id']}"), 404)
        assert message == f"Listener {listener['id']} not found."
        assert listed(api) == []
        assert show(api, "loadbalancers", lb["id"])["listeners"] == []

    def test_unknown_listener(self, api: Api) -> None:
        listener_id = new_id()
        message = fault(api.delete(f"{LISTENERS}/{listener_id}"), 404)
        assert message == f"Listener {listener_id} not found."


class TestStats:
    def test_zero_then_summed_over_amphorae(self, api: Api, ostia: Any) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        zeros = dict.fromkeys(
            ("bytes_in", "bytes_out", "active_connections", "total_connections", "request_errors"),
            0,
        )
        assert expect(api.get(f"{LISTENERS}/{listener['id']}/stats"), 200) == {"stats": zeros}
        with ostia.db.write() as session:
            for amphora, base in ((new_id(), 1), (new_id(), 10)):
                session.add(
                    ListenerStatistics(
                        listener_id=listener["id"],
                        amphora_id=amphora,
                        bytes_in=base,
                        bytes_out=2 * base,
                        active_connections=3 * base,
                        total_connections=4 * base,
                        request_errors=5 * base,
                    )
                )
        stats = expect(api.get(f"{LISTENERS}/{listener['id']}/stats"), 200)["stats"]
        assert stats == {
            "bytes_in": 11,
            "bytes_out": 22,
            "active_connections": 33,
            "total_connections": 44,
            "request_errors": 55,
        }
        missing = new_id()
        message = fault(api.get(f"{LISTENERS}/{missing}/stats"), 404)
        assert message == f"Listener {missing} not found."


class TestListing:
    def test_filters_tags_sorting_paging_and_fields(self, api: Api) -> None:
        lb = create_lb(api)
        a = create_listener(api, lb["id"], name="a", protocol_port=80, tags=["red", "big"])
        b = create_listener(
            api, lb["id"], name="b", protocol_port=81, admin_state_up=False, tags=["red"]
        )
        c = create_listener(
            api, lb["id"], name="c", protocol="TCP", protocol_port=82, tags=["blue"]
        )
        assert listed(api, "?protocol_port=81") == [b["id"]]
        assert listed(api, "?admin_state_up=false") == [b["id"]]
        assert listed(api, "?admin_state_up=true&protocol=HTTP") == [a["id"]]
        assert sorted(listed(api, f"?loadbalancer_id={lb['id']}")) == sorted(
            [a["id"], b["id"], c["id"]]
        )
        assert listed(api, "?name=c&name=a&sort=name:asc") == [a["id"], c["id"]]
        assert fault(api.get(f"{LISTENERS}?colour=red"), 400) == (
            "One or more arguments are either duplicate or invalid"
        )
        assert listed(api, "?tags=red,big") == [a["id"]]
        assert listed(api, "?tags-any=big,blue&sort=name") == [a["id"], c["id"]]
        assert listed(api, "?not-tags=red,big&sort=name") == [b["id"], c["id"]]
        assert listed(api, "?not-tags-any=red") == [c["id"]]
        assert listed(api, "?sort=protocol_port:desc") == [c["id"], b["id"], a["id"]]
        assert listed(api, "?sort_key=name&sort_dir=desc") == [c["id"], b["id"], a["id"]]
        assert fault(api.get(f"{LISTENERS}?sort=name:up"), 400) == (
            "Supplied sort direction 'up' is not valid."
        )

        first = expect(api.get(f"{LISTENERS}?limit=2&sort=name"), 200)
        assert [li["id"] for li in first["listeners"]] == [a["id"], b["id"]]
        (next_link,) = first["listeners_links"]
        assert next_link["rel"] == "next"
        query = parse_qs(urlsplit(next_link["href"]).query)
        assert query["marker"] == [b["id"]] and query["limit"] == ["2"]
        second = expect(api.get(f"{LISTENERS}?limit=2&sort=name&marker={b['id']}"), 200)
        assert [li["id"] for li in second["listeners"]] == [c["id"]]
        assert [link["rel"] for link in second["listeners_links"]] == ["previous"]
        back = expect(
            api.get(f"{LISTENERS}?limit=2&sort=name&marker={c['id']}&page_reverse=True"), 200
        )
        assert [li["id"] for li in back["listeners"]] == [a["id"], b["id"]]

        fields = expect(api.get(f"{LISTENERS}?fields=id&fields=name&sort=name"), 200)
        assert fields["listeners"][0] == {"id": a["id"], "name": "a"}
        one = expect(api.get(f"{LISTENERS}/{a['id']}?fields=protocol_port,name"), 200)
        assert one == {"listener": {"name": "a", "protocol_port": 80}}


class TestProjects:
    def test_isolation_and_roles(self, api: Api) -> None:
        lb = create_lb(api)
        listener = create_listener(api, lb["id"])
        path = f"{LISTENERS}/{listener['id']}"
        stranger = api.as_user(OTHER_PROJECT, "member")
        forbidden = "Policy does not allow this request to be performed."
        assert fault(stranger.get(path), 403) == forbidden
        assert fault(stranger.get(f"{path}/stats"), 403) == forbidden
        assert fault(put(stranger, listener["id"], name="x"), 403) == forbidden
        assert fault(stranger.delete(path), 403) == forbidden
        assert fault(post(stranger, lb["id"], protocol_port=81), 403) == forbidden
        assert listed(stranger) == []
        assert fault(stranger.get(f"{LISTENERS}?project_id={PROJECT}"), 403) == forbidden

        reader = api.as_user(PROJECT, "reader")
        assert show(reader, "listeners", listener["id"])["id"] == listener["id"]
        assert listed(reader) == [listener["id"]]
        expect(reader.get(f"{path}/stats"), 200)
        assert fault(put(reader, listener["id"], name="x"), 403) == forbidden
        assert fault(reader.delete(path), 403) == forbidden
        assert fault(post(reader, lb["id"], protocol_port=81), 403) == forbidden

        member = api.as_user(PROJECT, "member")
        created = expect(post(member, lb["id"], protocol_port=81), 201)["listener"]
        assert created["project_id"] == PROJECT
        assert show(api, "listeners", listener["id"])["name"] == ""
