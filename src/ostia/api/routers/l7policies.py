"""``/v2/lbaas/l7policies`` and their ``/rules``: list, show, create, update and delete, with
Octavia's redirect rules, 1-based policy positions and L7 rule validation."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ostia import constants
from ostia.api import policy, views
from ostia.api.access import get_or_404, scope_list
from ostia.api.context import RequestContext
from ostia.api.deps import ContextDep, Services, ServicesDep, list_url
from ostia.api.listing import Listable, ListQuery, select_fields
from ostia.api.locks import lock_for_child_change
from ostia.api.quota import check_quota
from ostia.api.responses import ApiResponse
from ostia.api.routers.listeners import check_pool_protocol
from ostia.api.schemas.l7policy import (
    L7PoliciesRootResponse,
    L7PolicyPOST,
    L7PolicyPUT,
    L7PolicyRootPOST,
    L7PolicyRootPUT,
    L7PolicyRootResponse,
    L7PolicySingleCreate,
)
from ostia.api.schemas.l7rule import (
    L7RuleRootPOST,
    L7RuleRootPUT,
    L7RuleRootResponse,
    L7RuleSingleCreate,
    L7RulesRootResponse,
)
from ostia.config import Settings
from ostia.db.models import L7Policy, L7Rule, Listener, LoadBalancer, Pool
from ostia.errors import (
    BadRequest,
    InvalidInput,
    InvalidL7PolicyAction,
    InvalidL7PolicyArgs,
    L7RuleValidation,
    ListenerNoChildren,
    NotFound,
    ProviderUnsupportedOption,
    TooManyL7Rules,
)

router = APIRouter(tags=["l7 policies"])

LISTABLE = Listable(
    model=L7Policy,
    columns={
        "id": L7Policy.id,
        "name": L7Policy.name,
        "description": L7Policy.description,
        "provisioning_status": L7Policy.provisioning_status,
        "operating_status": L7Policy.operating_status,
        "admin_state_up": L7Policy.enabled,
        "project_id": L7Policy.project_id,
        "tenant_id": L7Policy.project_id,
        "action": L7Policy.action,
        "listener_id": L7Policy.listener_id,
        "redirect_pool_id": L7Policy.redirect_pool_id,
        "redirect_url": L7Policy.redirect_url,
        "redirect_prefix": L7Policy.redirect_prefix,
        "redirect_http_code": L7Policy.redirect_http_code,
        "position": L7Policy.position,
        "created_at": L7Policy.created_at,
        "updated_at": L7Policy.updated_at,
    },
)

RULE_LISTABLE = Listable(
    model=L7Rule,
    columns={
        "id": L7Rule.id,
        "type": L7Rule.type,
        "compare_type": L7Rule.compare_type,
        "key": L7Rule.key,
        "value": L7Rule.value,
        "invert": L7Rule.invert,
        "provisioning_status": L7Rule.provisioning_status,
        "operating_status": L7Rule.operating_status,
        "admin_state_up": L7Rule.enabled,
        "project_id": L7Rule.project_id,
        "tenant_id": L7Rule.project_id,
        # Not shown, but a filter as in Octavia (its data model has it): openstacksdk sends it.
        "l7policy_id": L7Rule.l7policy_id,
        "created_at": L7Rule.created_at,
        "updated_at": L7Rule.updated_at,
    },
)

LIST_OPTIONS = (selectinload(L7Policy.rules).load_only(L7Rule.id),)

# The redirect settings an update clears when it sets the action (Octavia's repository).
CLEARED_BY_ACTION = {
    constants.REJECT: ("redirect_url", "redirect_pool_id", "redirect_prefix", "redirect_http_code"),
    constants.REDIRECT_TO_URL: ("redirect_pool_id", "redirect_prefix"),
    constants.REDIRECT_TO_POOL: ("redirect_url", "redirect_prefix", "redirect_http_code"),
    constants.REDIRECT_PREFIX: ("redirect_url", "redirect_pool_id"),
}
DEFAULT_REDIRECT_CODE = 302

# URLs as Octavia's rfc3986 validation accepts them: http(s), a host, a clean path.
URL_CONTROL_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f]")
URL = re.compile(
    r"^https?://"
    r"(?:[^@/?#]*@)?"
    r"(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)"
    r"(?::[0-9]*)?"
    r"(?:/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)*"
    r"(?:\?[^#]*)?(?:#.*)?$"
)

# Octavia's character classes for L7 rule keys and values (RFCs 2616, 6265, 7230).
HEADER_NAME = re.compile(r"\A[a-zA-Z0-9!#$%&'*+-.^_`|~]+\Z")
COOKIE_VALUE = re.compile(r"\A[a-zA-Z0-9!#$%&'()*+-./:<=>?@[\]^_`{|}~]+\Z")
HEADER_VALUE = re.compile(r"\A[a-zA-Z0-9!\"#$%&'()*+,-./:;<=>?@[\]^_`{|}~\\]+\Z")
QUOTED_HEADER_VALUE = re.compile(r"\A\"[a-zA-Z0-9 \t!\"#$%&'()*+,-./:;<=>?@[\]^_`{|}~\\]*\"\Z")
DN_FIELD = re.compile(r"^([a-zA-Z][A-Za-z0-9-]*)$")
SSL_RULE_TYPES = ("SSL_CONN_HAS_CERT", "SSL_VERIFY_RESULT", "SSL_DN_FIELD")
# Rule types whose key is meaningless; an update to one of them clears the key.
KEYLESS_RULE_TYPES = ("HOST_NAME", "PATH", "FILE_TYPE")


# -- L7 policy validation ---------------------------------------------------------------


def _check_urls(spec: L7PolicySingleCreate | L7PolicyPUT) -> None:
    for field in ("redirect_url", "redirect_prefix"):
        value = getattr(spec, field)
        if value is not None and (URL_CONTROL_CHARS.search(value) or not URL.match(value)):
            raise InvalidInput(field, value, "Value must be a valid URL string")


def _sanitize(args: dict[str, Any]) -> dict[str, Any]:
    """Octavia's ``sanitize_l7policy_api_args``: an action needs its redirect target, a
    redirect target implies its action and clears the others. ``args`` holds the attributes
    a request gives (``redirect_pool_id`` any reference to the pool); returns them completed."""
    args = dict(args)
    if "action" in args:
        action = args["action"]
        if action == constants.REJECT:
            args.update(redirect_url=None, redirect_pool_id=None)
        elif action == constants.REDIRECT_TO_URL:
            if not args.get("redirect_url"):
                raise InvalidL7PolicyArgs(msg="redirect_url must not be None")
            args["redirect_pool_id"] = None
        elif action == constants.REDIRECT_TO_POOL:
            if not args.get("redirect_pool_id"):
                raise InvalidL7PolicyArgs(msg="redirect_pool_id or redirect_pool must not be None")
            args["redirect_url"] = None
        elif action == constants.REDIRECT_PREFIX:
            if not args.get("redirect_prefix"):
                raise InvalidL7PolicyArgs(msg="redirect_prefix must not be None")
        else:
            raise InvalidL7PolicyAction(action=action)
    if args.get("redirect_pool_id") and (args.get("redirect_url") or args.get("redirect_prefix")):
        raise InvalidL7PolicyArgs(
            msg="Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the "
            "same time"
        )
    if args.get("redirect_pool_id"):
        args.update(
            action=constants.REDIRECT_TO_POOL,
            redirect_url=None,
            redirect_prefix=None,
            redirect_http_code=None,
        )
    if args.get("redirect_url"):
        args.update(action=constants.REDIRECT_TO_URL, redirect_pool_id=None, redirect_prefix=None)
        args["redirect_http_code"] = args.get("redirect_http_code") or DEFAULT_REDIRECT_CODE
    if args.get("redirect_prefix"):
        args.update(action=constants.REDIRECT_PREFIX, redirect_pool_id=None, redirect_url=None)
        args["redirect_http_code"] = args.get("redirect_http_code") or DEFAULT_REDIRECT_CODE
    if not args:
        raise InvalidL7PolicyArgs(msg="Invalid update options")
    return args


def _check_redirect_pool(pool: Pool | None, pool_id: str, listener: Listener) -> None:
    """A redirect pool must belong to the listener's load balancer and project."""
    if (
        pool is None
        or pool.load_balancer is not listener.load_balancer
        or pool.project_id != listener.project_id
    ):
        raise NotFound(resource="Pool", id=pool_id)


def _place(listener: Listener, l7policy: L7Policy, position: int | None) -> None:
    """Put ``l7policy`` at the 1-based ``position`` among the listener's policies (last when
    None or beyond the end), renumbering the others so positions stay 1..n."""
    others = sorted((p for p in listener.l7policies if p is not l7policy), key=lambda p: p.position)
    others.insert(len(others) if position is None else min(position - 1, len(others)), l7policy)
    for number, item in enumerate(others, start=1):
        if item.position != number:
            item.position = number
    listener.l7policies.sort(key=lambda p: p.position)


def _create_values(
    spec: L7PolicySingleCreate, pool_id: str | None, policy_id: str
) -> dict[str, Any]:
    """The new policy's redirect settings; also checks the rules it is created with."""
    values = _sanitize(
        {
            "action": spec.action,
            "redirect_pool_id": pool_id,
            "redirect_url": spec.redirect_url,
            "redirect_prefix": spec.redirect_prefix,
            "redirect_http_code": spec.redirect_http_code,
        }
    )
    rules = spec.rules or []
    if len(rules) > constants.MAX_L7RULES_PER_POLICY:
        raise TooManyL7Rules(id=policy_id)
    for rule in rules:
        _check_rule(rule.type, rule.compare_type, rule.key, rule.value)
    return values


def _add_policy(
    listener: Listener,
    spec: L7PolicySingleCreate,
    values: dict[str, Any],
    project_id: str | None,
    policy_id: str,
    pool: Pool | None,
) -> L7Policy:
    if values["action"] == constants.REDIRECT_TO_POOL:
        _check_redirect_pool(pool, values["redirect_pool_id"], listener)
    else:
        pool = None
    l7policy = L7Policy(
        id=policy_id,
        project_id=project_id,
        name=spec.name,
        description=spec.description,
        enabled=bool(spec.admin_state_up),
        action=values["action"],
        redirect_url=values["redirect_url"],
        redirect_prefix=values["redirect_prefix"],
        redirect_http_code=values["redirect_http_code"],
        provisioning_status=constants.PENDING_CREATE,
        operating_status=constants.OFFLINE,
    )
    l7policy.set_tags(spec.tags)
    listener.l7policies.append(l7policy)
    # Only once the policy is in the session: linking it to the pool first would let an
    # autoflush meet a policy that belongs to no session yet.
    l7policy.redirect_pool = pool
    _place(listener, l7policy, spec.position)
    return l7policy


def build_l7policy(
    session: Session,
    settings: Settings,
    listener: Listener,
    spec: L7PolicySingleCreate,
    project_id: str | None,
    redirect_pool: Pool | None = None,
) -> L7Policy:
    """Validate and create a policy on listener at spec.position (append when None);
    for REDIRECT_TO_POOL the pool is `redirect_pool` (graph) or spec.redirect_pool_id."""
    _check_urls(spec)
    if redirect_pool is not None:
        pool_id: str | None = redirect_pool.id
    else:
        pool_id = spec.redirect_pool_id if isinstance(spec, L7PolicyPOST) else None
        redirect_pool = session.get(Pool, pool_id) if pool_id else None
    policy_id = str(uuid.uuid4())
    values = _create_values(spec, pool_id, policy_id)
    return _add_policy(listener, spec, values, project_id, policy_id, redirect_pool)


def _apply_update(
    listener: Listener, l7policy: L7Policy, changes: dict[str, Any], pool: Pool | None
) -> None:
    for name, value in changes.items():
        if name == "tags":
            l7policy.set_tags(value)
        elif name == "admin_state_up":
            l7policy.enabled = bool(value)
        elif name == "redirect_pool_id":
            l7policy.redirect_pool = pool if value else None
        elif name != "position":
            setattr(l7policy, name, value)
    position = changes.get("position")
    if position is not None and position != l7policy.position:
        _place(listener, l7policy, position)


# -- L7 rule validation -----------------------------------------------------------------


def _invalid(reason: str) -> str:
    return f"Invalid L7 Rule: {reason}"


def _regex_problem(value: str) -> str | None:
    try:
        re.compile(value)
    except (re.error, OverflowError, RecursionError) as exc:
        return f"Unable to parse regular expression: {exc}"
    return None


def _ssl_rule_problem(
    rule_type: str, compare: str | None, key: str | None, value: str
) -> str | None:
    if rule_type == "SSL_DN_FIELD":
        if compare == "REGEX" and (problem := _regex_problem(value)):
            return problem
        if not key:
            return _invalid(f"L7rule type {rule_type} needs to specify a key and a value.")
        return None if DN_FIELD.match(key) else _invalid("Invalid L7rule distinguished name field.")
    if key:
        return _invalid(f'L7rule type {rule_type} does not use the "key" field.')
    if rule_type == "SSL_CONN_HAS_CERT" and value.lower() != "true":
        return _invalid(f"L7rule value {value} is not a boolean True string.")
    if rule_type == "SSL_VERIFY_RESULT" and not (value.isascii() and value.isdigit()):
        return _invalid(f"L7rule type {rule_type} needs a int value, which is >= 0")
    if compare != "EQUAL_TO":
        return _invalid(f"L7rule type {rule_type} only supports the EQUAL_TO compare type.")
    return None


def _rule_problem(
    rule_type: str | None, compare: str | None, key: str | None, value: str | None
) -> str | None:
    """What Octavia's ``validate.l7rule_data`` finds wrong with a rule, in its words."""
    if not value:
        return _invalid("L7 rule type requires a value")
    if rule_type in SSL_RULE_TYPES:
        return _ssl_rule_problem(rule_type, compare, key, value)
    if rule_type in ("HEADER", "COOKIE"):
        if not key:
            return _invalid("L7 rule type requires a key")
        if not HEADER_NAME.match(key):
            return "Invalid characters in key"
        allowed: tuple[str, ...] = constants.L7RULE_COMPARE_TYPES
    elif rule_type in ("HOST_NAME", "PATH"):
        allowed = constants.L7RULE_COMPARE_TYPES
    elif rule_type == "FILE_TYPE":
        allowed = ("REGEX", "EQUAL_TO")
    else:
        return _invalid("invalid rule type")
    if compare not in allowed:
        return _invalid("invalid comparison type for rule type")
    if compare == "REGEX":
        return _regex_problem(value)
    if rule_type == "COOKIE":
        return None if COOKIE_VALUE.match(value) else "Invalid characters in cookie value"
    if HEADER_VALUE.match(value) or QUOTED_HEADER_VALUE.match(value):
        return None
    what = "header value" if rule_type == "HEADER" else "comparison value"
    return f"Invalid characters in {what}"


def _check_rule(
    rule_type: str | None, compare: str | None, key: str | None, value: str | None
) -> None:
    if problem := _rule_problem(rule_type, compare, key, value):
        raise L7RuleValidation(error=problem)


def build_l7rule(l7policy: L7Policy, spec: L7RuleSingleCreate, project_id: str | None) -> L7Rule:
    """Validate and create a rule (PENDING_CREATE/OFFLINE) on ``l7policy``."""
    _check_rule(spec.type, spec.compare_type, spec.key, spec.value)
    rule = L7Rule(
        id=str(uuid.uuid4()),
        project_id=project_id,
        type=spec.type,
        compare_type=spec.compare_type,
        key=spec.key,
        value=spec.value,
        invert=bool(spec.invert),
        enabled=bool(spec.admin_state_up),
        provisioning_status=constants.PENDING_CREATE,
        operating_status=constants.OFFLINE,
    )
    rule.set_tags(spec.tags)
    l7policy.rules.append(rule)
    return rule


# -- L7 policy endpoints ----------------------------------------------------------------


def _policy_lb(l7policy: L7Policy) -> LoadBalancer:
    return l7policy.listener.load_balancer


@router.get("/l7policies", response_model=L7PoliciesRootResponse)
def list_l7policies(
    request: Request, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    query = ListQuery(request.query_params, LISTABLE, svc.settings.api.pagination_max_limit)
    stmt = scope_list(
        ctx,
        "l7policy",
        request.query_params,
        select(L7Policy).options(*LIST_OPTIONS),
        L7Policy.project_id,
    )
    with svc.db.read() as session:
        page = query.page(session, stmt, list_url(request, svc.settings))
        items = [views.l7policy(p) for p in page.rows]
    return ApiResponse({"l7policies": query.select_fields(items), "l7policies_links": page.links})


@router.get("/l7policies/{l7policy_id}", response_model=L7PolicyRootResponse)
def show_l7policy(
    l7policy_id: str,
    request: Request,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    with svc.db.read() as session:
        l7policy = get_or_404(session, L7Policy, l7policy_id)
        policy.enforce(ctx, "l7policy:get_one", l7policy.project_id)
        item = views.l7policy(l7policy)
    return ApiResponse({"l7policy": select_fields(request, item)})


@router.post("/l7policies", status_code=201, response_model=L7PolicyRootResponse)
def create_l7policy(
    body: L7PolicyRootPOST, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> ApiResponse:
    spec = body.l7policy
    if spec.redirect_pool is not None:
        # Only a fully populated load balancer create may define a pool inline.
        raise BadRequest(detail="Unknown attribute for argument l7policy: redirect_pool")
    _check_urls(spec)
    with svc.change() as session:
        listener = get_or_404(session, Listener, spec.listener_id)
        lb = listener.load_balancer
        project_id = lb.project_id
        policy.enforce(ctx, "l7policy:post", project_id)
        if listener.protocol == constants.PROMETHEUS:
            raise ListenerNoChildren(protocol=constants.PROMETHEUS)
        pool = None
        if spec.redirect_pool_id is not None:
            pool = get_or_404(session, Pool, spec.redirect_pool_id)
            check_pool_protocol(listener.protocol, pool.protocol)
        rules = spec.rules or []
        check_quota(session, svc.settings.quotas, project_id, {"l7policy": 1, "l7rule": len(rules)})
        policy_id = str(uuid.uuid4())
        values = _create_values(spec, spec.redirect_pool_id, policy_id)
        lock_for_child_change(session, lb.id, listeners=[listener])
        l7policy = _add_policy(listener, spec, values, project_id, policy_id, pool)
        for rule_spec in rules:
            build_l7rule(l7policy, rule_spec, project_id)
        if listener.protocol not in constants.HAPROXY_HTTP_PROTOCOLS:
            # Octavia's amphora driver, the only kind of provider here, refuses these.
            raise ProviderUnsupportedOption(
                prov=lb.provider or views.DEFAULT_PROVIDER_NAME,
                user_msg=f"{listener.protocol} protocol listeners do not support L7 policies",
            )
        session.flush()
        item = views.l7policy(l7policy)
    return ApiResponse(status_code=201, content={"l7policy": item})


@router.put("/l7policies/{l7policy_id}", response_model=L7PolicyRootResponse)
def update_l7policy(
    l7policy_id: str,
    body: L7PolicyRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    spec = body.l7policy
    _check_urls(spec)
    with svc.change() as session:
        l7policy = get_or_404(session, L7Policy, l7policy_id)
        listener = l7policy.listener
        policy.enforce(ctx, "l7policy:put", listener.load_balancer.project_id)
        changes = _sanitize({name: getattr(spec, name) for name in spec.model_fields_set})
        pool = None
        if changes.get("redirect_pool_id"):
            pool = get_or_404(session, Pool, changes["redirect_pool_id"])
            check_pool_protocol(listener.protocol, pool.protocol)
        lock_for_child_change(session, listener.load_balancer_id, listeners=[listener])
        action = changes.get("action")
        if action == constants.REDIRECT_TO_POOL:
            _check_redirect_pool(pool, changes["redirect_pool_id"], listener)
        if action is not None:
            changes.update(dict.fromkeys(CLEARED_BY_ACTION[action]))
        _apply_update(listener, l7policy, changes, pool)
        l7policy.provisioning_status = constants.PENDING_UPDATE
        session.flush()
        item = views.l7policy(l7policy)
    return ApiResponse({"l7policy": item})


@router.delete("/l7policies/{l7policy_id}", status_code=204, response_class=Response)
def delete_l7policy(
    l7policy_id: str, svc: Services = ServicesDep, ctx: RequestContext = ContextDep
) -> Response:
    with svc.change() as session:
        l7policy = get_or_404(session, L7Policy, l7policy_id)
        listener = l7policy.listener
        policy.enforce(ctx, "l7policy:delete", listener.load_balancer.project_id)
        lock_for_child_change(session, listener.load_balancer_id, listeners=[listener])
        l7policy.provisioning_status = constants.PENDING_DELETE
        # The others close the gap now; the reconciler removes this one, last in line.
        _place(listener, l7policy, len(listener.l7policies))
    return Response(status_code=204)


# -- L7 rule endpoints ------------------------------------------------------------------


def _parent_policy(session: Session, l7policy_id: str) -> L7Policy:
    """The policy in a ``/rules`` path; Octavia names it without a space here."""
    l7policy = session.get(L7Policy, l7policy_id)
    if l7policy is None:
        raise NotFound(resource="L7Policy", id=l7policy_id)
    return l7policy


def _rule_of(session: Session, l7policy: L7Policy, rule_id: str) -> L7Rule:
    rule = session.get(L7Rule, rule_id)
    if rule is None or rule.l7policy_id != l7policy.id:
        raise NotFound(resource="L7 Rule", id=rule_id)
    return rule


def _lock_for_rule_change(session: Session, l7policy: L7Policy) -> None:
    listener = l7policy.listener
    lock_for_child_change(
        session, listener.load_balancer_id, listeners=[listener], l7policy=l7policy
    )


@router.get("/l7policies/{l7policy_id}/rules", response_model=L7RulesRootResponse)
def list_l7rules(
    l7policy_id: str,
    request: Request,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    query = ListQuery(request.query_params, RULE_LISTABLE, svc.settings.api.pagination_max_limit)
    with svc.db.read() as session:
        l7policy = _parent_policy(session, l7policy_id)
        policy.enforce(ctx, "l7rule:get_all", l7policy.project_id)
        stmt = select(L7Rule).where(L7Rule.l7policy_id == l7policy_id)
        page = query.page(session, stmt, list_url(request, svc.settings))
        items = [views.l7rule(rule) for rule in page.rows]
    return ApiResponse({"rules": query.select_fields(items), "rules_links": page.links})


@router.get("/l7policies/{l7policy_id}/rules/{rule_id}", response_model=L7RuleRootResponse)
def show_l7rule(
    l7policy_id: str,
    rule_id: str,
    request: Request,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    with svc.db.read() as session:
        rule = _rule_of(session, _parent_policy(session, l7policy_id), rule_id)
        policy.enforce(ctx, "l7rule:get_one", rule.project_id)
        item = views.l7rule(rule)
    return ApiResponse({"rule": select_fields(request, item)})


@router.post("/l7policies/{l7policy_id}/rules", status_code=201, response_model=L7RuleRootResponse)
def create_l7rule(
    l7policy_id: str,
    body: L7RuleRootPOST,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    spec = body.rule
    with svc.change() as session:
        l7policy = _parent_policy(session, l7policy_id)
        project_id = _policy_lb(l7policy).project_id
        policy.enforce(ctx, "l7rule:post", project_id)
        _check_rule(spec.type, spec.compare_type, spec.key, spec.value)
        if len(l7policy.rules) >= constants.MAX_L7RULES_PER_POLICY:
            raise TooManyL7Rules(id=l7policy_id)
        check_quota(session, svc.settings.quotas, project_id, {"l7rule": 1})
        _lock_for_rule_change(session, l7policy)
        rule = build_l7rule(l7policy, spec, project_id)
        session.flush()
        item = views.l7rule(rule)
    return ApiResponse(status_code=201, content={"rule": item})


@router.put("/l7policies/{l7policy_id}/rules/{rule_id}", response_model=L7RuleRootResponse)
def update_l7rule(
    l7policy_id: str,
    rule_id: str,
    body: L7RuleRootPUT,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> ApiResponse:
    spec = body.rule
    given = spec.model_fields_set
    with svc.change() as session:
        l7policy = _parent_policy(session, l7policy_id)
        rule = _rule_of(session, l7policy, rule_id)
        policy.enforce(ctx, "l7rule:put", _policy_lb(l7policy).project_id)
        merged = {
            name: getattr(spec, name) if name in given else getattr(rule, name)
            for name in ("type", "compare_type", "key", "value")
        }
        _check_rule(merged["type"], merged["compare_type"], merged["key"], merged["value"])
        _lock_for_rule_change(session, l7policy)
        for name in given - {"tags", "admin_state_up", "invert"}:
            setattr(rule, name, merged[name])
        if "tags" in given:
            rule.set_tags(spec.tags)
        if "admin_state_up" in given:
            rule.enabled = bool(spec.admin_state_up)
        if "invert" in given:
            rule.invert = bool(spec.invert)
        if rule.type in KEYLESS_RULE_TYPES:
            rule.key = None
        rule.provisioning_status = constants.PENDING_UPDATE
        session.flush()
        item = views.l7rule(rule)
    return ApiResponse({"rule": item})


@router.delete(
    "/l7policies/{l7policy_id}/rules/{rule_id}", status_code=204, response_class=Response
)
def delete_l7rule(
    l7policy_id: str,
    rule_id: str,
    svc: Services = ServicesDep,
    ctx: RequestContext = ContextDep,
) -> Response:
    with svc.change() as session:
        l7policy = _parent_policy(session, l7policy_id)
        rule = _rule_of(session, l7policy, rule_id)
        policy.enforce(ctx, "l7rule:delete", _policy_lb(l7policy).project_id)
        _lock_for_rule_change(session, l7policy)
        rule.provisioning_status = constants.PENDING_DELETE
    return Response(status_code=204)
