"""Schemathesis over the whole OpenAPI document: every operation, valid and invalid data, with a real
admin-scope token; no server error, and every response as the document describes it.

Each generated request gets a fresh token (a fuzzed revoke or rotate may hit the token in use), and the
fuzzer's own permission rules are removed before each request (a fuzzed deny rule may hit its own user).
Examples are derandomized and bounded, so the run is repeatable and takes seconds.
"""

from __future__ import annotations

import contextvars
import re
from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import delete

from app.core.actor import Actor
from app.core.mixins import utcnow
from app.extensions import db
from app.invites import services as invite_services
from app.permissions.models import PermissionRule
from app.permissions.resolver import bump_policy_version
from app.permissions.services import create_rule
from app.sessions.services import Lifetimes, start_session
from app.tokens import services, usage
from app.users.models import Role
from tests.security.route_table import PUBLIC_API, api_routes
from tests.twofactor.helpers import enrolled

OPENAPI = "/api/v1/openapi.json"
EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _isolated(app):
    """The app as a WSGI callable whose every request runs in a fresh context (own app context, `g` and
    session), as in production, instead of reusing the test's pushed app context."""

    def wsgi(environ, start_response):
        return contextvars.Context().run(app.wsgi_app, environ, start_response)

    return wsgi


def _operation_key(app, endpoint: str) -> tuple[str, str]:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    method = next(m for m in sorted(rule.methods) if m not in {"HEAD", "OPTIONS"})
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule), method


@pytest.fixture
def fuzz(app, member_of, create_user):
    """(schema, headers(), known): the document loaded from the app, a fresh admin token's header per call,
    and values of rows that exist (ids, a member and one of their sessions, a catalogue action)."""
    admin, tenant = member_of(Role.ADMIN)
    member = create_user(tenant=tenant)  # someone for rules and checks to be about
    target = services.create_token(None, tenant, admin, name="target", scope="read").token
    rule = create_rule(Actor(admin), tenant, user_id=member.id, effect="allow", target="dashboard.view", reason="r")
    session_row, _raw = start_session(member, ip="192.0.2.1", user_agent="pytest", now=utcnow(),
                                      lifetimes=Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=1)))
    db.session.commit()
    enrolled(member)  # a second factor for a reset to remove
    schema = schemathesis.openapi.from_wsgi(OPENAPI, _isolated(app))
    known = {"token_id": target.id, "rule_id": rule.id, "user_id": member.id, "session_id": session_row.id}
    known["invite_id"] = invite_services.issue(Actor(admin), tenant, role="member", now=utcnow())[0].id
    db.session.commit()

    def headers() -> dict:
        # the fuzzer may have denied its own user something, or revoked the token it used: start clean
        db.session.execute(delete(PermissionRule).where(PermissionRule.user_id == admin.id))
        bump_policy_version(admin.id)
        issued = services.create_token(None, tenant, admin, name="fuzz", scope="admin")
        db.session.commit()
        return {"Authorization": f"Bearer {issued.secret}"}

    yield schema, headers, known
    usage.flush()


def _grounded(case, known: dict) -> None:
    """Put values the document cannot express (ids of existing rows, catalogue names) into a generated
    case, so valid requests also reach the success responses and their schemas."""
    for name in list(case.path_parameters or {}):
        if name in known:
            case.path_parameters[name] = known[name]
    if isinstance(case.body, dict):
        fixes = {"user_id": known["user_id"], "target": "dashboard.view", "action": "tokens.view",
                 "resource": None, "expires_at": None, "scope": "tenant" if "effect" in case.body else "read",
                 "expires_in_days": None, "no_expiry": False, "ip_allow": [], "ip_deny": []}
        for name, value in fixes.items():
            if name in case.body:
                case.body[name] = value
    if isinstance(case.body, dict) and {"kind", "max_uses", "email_domain", "needs_approval", "ttl_hours"} & set(
            case.body):  # an invite: a personal one, within the tenant's lifetime (fields that depend on each other)
        case.body = {"role": case.body.get("role", "member")}


def test_the_document_covers_every_json_route(app, fuzz):
    schema, _, _ = fuzz
    documented = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        documented.add((operation.path, operation.method.upper()))
    assert documented == {_operation_key(app, endpoint) for endpoint in (*api_routes(), *PUBLIC_API)}


def test_errors_are_documented_as_problem_documents(client):
    document = client.get(OPENAPI).get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            public = operation.get("security") == []  # PUBLIC_API: no token, so no 401/403 of its own
            assert ({"429"} if public else {"401", "403", "429"}) <= set(responses), (method, path)
            if method in {"post", "put", "patch"}:
                assert {"400", "415", "422"} <= set(responses), (method, path)
            for status, response in responses.items():
                media = set(response.get("content", {}))
                if int(status) >= 400:
                    assert media == {"application/problem+json"}, (method, path, status)
                    schema = response["content"]["application/problem+json"]["schema"]["$ref"]
                    assert schema.split("/")[-1].startswith("Problem."), (method, path, status)
                else:
                    assert media <= {"application/json"}, (method, path, status)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("endpoint", sorted({*api_routes(), *PUBLIC_API}))
def test_fuzz_operation(app, fuzz, endpoint, mode):
    schema, headers, known = fuzz
    path, method = _operation_key(app, endpoint)
    documented = schema.raw_schema["paths"][path][method.lower()]
    if documented.get("parameters") or documented.get("requestBody"):
        # Every request carries the fixture's own token (headers() below): an Authorization header schemathesis
        # left out or made up as a negation never reaches the app, and would make a negation the request does
        # carry (an extra query argument) look like one it does not. Only an operation with no input of its own
        # (`/me`) keeps it: it has nothing else to negate.
        schema.config.generation.update(with_security_parameters=False)
    operation = schema[path][method]
    negative = mode == GenerationMode.NEGATIVE
    statuses = []

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate, Phase.shrink])
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        # Invalid data must be refused. Valid data must be accepted (2xx, or a documented 404/409 for rows and
        # state the schema cannot name) when grounded: ids of rows that exist and IP lists the schema cannot
        # describe beyond "strings" are put in; every other field stays as generated from the document.
        grounded = not negative and len(statuses) % 2
        if grounded:
            _grounded(case, known)
        response = case.call(headers=headers())
        statuses.append(response.status_code)
        extra = [negative_data_rejection] if negative else [positive_data_acceptance] if grounded else []
        case.validate_response(response, checks=CHECKS + extra)

    run()
    assert statuses and all(s < 500 for s in statuses)
    if mode == GenerationMode.POSITIVE:
        assert any(200 <= s < 300 for s in statuses), statuses  # valid requests got through, not only refusals
