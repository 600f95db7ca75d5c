"""L7 rule bodies (``rule``/``rules`` under ``/l7policies/{id}/rules``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from ostia.api.schemas.common import Body, Link, OwnedBody, Tags, Timestamps

RuleType = Literal[
    "HOST_NAME",
    "PATH",
    "FILE_TYPE",
    "HEADER",
    "COOKIE",
    "SSL_CONN_HAS_CERT",
    "SSL_VERIFY_RESULT",
    "SSL_DN_FIELD",
]
CompareType = Literal["REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO"]
RuleText = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\r\n]*$")]


class L7RuleSingleCreate(Body):
    type: RuleType
    compare_type: CompareType
    key: RuleText | None = None
    value: RuleText
    invert: bool | None = False
    admin_state_up: bool | None = True
    tags: Tags | None = None


class L7RulePOST(L7RuleSingleCreate, OwnedBody):
    pass


class L7RulePUT(Body):
    type: RuleType | None = None
    compare_type: CompareType | None = None
    key: RuleText | None = None
    value: RuleText | None = None
    invert: bool | None = None
    admin_state_up: bool | None = None
    tags: Tags | None = None


class L7RuleRootPOST(Body):
    rule: L7RulePOST


class L7RuleRootPUT(Body):
    rule: L7RulePUT


class L7RuleResponse(Timestamps):
    id: str
    type: str
    compare_type: str
    key: str | None
    value: str
    invert: bool
    provisioning_status: str
    operating_status: str
    project_id: str | None
    tenant_id: str | None
    admin_state_up: bool
    tags: list[str]


class L7RuleRootResponse(BaseModel):
    rule: L7RuleResponse


class L7RulesRootResponse(BaseModel):
    rules: list[L7RuleResponse]
    rules_links: list[Link]
