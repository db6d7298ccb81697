"""`Hubx-Token-Expiration`: every API answer to a token that expires says when, in GitHub's format, whatever the
answer (success, a refusal by scope, an error raised by the view, a body refused by the schema, the token's own
expiry); a token without expiry, or no token, gets no header."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.api import EXPIRATION_HEADER
from app.core.actor import Actor
from app.core.mixins import utcnow
from app.extensions import db
from app.tokens import services
from app.users.models import Role

ME = "/api/v1/me"
GITHUB_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$")


def _expected(token) -> str:
    return token.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_a_token_with_an_expiry_says_when_on_success(api, issue):
    issued = issue(expires_in_days=30)
    response = api("get", ME, issued.secret)
    assert response.status_code == 200
    value = response.headers[EXPIRATION_HEADER]
    assert GITHUB_FORMAT.match(value) and value == _expected(issued.token)
    moment = datetime.strptime(value, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=UTC)
    assert timedelta(days=29, hours=23) < moment - utcnow() <= timedelta(days=30)


def test_a_token_that_never_expires_gets_no_header(api, issue, member_of):
    admin, tenant = member_of(Role.OWNER)
    services.update_token_policy(Actor(admin), tenant, default_days=90, max_days=365, allow_no_expiry=True,
                                 rotation_grace_minutes=60)
    db.session.commit()
    issued = issue(user=admin, tenant=tenant, no_expiry=True)
    response = api("get", ME, issued.secret)
    assert response.status_code == 200 and EXPIRATION_HEADER not in response.headers


def test_no_token_no_header(api):
    assert EXPIRATION_HEADER not in api("get", ME).headers


@pytest.mark.parametrize("call", [
    pytest.param(("post", "/api/v1/tokens", {"name": "x", "scope": "read"}), id="scope-refusal-403"),
    pytest.param(("get", "/api/v1/tokens/999999", None), id="view-error-404"),
])
def test_refusals_after_authentication_carry_it(api, issue, call):
    issued = issue(Role.ADMIN, "read", expires_in_days=7)
    method, path, body = call
    response = api(method, path, issued.secret, json=body)
    assert response.status_code in (403, 404)
    assert response.headers[EXPIRATION_HEADER] == _expected(issued.token)


def test_a_body_refused_by_the_schema_carries_it(api, issue):
    issued = issue(Role.ADMIN, "write", expires_in_days=7)
    response = api("post", "/api/v1/tokens", issued.secret, json={"name": 5, "scope": "nope"})
    assert response.status_code == 422
    assert response.headers[EXPIRATION_HEADER] == _expected(issued.token)


def test_an_expired_token_is_told_when_it_expired(api, issue):
    issued = issue(expires_in_days=7)
    issued.token.expires_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    response = api("get", ME, issued.secret)
    assert response.status_code == 401
    assert response.headers[EXPIRATION_HEADER] == _expected(issued.token)
