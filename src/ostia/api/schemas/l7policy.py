"""L7 policy bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ostia import constants
from ostia.api.schemas.common import (
    Body,
    IdOnly,
    Link,
    Name,
    OwnedBody,
    Ref,
    Tags,
    Timestamps,
    Uuid,
)
from ostia.api.schemas.l7rule import L7RuleResponse, L7RuleSingleCreate
from ostia.api.schemas.pool import PoolSingleCreate

Action = Literal["REJECT", "REDIRECT_TO_URL", "REDIRECT_TO_POOL", "REDIRECT_PREFIX"]
RedirectCode = Literal[301, 302, 303, 307, 308]
Position = int


class L7PolicySingleCreate(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = True
    action: Action
    redirect_pool: PoolSingleCreate | None = None
    redirect_url: Ref | None = None
    redirect_prefix: Ref | None = None
    position: int | None = Field(default=None, ge=1, le=constants.MAX_POLICY_POSITION)
    rules: list[L7RuleSingleCreate] | None = None
    tags: Tags | None = None
    redirect_http_code: RedirectCode | None = None


class L7PolicyPOST(L7PolicySingleCreate, OwnedBody):
    listener_id: Uuid
    redirect_pool_id: Uuid | None = None


class L7PolicyPUT(Body):
    name: Name | None = None
    description: Name | None = None
    admin_state_up: bool | None = None
    action: Action | None = None
    redirect_pool_id: Uuid | None = None
    redirect_url: Ref | None = None
    redirect_prefix: Ref | None = None
    position: int | None = Field(default=None, ge=1, le=constants.MAX_POLICY_POSITION)
    tags: Tags | None = None
    redirect_http_code: RedirectCode | None = None


class L7PolicyRootPOST(Body):
    l7policy: L7PolicyPOST


class L7PolicyRootPUT(Body):
    l7policy: L7PolicyPUT


class L7PolicyResponse(Timestamps):
    id: str
    name: str
    description: str
    provisioning_status: str
    operating_status: str
    admin_state_up: bool
    project_id: str | None
    tenant_id: str | None
    action: str
    listener_id: str
    redirect_pool_id: str | None
    redirect_url: str | None
    redirect_prefix: str | None
    position: int
    rules: list[IdOnly]
    tags: list[str]
    redirect_http_code: int | None


class L7PolicyFullResponse(L7PolicyResponse):
    rules: list[L7RuleResponse]  # type: ignore[assignment]


class L7PolicyRootResponse(BaseModel):
    l7policy: L7PolicyResponse


class L7PoliciesRootResponse(BaseModel):
    l7policies: list[L7PolicyResponse]
    l7policies_links: list[Link]
