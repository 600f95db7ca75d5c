"""The network API's own documents and conventions: version discovery, the extension list,
Neutron's error body for unknown paths, methods and malformed requests."""

from __future__ import annotations

from tests.helpers import Api, expect
from tests.network.neutron import BASE, error


def test_root_lists_version_two_with_its_address(neutron: Api) -> None:
    for path in ("/network", "/network/"):
        body = expect(neutron.get(path), 200)
        assert body == {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"href": "http://testserver/network/v2.0/", "rel": "self"}],
                }
            ]
        }


def test_version_document_lists_the_collections(neutron: Api) -> None:
    body = expect(neutron.get(BASE), 200)
    collections = {r["collection"]: r["links"][0]["href"] for r in body["resources"]}
    assert collections == {
        "networks": "http://testserver/network/v2.0/networks",
        "subnets": "http://testserver/network/v2.0/subnets",
        "ports": "http://testserver/network/v2.0/ports",
    }


def test_extensions_list_and_show(neutron: Api) -> None:
    listed = expect(neutron.get(f"{BASE}/extensions"), 200)["extensions"]
    aliases = {e["alias"] for e in listed}
    assert {"project-id", "standard-attr-tag", "filter-validation", "pagination"} <= aliases
    assert all(set(e) == {"alias", "name", "description", "updated", "links"} for e in listed)
    shown = expect(neutron.get(f"{BASE}/extensions/project-id"), 200)["extension"]
    assert shown["alias"] == "project-id"
    message = error(neutron.get(f"{BASE}/extensions/qos"), 404, "ExtensionNotFound")
    assert message == "Extension with alias qos does not exist"


def test_unknown_path_is_a_neutron_404(neutron: Api) -> None:
    message = error(neutron.get(f"{BASE}/routers"), 404, "HTTPNotFound")
    assert message == "The resource could not be found."


def test_unsupported_method_is_a_neutron_405(neutron: Api) -> None:
    error(neutron.request("PATCH", f"{BASE}/networks"), 405, "HTTPMethodNotAllowed")


def test_malformed_and_missing_bodies(neutron: Api) -> None:
    response = neutron.post(
        f"{BASE}/networks", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert error(response, 400, "HTTPBadRequest") == "Malformed request body"
    assert error(neutron.post(f"{BASE}/networks"), 400, "HTTPBadRequest") == (
        "Resource body required"
    )
    response = neutron.post(f"{BASE}/networks", {"net": {}})
    assert error(response, 400, "HTTPBadRequest") == "Unable to find 'network' in request body"
    response = neutron.post(f"{BASE}/networks", {"network": []})
    assert error(response, 400, "HTTPBadRequest") == "Object 'network' contains invalid data"
    response = neutron.post(f"{BASE}/networks", {"networks": [{"name": "a"}]})
    assert error(response, 400, "HTTPBadRequest") == "Bulk operation not supported"


def test_octavia_api_keeps_its_own_error_body(neutron: Api) -> None:
    body = expect(neutron.get("/v2/lbaas/loadbalancers/nothing"), 404)
    assert set(body) == {"faultcode", "faultstring", "debuginfo"}
