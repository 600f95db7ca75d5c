"""Errors a client can see, with Octavia's status codes and messages.

They are raised by the API and by the domain code under it, and rendered by the API as
``{"faultcode": "Client"|"Server", "faultstring": ..., "debuginfo": null}``.
"""

from __future__ import annotations


class APIError(Exception):
    code = 500
    template = "Something unknown went wrong"

    def __init__(self, message: str | None = None, **fields: object) -> None:
        self.message = message if message is not None else self.template % fields
        super().__init__(self.message)

    @property
    def faultcode(self) -> str:
        return "Client" if self.code < 500 else "Server"


class InvalidInput(APIError):
    """WSME's wording for a field that fails validation."""

    code = 400

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"Invalid input for field/attribute {field}. Value: '{value}'. {reason}")


class BadRequest(APIError):
    code = 400
    template = "%(detail)s"


class NotFound(APIError):
    code = 404
    template = "%(resource)s %(id)s not found."


class PolicyForbidden(APIError):
    code = 403
    template = "Policy does not allow this request to be performed."


class QuotaExceeded(APIError):
    code = 403
    template = "Quota has been met for resources: %(resource)s"


class InvalidOption(APIError):
    code = 400
    template = "%(value)s is not a valid option for %(option)s"


class InvalidFilterArgument(APIError):
    code = 400
    template = "One or more arguments are either duplicate or invalid"


class DisabledOption(APIError):
    code = 400
    template = "The selected %(option)s is not allowed in this deployment: %(value)s"


class L7RuleValidation(APIError):
    code = 400
    template = "Error parsing L7Rule: %(error)s"


class SingleCreateDetailsMissing(APIError):
    code = 400
    template = "Missing details for %(type)s object: %(name)s"


class InvalidL7PolicyAction(APIError):
    code = 400
    template = "Invalid L7 Policy action specified: %(action)s"


class InvalidL7PolicyArgs(APIError):
    code = 400
    template = "Invalid L7 Policy arguments: %(msg)s"


class InvalidURLPath(APIError):
    code = 400
    template = "Not a valid URLPath: %(url_path)s"


class MissingProjectID(APIError):
    code = 400
    template = "Missing project ID in request where one is required."


class InvalidSubresource(APIError):
    code = 400
    template = "%(resource)s %(id)s not found."


class ValidationFailure(APIError):
    code = 400
    template = "Validation failure: %(detail)s"


class VIPValidation(APIError):
    code = 400
    template = "Validation failure: VIP must contain one of: %(objects)s."


class InvalidSortKey(APIError):
    code = 400
    template = "Supplied sort key '%(key)s' is not valid."


class InvalidSortDirection(APIError):
    code = 400
    template = "Supplied sort direction '%(key)s' is not valid."


class InvalidMarker(APIError):
    code = 400
    template = "Supplied pagination marker '%(key)s' is not valid."


class InvalidLimit(APIError):
    code = 400
    template = "Supplied pagination limit '%(key)s' is not valid."


class ProviderNotEnabled(APIError):
    code = 400
    template = "Provider '%(prov)s' is not enabled."


class ProviderFlavorMismatch(APIError):
    code = 400
    template = "Flavor '%(flav)s' is not compatible with provider '%(prov)s'"


class ProviderUnsupportedOption(APIError):
    code = 501
    template = "Provider '%(prov)s' does not support a requested option: %(user_msg)s"


class ProviderNotFound(APIError):
    code = 501
    template = "Provider '%(prov)s' was not found."


class ListenerNoChildren(APIError):
    code = 400
    template = "Protocol %(protocol)s listeners cannot have child objects."


class MemberSRIOVDisabled(APIError):
    code = 400
    template = "The load balancer flavor does not allow SR-IOV member ports."


class DuplicateListenerEntry(APIError):
    code = 409
    template = (
        "Another Listener on this Load Balancer is already using protocol %(protocol)s "
        "and protocol_port %(port)d"
    )


class DuplicateMemberEntry(APIError):
    code = 409
    template = (
        "Another member on this pool is already using ip %(ip_address)s on protocol_port %(port)d"
    )


class DuplicateHealthMonitor(APIError):
    code = 409
    template = "This pool already has a health monitor"


class DuplicatePoolEntry(APIError):
    code = 409
    template = "This listener already has a default pool"


class PoolInUseByL7Policy(APIError):
    code = 409
    template = "Pool %(id)s is in use by L7 policy %(l7policy_id)s"


class ImmutableObject(APIError):
    code = 409
    template = "%(resource)s %(id)s is immutable and cannot be updated."


class LBPendingState(APIError):
    code = 409
    template = "Invalid state %(state)s of loadbalancer resource %(id)s"


class TooManyL7Rules(APIError):
    code = 409
    template = "Too many rules on L7 policy %(id)s"


class IDAlreadyExists(APIError):
    code = 409
    template = "Already an entity with that specified id."


class RecordAlreadyExists(APIError):
    code = 409
    template = "A %(field)s of %(name)s already exists."


class ObjectInUse(APIError):
    code = 409
    template = "%(object)s %(id)s is in use and cannot be modified."


class VIPAddressConflict(APIError):
    code = 409
    template = "The VIP IP address is already in use: %(msg)s"


class RequestTooLarge(APIError):
    code = 413
    template = "Request is too large. Larger than max_request_body_size (%(limit)d)."


class MethodNotAllowed(APIError):
    code = 405
    template = "The method %(method)s is not allowed for this resource."


class ProjectBusy(APIError):
    code = 503
    template = "Project busy.  Unable to lock the project.  Please try again."
