"""Keystone's errors, rendered as ``{"error": {"code", "title", "message"}}``."""

from __future__ import annotations

from http import HTTPStatus


class KeystoneError(Exception):
    code = 500
    template = "An unexpected error prevented the server from fulfilling your request."

    def __init__(self, message: str | None = None, **fields: object) -> None:
        self.message = message if message is not None else self.template % fields
        super().__init__(self.message)

    @property
    def title(self) -> str:
        return HTTPStatus(self.code).phrase

    def body(self) -> dict[str, object]:
        return {"error": {"code": self.code, "title": self.title, "message": self.message}}


class ValidationError(KeystoneError):
    code = 400
    template = (
        "Expecting to find %(attribute)s in %(target)s. The server could not comply with the "
        "request since it is either malformed or otherwise incorrect. The client is assumed "
        "to be in error."
    )


class Unauthorized(KeystoneError):
    """Keystone says no more than this, whatever was wrong with the credentials."""

    code = 401
    template = "The request you have made requires authentication."


class Forbidden(KeystoneError):
    code = 403
    template = "You are not authorized to perform the requested action."


class ForbiddenAction(Forbidden):
    template = "You are not authorized to perform the requested action: %(action)s."


class NotFound(KeystoneError):
    code = 404
    template = "Could not find %(kind)s: %(id)s."


class TokenNotFound(NotFound):
    template = "Could not find token: %(id)s."


class RoleAssignmentNotFound(NotFound):
    template = (
        "Could not find role assignment with role: %(role_id)s, user or group: %(actor_id)s, "
        "project, domain, or system: %(target_id)s."
    )


class Conflict(KeystoneError):
    code = 409
    template = "Conflict occurred attempting to store %(kind)s - %(details)s."

    @classmethod
    def duplicate(cls, kind: str, name: str, domain_id: str | None = None) -> Conflict:
        details = f"Duplicate entry found with name {name}"
        if domain_id is not None:
            details += f" at domain ID {domain_id}"
        return cls(kind=kind, details=details)


class ServiceUnavailable(KeystoneError):
    """keystonemiddleware's answer when the Keystone it validates tokens with is unreachable."""

    code = 503
    template = "The Keystone service is temporarily unavailable."
