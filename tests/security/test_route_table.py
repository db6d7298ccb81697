"""Walk app.url_map: every route is classified, and each class holds, including across tenants."""

import pytest
from flask import url_for

from app.extensions import db
from app.permissions import catalogue
from app.users.models import Role
from tests.security.route_table import ROUTES, api_routes


def _rules(app):
    return [r for r in app.url_map.iter_rules()]


def _url(rule, slug="x"):
    args = {name: (slug if name == "slug" else "1") for name in rule.arguments}
    if "action" in rule.arguments:
        args["action"] = "sign-out"  # a path argument that is one of a few words
    if rule.endpoint == "static":
        args = {"filename": "css/app.css"}
    return url_for(rule.endpoint, **args)


def _methods(rule):
    return sorted(m for m in rule.methods if m not in {"HEAD", "OPTIONS"})


def test_every_route_is_classified(app):
    endpoints = {r.endpoint for r in _rules(app)}
    unclassified = endpoints - ROUTES.keys()
    stale = ROUTES.keys() - endpoints
    assert not unclassified, f"classify these routes in tests/security/route_table.py: {sorted(unclassified)}"
    assert not stale, f"these entries name no route: {sorted(stale)}"


def test_permission_classes_match_the_views(app):
    for rule in _rules(app):
        kind = ROUTES[rule.endpoint]
        required = getattr(app.view_functions[rule.endpoint], "permission", None)
        if kind.startswith("permission:"):
            assert required == kind.split(":", 1)[1], rule.endpoint
            assert catalogue.get_action(required) is not None, f"{required} is not declared"
        elif kind.startswith("api:"):
            scope, permission = api_routes()[rule.endpoint]
            view = app.view_functions[rule.endpoint]
            assert (view.api_scope.value, view.permission) == (scope, permission), rule.endpoint
            assert permission is None or catalogue.get_action(permission) is not None, permission
        else:
            assert required is None, rule.endpoint


def _call(client, method, url):
    if method == "GET":
        return client.get(url)
    if method == "DELETE":
        return client.open("delete", url)
    if method in {"PUT", "PATCH"}:  # JSON API only
        return client.open(method.lower(), url, json={})
    return client.post(url, {})


def test_anonymous_users_are_sent_to_sign_in(app, client):
    with app.test_request_context():
        cases = [(m, _url(r), ROUTES[r.endpoint]) for r in _rules(app) if ROUTES[r.endpoint] != "public"
                 for m in _methods(r)]
    assert cases
    for method, url, kind in cases:
        response = _call(client, method, url)
        if kind.startswith("api:"):  # no cookie sign-in for the API: a 401 problem with a Bearer challenge
            assert response.status_code == 401 and response.mimetype == "application/problem+json", (method, url)
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), (method, url)
        else:
            assert response.status_code == 302 and "/auth/login" in response.headers["Location"], (method, url)


def test_members_of_another_tenant_get_404(app, client, auth, member_of, create_tenant):
    owner_elsewhere, _ = member_of(Role.OWNER)
    victim = create_tenant(slug="victim")
    auth.login(owner_elsewhere)
    with app.test_request_context():
        cases = [(m, _url(r, slug=victim.slug)) for r in _rules(app) if "slug" in r.arguments for m in _methods(r)]
    assert cases
    for method, url in cases:
        assert _call(client, method, url).status_code == 404, (method, url)
    with app.test_request_context():
        missing = [(m, _url(r, slug="no-such-tenant")) for r in _rules(app) if "slug" in r.arguments
                   for m in _methods(r)]
    for method, url in missing:
        assert _call(client, method, url).status_code == 404, (method, url)


@pytest.mark.parametrize("role", list(Role))
def test_roles_without_the_permission_get_403(app, client, auth, member_of, role):
    user, tenant = member_of(role)
    auth.login(user)
    with app.test_request_context():
        cases = [(m, _url(r, slug=tenant.slug), ROUTES[r.endpoint].split(":", 1)[1], set(r.arguments) - {"slug"})
                 for r in _rules(app) if ROUTES[r.endpoint].startswith("permission:") for m in _methods(r)]
    assert cases
    for method, url, key, ids in cases:
        status = _call(client, method, url).status_code
        if catalogue.role_grants(role, key):
            # Past the gate, a route about one row may answer 404: the id 1 in its URL names nothing.
            assert status != 403 and (status != 404 or ids), (role, method, url)
        else:
            assert status == 403, (role, method, url)


def test_a_deny_rule_closes_a_route_the_role_opens(app, client, auth, member_of):
    from app.core.actor import Actor
    from app.permissions.services import create_rule

    user, tenant = member_of(Role.OWNER)
    create_rule(Actor(user), tenant, user_id=user.id, effect="deny", target="settings.*", reason="frozen")
    db.session.commit()
    auth.login(user)
    response = client.get(f"/t/{tenant.slug}/settings")
    assert response.status_code == 403 and "frozen" in response.get_data(as_text=True)


@pytest.mark.parametrize("stage", ["second_factor", "enroll"])
def test_a_session_short_of_signed_in_reaches_only_its_stage(app, client, auth, member_of, stage):
    """Until the second step passes (or the required app is enrolled), every route but the stage's own sends the
    session to its stage's page: no page, no fragment (HX-Redirect), no account page. Driven by the route table,
    so a new route cannot escape."""
    from app.sessions.models import UserSession
    from app.sessions.web import reachable_views

    user, tenant = member_of(Role.OWNER)
    auth.login(user)
    db.session.query(UserSession).update({"stage": stage})
    db.session.commit()
    home = "/auth/2fa" if stage == "second_factor" else "/account/security"
    with app.test_request_context():
        open_here = reachable_views(stage)
        cases = [(m, _url(r, slug=tenant.slug)) for r in _rules(app)
                 if ROUTES[r.endpoint] != "public" and not ROUTES[r.endpoint].startswith("api:")
                 and r.endpoint not in open_here for m in _methods(r)]
    assert len(cases) > 40
    assert open_here >= {"auth.logout", "auth.set_locale"} and "users.account" not in open_here
    for method, url in cases:
        response = _call(client, method, url)
        assert response.status_code == 302 and response.headers["Location"].endswith(home), (method, url)
    fragment = client.get(f"/t/{tenant.slug}/users", headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"].endswith(home)
    assert client.get(home).status_code == 200
