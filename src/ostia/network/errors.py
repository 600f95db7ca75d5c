"""Errors of the network service, with Neutron's status codes, types and messages.

They are rendered as ``{"NeutronError": {"type": <class name>, "message": ..., "detail": ""}}``,
the body Neutron's clients parse.
"""

from __future__ import annotations


class NeutronError(Exception):
    code = 500
    template = "An unknown exception occurred."

    def __init__(self, message: str | None = None, **fields: object) -> None:
        self.message = message if message is not None else self.template % fields
        super().__init__(self.message)

    @property
    def type(self) -> str:
        return type(self).__name__


class HTTPBadRequest(NeutronError):
    """A request Neutron's API layer rejects before any plugin sees it."""

    code = 400


class HTTPNotFound(NeutronError):
    code = 404
    template = "The resource could not be found."


class BadRequest(NeutronError):
    code = 400
    template = "Bad %(resource)s request: %(msg)s."


class InvalidInput(NeutronError):
    code = 400
    template = "Invalid input for operation: %(error_message)s."


class PolicyNotAuthorized(NeutronError):
    code = 403
    template = "%(rule)s is disallowed by policy"


class NetworkNotFound(NeutronError):
    code = 404
    template = "Network %(net_id)s could not be found."


class SubnetNotFound(NeutronError):
    code = 404
    template = "Subnet %(subnet_id)s could not be found."


class PortNotFound(NeutronError):
    code = 404
    template = "Port %(port_id)s could not be found."


class ExtensionNotFound(NeutronError):
    code = 404
    template = "Extension with alias %(extension_alias)s does not exist"


class NetworkInUse(NeutronError):
    code = 409
    template = (
        "Unable to complete operation on network %(net_id)s. "
        "There are one or more ports still in use on the network."
    )


class SubnetInUse(NeutronError):
    code = 409
    template = (
        "Unable to complete operation on subnet %(subnet_id)s: "
        "One or more ports have an IP allocation from this subnet."
    )


class MacAddressInUse(NeutronError):
    code = 409
    template = (
        "Unable to complete operation for network %(net_id)s. The mac address %(mac)s is in use."
    )


class InvalidIpForNetwork(NeutronError):
    code = 400
    template = (
        "IP address %(ip_address)s is not a valid IP for any of the subnets on the "
        "specified network."
    )


class InvalidIpForSubnet(NeutronError):
    code = 400
    template = "IP address %(ip_address)s is not a valid IP for the specified subnet."


class IpAddressAlreadyAllocated(NeutronError):
    code = 409
    template = "IP address %(ip)s already allocated in subnet %(subnet_id)s"


class IpAddressGenerationFailure(NeutronError):
    """No free address: in one subnet (``subnet_id``) or on a whole network (``net_id``)."""

    code = 409

    def __init__(self, *, subnet_id: str | None = None, net_id: str | None = None) -> None:
        super().__init__(
            f"No more IP addresses available for subnet {subnet_id}."
            if subnet_id is not None
            else f"No more IP addresses available on network {net_id}."
        )


class InvalidAllocationPool(NeutronError):
    code = 400
    template = "The allocation pool %(pool)s is not valid."


class OutOfBoundsAllocationPool(NeutronError):
    code = 400
    template = "The allocation pool %(pool)s spans beyond the subnet cidr %(subnet_cidr)s."


class OverlappingAllocationPools(NeutronError):
    code = 409
    template = (
        "Found overlapping allocation pools: %(pool_1)s %(pool_2)s for subnet %(subnet_cidr)s."
    )


class GatewayConflictWithAllocationPools(NeutronError):
    code = 409
    template = "Gateway ip %(ip_address)s conflicts with allocation pool %(pool)s."


class HTTPInternalServerError(NeutronError):
    code = 500
    template = "Request Failed: internal server error while processing your request."
