"""Revoking any token of a rotation chain revokes the whole chain; introspection gives the same verdict as using
the token; rotation takes no body (and says so in the document)."""

from __future__ import annotations

from sqlalchemy import update

from app.core.mixins import utcnow
from app.extensions import db
from app.tokens.models import ApiToken
from app.users.models import Membership, Profile, Role, UserStatus
from tests.tokens.helpers import problem_of

TOKENS = "/api/v1/tokens"
ME = "/api/v1/me"


def _rotate(api, token_id: int, secret: str) -> dict:
    response = api("post", f"{TOKENS}/{token_id}/rotate", secret)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_revoking_the_successor_stops_the_older_secret_in_its_grace(api, issue):
    first = issue(Role.ADMIN, "write")
    second = _rotate(api, first.token.id, first.secret)
    assert api("get", ME, first.secret).status_code == 200  # still in its grace period
    revoked = api("post", f"{TOKENS}/{second['token']['id']}/revoke", second["secret"], json={"reason": "leak"})
    assert revoked.status_code == 200
    problem_of(api("get", ME, first.secret), 401, "token_revoked")
    problem_of(api("get", ME, second["secret"]), 401, "token_revoked")
    db.session.expire_all()
    assert all(t.revoked_at is not None for t in db.session.query(ApiToken).all())


def test_revoking_the_oldest_stops_every_later_secret(client, auth, issue):
    first = issue(Role.ADMIN, "write")
    auth.login(first.user)
    assert client.post(f"/t/{first.tenant.slug}/tokens/{first.token.id}/rotate", {}).status_code == 303
    successor = db.session.query(ApiToken).filter(ApiToken.id != first.token.id).one()
    response = client.post(f"/t/{first.tenant.slug}/tokens/{first.token.id}/revoke", {"reason": "done"})
    assert response.status_code == 302
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "revoked, with every older secret of its rotation chain" in shown
    db.session.expire_all()
    assert db.session.get(ApiToken, successor.id).revoked_at is not None
    assert db.session.get(ApiToken, successor.id).revoke_reason == "done"


def test_revoking_leaves_other_chains_alone(api, issue):
    first = issue(Role.ADMIN, "write")
    other = issue(Role.ADMIN, "read", user=first.user, tenant=first.tenant, name="other")
    api("post", f"{TOKENS}/{first.token.id}/revoke", first.secret, json={})
    assert api("get", ME, other.secret).status_code == 200


def _introspect(api, caller, secret) -> dict:
    response = api("post", f"{TOKENS}/introspect", caller.secret, json={"token": secret})
    assert response.status_code == 200
    return response.get_json()


def test_introspection_agrees_with_use_when_the_owner_is_blocked_or_locked(api, issue):
    caller = issue(Role.ADMIN, "read")
    target = issue(Role.MEMBER, "read", tenant=caller.tenant)
    assert _introspect(api, caller, target.secret)["active"] is True
    # a sign-in lock leaves the token working, and introspection says so
    db.session.execute(update(Profile).where(Profile.user_id == target.user.id)
                       .values(locked_until=utcnow().replace(year=utcnow().year + 1)))
    db.session.commit()
    assert api("get", ME, target.secret).status_code == 200
    assert _introspect(api, caller, target.secret)["active"] is True
    for change in ({"status": UserStatus.BLOCKED},):
        db.session.execute(update(Profile).where(Profile.user_id == target.user.id).values(**change))
        db.session.commit()
        problem_of(api("get", ME, target.secret), 401, "owner_inactive")
        assert _introspect(api, caller, target.secret) == {"active": False}
        db.session.execute(update(Profile).where(Profile.user_id == target.user.id)
                           .values(status=UserStatus.ACTIVE, locked_until=None))
        db.session.commit()
    assert _introspect(api, caller, target.secret)["active"] is True


def test_introspection_of_a_retired_secret_is_inactive_and_revokes_nothing(api, issue):
    caller = issue(Role.ADMIN, "read")
    target = issue(Role.ADMIN, "write", tenant=caller.tenant)
    successor = _rotate(api, target.token.id, target.secret)
    db.session.execute(update(ApiToken).where(ApiToken.id == target.token.id).values(grace_until=utcnow()))
    db.session.commit()
    assert _introspect(api, caller, target.secret) == {"active": False}
    assert api("get", ME, successor["secret"]).status_code == 200  # looking did not revoke the chain


def test_introspection_reports_the_scope_a_use_is_granted(api, issue):
    caller = issue(Role.ADMIN, "read")
    target = issue(Role.ADMIN, "admin", tenant=caller.tenant)
    assert _introspect(api, caller, target.secret)["scope"] == "admin"
    db.session.execute(update(Membership).where(Membership.user_id == target.user.id).values(role=Role.MANAGER))
    db.session.commit()
    assert _introspect(api, caller, target.secret)["scope"] == "write"  # a manager may use write at most


def test_rotation_refuses_a_body_and_takes_none(api, issue):
    caller = issue(Role.ADMIN, "write")
    problem_of(api("post", f"{TOKENS}/{caller.token.id}/rotate", caller.secret, json={"name": "x"}), 422,
               "request_invalid")
    assert api("post", f"{TOKENS}/{caller.token.id}/rotate", caller.secret).status_code == 201


def test_the_document_marks_optional_bodies_optional(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert paths["/api/v1/tokens/{token_id}/revoke"]["post"]["requestBody"]["required"] is False
    assert paths["/api/v1/tokens/{token_id}/rotate"]["post"]["requestBody"]["required"] is False
    assert paths["/api/v1/tokens"]["post"]["requestBody"]["required"] is True


def test_options_on_the_api_is_204_without_a_body_and_not_stored(client):
    response = client.open("options", "/api/v1/me")
    assert response.status_code == 204 and response.get_data() == b""
    assert "Content-Type" not in response.headers and response.headers["Cache-Control"] == "no-store"
    assert "GET" in response.headers["Allow"]


def test_an_integral_json_number_is_an_integer(api, issue):
    # JSON has one number type and JSON Schema counts 7.0 as an integer; 7.5 and "7" are still refused
    caller = issue(Role.ADMIN, "write")
    created = api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read", "expires_in_days": 7.0})
    assert created.status_code == 201
    for bad in (7.5, "7", True):
        problem_of(api("post", TOKENS, caller.secret, json={"name": "x", "scope": "read", "expires_in_days": bad}),
                   422, "request_invalid")
