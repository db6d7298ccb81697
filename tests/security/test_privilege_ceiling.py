"""The privilege ceiling as a table over the route table: every route that changes something is listed in
`route_table.CEILING`, and each listed case tries to get past the ceiling through that route: a token minting
or rotating above its scope, an admin rotating someone else's token (and receiving its secret), acting on the
owner, granting a right the actor lacks. Each case also checks that the same action within the ceiling works,
so a refusal for another reason cannot pass for the ceiling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import tests.security.ceiling_invites  # noqa: F401 (registers its cases)
import tests.security.ceiling_invites_api  # noqa: F401 (registers its cases)
from app.extensions import db
from app.permissions.models import PermissionRule
from app.users.models import Role, User
from tests.security import ceiling_people  # noqa: F401 (registers its cases)
from tests.security.ceiling import CASES, SECRET, World, _fresh, _live_rule, _tokens_named, case
from tests.security.route_table import CEILING
from tests.tokens.helpers import problem_of

CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def world(member_of, create_user, client, auth) -> World:
    owner, tenant = member_of(Role.OWNER)
    admin = create_user(tenant=tenant, role=Role.ADMIN)
    member = create_user(tenant=tenant, role=Role.MEMBER)
    return World(tenant, owner, admin, member, client, auth)



# ---------------------------------------------------------------- the table covers every changing route


def test_every_changing_route_is_under_the_ceiling(app):
    changing = {r.endpoint for r in app.url_map.iter_rules() if set(r.methods) & CHANGING}
    assert not changing - CEILING.keys(), f"list these in route_table.CEILING: {sorted(changing - CEILING.keys())}"
    assert not CEILING.keys() - changing, f"these CEILING entries name no changing route: {CEILING.keys() - changing}"


def test_every_listed_case_exists():
    listed = {name for cases in CEILING.values() if isinstance(cases, tuple) for name in cases}
    assert listed == CASES.keys()


@pytest.mark.parametrize("name", sorted({n for cases in CEILING.values() if isinstance(cases, tuple) for n in cases}))
def test_ceiling_holds(world, name):
    CASES[name](world)


# ---------------------------------------------------------------- tokens


@case("write_token_mints_admin")
def _write_token_mints_admin(w: World):
    _, write = w.token(w.admin, "write")
    _, admin = w.token(w.admin, "admin")
    problem_of(w.api("POST", "/api/v1/tokens", write, {"name": "minted", "scope": "admin"}), 403,
               "scope_above_ceiling")
    assert _tokens_named("minted") == 0
    assert w.api("POST", "/api/v1/tokens", write, {"name": "minted", "scope": "write"}).status_code == 201
    assert w.api("POST", "/api/v1/tokens", admin, {"name": "minted", "scope": "admin"}).status_code == 201


@case("member_asks_admin_scope")
def _member_asks_admin_scope(w: World):
    url = w.url("tokens")
    response = w.page(w.member, url, {"new-name": "wanted", "new-scope": "admin", "new-expires": "7"})
    assert response.status_code == 403
    assert _tokens_named("wanted") == 0
    response = w.page(w.member, url, {"new-name": "wanted", "new-scope": "read", "new-expires": "7"})
    assert response.status_code == 303 and _tokens_named("wanted") == 1


@case("write_token_rotates_admin_token")
def _write_token_rotates_admin_token(w: World):
    target, _ = w.token(w.admin, "admin", "target")
    lesser, _ = w.token(w.admin, "write", "lesser")
    _, write = w.token(w.admin, "write", "caller")
    problem_of(w.api("POST", f"/api/v1/tokens/{target.id}/rotate", write), 403, "scope_above_ceiling")
    assert _fresh(target.id).successor_id is None
    response = w.api("POST", f"/api/v1/tokens/{lesser.id}/rotate", write)
    assert response.status_code == 201 and response.get_json()["token"]["scope"] == "write"


@case("admin_rotates_others_token_api")
def _admin_rotates_others_token_api(w: World):
    owners, _ = w.token(w.owner, "admin", "owner's")
    members, _ = w.token(w.member, "read", "member's")
    own, _ = w.token(w.admin, "read", "own")
    _, admin = w.token(w.admin, "admin", "caller")
    for target in (owners, members):
        body = problem_of(w.api("POST", f"/api/v1/tokens/{target.id}/rotate", admin), 403, "not_owner")
        assert "secret" not in body
        assert _fresh(target.id).successor_id is None
    assert w.api("POST", f"/api/v1/tokens/{own.id}/rotate", admin).status_code == 201


@case("admin_rotates_others_token_page")
def _admin_rotates_others_token_page(w: World):
    members, _ = w.token(w.member, "read", "member's")
    owners, _ = w.token(w.owner, "read", "owner's")
    own, _ = w.token(w.admin, "read", "own")
    for target in (members, owners):
        w.auth.login(w.admin)
        page = w.client.get(w.url(f"tokens/{target.id}")).get_data(as_text=True)
        assert f"tokens/{target.id}/rotate" not in page  # not offered
        response = w.client.post(w.url(f"tokens/{target.id}/rotate"), {})
        w.auth.logout()
        assert response.status_code == 403 and not SECRET.search(response.get_data(as_text=True))
        assert _fresh(target.id).successor_id is None
    response = w.page(w.admin, w.url(f"tokens/{own.id}/rotate"))
    # post/redirect/get: the new secret is shown on the new token's page, never in the answer to the POST
    assert response.status_code == 303 and _fresh(own.id).successor_id is not None
    assert not SECRET.search(response.get_data(as_text=True) + response.headers["Location"])


@case("admin_revokes_owner_token_api")
def _admin_revokes_owner_token_api(w: World):
    owners, _ = w.token(w.owner, "read", "owner's")
    members, _ = w.token(w.member, "read", "member's")
    _, admin = w.token(w.admin, "write", "caller")
    problem_of(w.api("POST", f"/api/v1/tokens/{owners.id}/revoke", admin, {"reason": "x"}), 403, "outranked")
    assert _fresh(owners.id).revoked_at is None
    assert w.api("POST", f"/api/v1/tokens/{members.id}/revoke", admin, {"reason": "x"}).status_code == 200
    assert _fresh(members.id).revoked_at is not None


@case("admin_revokes_owner_token_page")
def _admin_revokes_owner_token_page(w: World):
    owners, _ = w.token(w.owner, "read", "owner's")
    members, _ = w.token(w.member, "read", "member's")
    assert w.page(w.admin, w.url(f"tokens/{owners.id}/revoke"), {"reason": "x"}).status_code == 403
    assert _fresh(owners.id).revoked_at is None
    assert w.page(w.admin, w.url(f"tokens/{members.id}/revoke"), {"reason": "x"}).status_code == 302
    assert _fresh(members.id).revoked_at is not None


@case("admin_changes_owner_limits")
def _admin_changes_owner_limits(w: World):
    owners, _ = w.token(w.owner, "read", "owner's")
    members, _ = w.token(w.member, "read", "member's")
    limits = {"rate_limit": "5", "ip_allow": "10.0.0.0/8", "ip_deny": ""}
    assert w.page(w.admin, w.url(f"tokens/{owners.id}/limits"), limits).status_code == 403
    assert _fresh(owners.id).rate_limit is None and _fresh(owners.id).ip_allow == []
    assert w.page(w.admin, w.url(f"tokens/{members.id}/limits"), limits).status_code == 302
    assert _fresh(members.id).rate_limit == 5


# ---------------------------------------------------------------- rules


def _rule_form(subject: User, effect: str, target: str) -> dict:
    return {"user_id": str(subject.id), "effect": effect, "target": target, "reason": "ceiling test"}


def _rule_body(subject: User, effect: str, target: str) -> dict:
    return {"user_id": subject.id, "effect": effect, "target": target, "reason": "ceiling test"}


def _rules_on(user: User) -> int:
    db.session.expire_all()
    return len(db.session.scalars(select(PermissionRule).where(PermissionRule.user_id == user.id)
                                  .execution_options(all_tenants=True)).all())


@case("admin_rules_on_owner_api")
def _admin_rules_on_owner_api(w: World):
    _, admin = w.token(w.admin, "admin")
    problem_of(w.api("POST", "/api/v1/permissions/rules", admin, _rule_body(w.owner, "deny", "permissions.manage")),
               403, "outranked")
    assert _rules_on(w.owner) == 0
    response = w.api("POST", "/api/v1/permissions/rules", admin, _rule_body(w.member, "deny", "tokens.create"))
    assert response.status_code == 201


@case("admin_rules_on_owner_page")
def _admin_rules_on_owner_page(w: World):
    url = w.url("permissions/rules")
    assert w.page(w.admin, url, _rule_form(w.owner, "deny", "permissions.manage")).status_code == 403
    assert _rules_on(w.owner) == 0
    assert w.page(w.admin, url, _rule_form(w.member, "deny", "tokens.create")).status_code == 302
    assert _rules_on(w.member) == 1


@case("grant_beyond_own_rights_api")
def _grant_beyond_own_rights_api(w: World):
    w.rule(w.owner, w.admin, "deny", "tokens.manage")
    _, admin = w.token(w.admin, "admin")
    for target in ("tokens.manage", "tokens.*"):
        problem_of(w.api("POST", "/api/v1/permissions/rules", admin, _rule_body(w.member, "allow", target)),
                   403, "beyond_your_rights")
    assert _rules_on(w.member) == 0
    response = w.api("POST", "/api/v1/permissions/rules", admin, _rule_body(w.member, "allow", "permissions.view"))
    assert response.status_code == 201


@case("grant_beyond_own_rights_page")
def _grant_beyond_own_rights_page(w: World):
    w.rule(w.owner, w.admin, "deny", "tokens.manage")
    url = w.url("permissions/rules")
    response = w.page(w.admin, url, _rule_form(w.member, "allow", "tokens.manage"))
    assert response.status_code == 403 and "tokens.manage" in response.get_data(as_text=True)
    assert _rules_on(w.member) == 0
    assert w.page(w.admin, url, _rule_form(w.member, "allow", "permissions.view")).status_code == 302


@case("admin_removes_owner_rule_api")
def _admin_removes_owner_rule_api(w: World):
    on_owner = w.rule(w.owner, w.owner, "allow", "permissions.view")
    on_member = w.rule(w.owner, w.member, "allow", "permissions.view")
    _, admin = w.token(w.admin, "admin")
    problem_of(w.api("DELETE", f"/api/v1/permissions/rules/{on_owner}", admin), 403, "outranked")
    assert _live_rule(on_owner)
    assert w.api("DELETE", f"/api/v1/permissions/rules/{on_member}", admin).status_code == 204


@case("admin_removes_owner_rule_page")
def _admin_removes_owner_rule_page(w: World):
    on_owner = w.rule(w.owner, w.owner, "allow", "permissions.view")
    on_member = w.rule(w.owner, w.member, "allow", "permissions.view")
    assert w.page(w.admin, w.url(f"permissions/rules/{on_owner}/delete")).status_code == 403
    assert _live_rule(on_owner)
    assert w.page(w.admin, w.url(f"permissions/rules/{on_member}/delete")).status_code == 302
    assert not _live_rule(on_member)


def _denies_beyond_the_admin(w: World) -> tuple[int, int]:
    """The admin lacks tokens.manage (an owner's deny); the member has a deny on it and one on permissions.view."""
    w.rule(w.owner, w.admin, "deny", "tokens.manage")
    return (w.rule(w.owner, w.member, "deny", "tokens.manage"),
            w.rule(w.owner, w.member, "deny", "permissions.view"))


@case("remove_deny_beyond_rights_api")
def _remove_deny_beyond_rights_api(w: World):
    denied, other = _denies_beyond_the_admin(w)
    _, admin = w.token(w.admin, "admin")
    problem_of(w.api("DELETE", f"/api/v1/permissions/rules/{denied}", admin), 403, "beyond_your_rights")
    assert _live_rule(denied)
    assert w.api("DELETE", f"/api/v1/permissions/rules/{other}", admin).status_code == 204


@case("remove_deny_beyond_rights_page")
def _remove_deny_beyond_rights_page(w: World):
    denied, other = _denies_beyond_the_admin(w)
    w.auth.login(w.admin)
    listing = w.client.get(w.url("permissions")).get_data(as_text=True)
    w.auth.logout()
    assert f"rules/{denied}/delete" not in listing and f"rules/{other}/delete" in listing  # offered as allowed
    assert w.page(w.admin, w.url(f"permissions/rules/{denied}/delete")).status_code == 403
    assert _live_rule(denied)
    assert w.page(w.admin, w.url(f"permissions/rules/{other}/delete")).status_code == 302


def _global_rule(w: World) -> int:
    operator = db.session.get(User, w.owner.id)
    operator.is_operator = True
    db.session.commit()
    rule_id = w.rule(operator, w.member, "deny", "tokens.create", scope="global")
    operator.is_operator = False
    db.session.commit()
    return rule_id


@case("global_rule_is_not_found_api")
def _global_rule_is_not_found_api(w: World):
    rule_id = _global_rule(w)
    _, admin = w.token(w.admin, "admin")
    problem_of(w.api("DELETE", f"/api/v1/permissions/rules/{rule_id}", admin), 404, "not_found")
    problem_of(w.api("DELETE", f"/api/v1/permissions/rules/{rule_id + 1000}", admin), 404, "not_found")
    assert _live_rule(rule_id)


@case("global_rule_is_not_found_page")
def _global_rule_is_not_found_page(w: World):
    rule_id = _global_rule(w)
    assert w.page(w.admin, w.url(f"permissions/rules/{rule_id}/delete")).status_code == 404
    assert _live_rule(rule_id)


# ---------------------------------------------------------------- changing a rule (reason and expiry)


def _stored_rule(rule_id: int) -> PermissionRule:
    db.session.expire_all()
    return db.session.scalar(select(PermissionRule).filter_by(id=rule_id).execution_options(all_tenants=True))


def _edit(w: World, rule_id: int, reason: str = "set up", days: int | None = None) -> int:
    """The admin sends the edit form of a rule: the reason, and an expiry `days` ahead (None: never)."""
    expires = "" if days is None else (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")
    return w.page(w.admin, w.url(f"permissions/rules/{rule_id}/edit"), {"reason": reason, "expires_at": expires}
                  ).status_code


@case("admin_edits_owner_rule_page")
def _admin_edits_owner_rule_page(w: World):
    on_owner, on_member = (w.rule(w.owner, who, "allow", "permissions.view") for who in (w.owner, w.member))
    w.auth.login(w.admin)
    listing = w.client.get(w.url("permissions")).get_data(as_text=True)
    assert w.client.get(w.url(f"permissions/rules/{on_owner}/edit")).status_code == 403
    w.auth.logout()
    assert f"rules/{on_owner}/edit" not in listing and f"rules/{on_member}/edit" in listing
    assert _edit(w, on_owner, "taken over") == 403 and _stored_rule(on_owner).reason == "set up"
    assert _edit(w, on_member, "taken over") == 302 and _stored_rule(on_member).reason == "taken over"


@case("extend_allow_beyond_rights_page")
def _extend_allow_beyond_rights_page(w: World):
    """An allow the admin could not grant (they lack tokens.manage) may not be changed by them."""
    w.rule(w.owner, w.admin, "deny", "tokens.manage")
    beyond, within = (w.rule(w.owner, w.member, "allow", key) for key in ("tokens.manage", "permissions.view"))
    assert _edit(w, beyond, days=9) == 403 and _stored_rule(beyond).expires_at is None
    assert _edit(w, within, days=9) == 302 and _stored_rule(within).expires_at is not None


@case("shorten_deny_beyond_rights_page")
def _shorten_deny_beyond_rights_page(w: World):
    """A deny on what the admin lacks may not be made to end sooner by them (that would grant it)."""
    denied, other = _denies_beyond_the_admin(w)
    assert _edit(w, denied, days=1) == 403 and _stored_rule(denied).expires_at is None
    assert _edit(w, other, days=1) == 302 and _stored_rule(other).expires_at is not None


@case("global_rule_edit_is_not_found_page")
def _global_rule_edit_is_not_found_page(w: World):
    rule_id = _global_rule(w)
    assert _edit(w, rule_id, "mine now") == 404 and _stored_rule(rule_id).reason == "set up"
