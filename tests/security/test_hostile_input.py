"""Hostile input never gets a server error, on every route, on both databases.

For every route of the route table, every input it reads (path arguments, query arguments, form fields, JSON
fields, the body itself) is fed NUL bytes, lone surrogates, 10 KB strings, numbers past every column's range,
far dates, wrong types and deep JSON; any 5xx fails. Pages run as a tenant owner, the API with an admin-scope
token made afresh for each request. The API's inputs come from its OpenAPI document; the pages' from PAGES
below, which must describe every page route (a new route fails here until it is described).

Each route gets, as Hypothesis' explicit examples: every input valid (the route works, so the refusals are
the values'); each path argument given each hostile value; all inputs hostile at once, rotating through the
values so that each reaches each input; each validated field alone given each value that could pass its
validation (so it reaches the service and the database); odd bodies (deep, not an object, not JSON). Then
EXAMPLES generated mixes of one to three hostile inputs. Derandomized: the same requests on every run.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import pyotp
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from app.core.actor import Actor
from app.core.mixins import utcnow
from app.core.ratelimit import limiter
from app.extensions import db
from app.invites import services as invite_services
from app.invites.models import Invite, InviteUse
from app.mail.services import queue_email
from app.permissions.models import PermissionRule
from app.permissions.resolver import bump_policy_version
from app.permissions.services import create_rule
from app.sessions.services import Lifetimes, start_session
from app.tenants.models import Tenant
from app.tokens import services, usage
from app.tokens.models import ApiToken
from app.twofactor.models import RememberedBrowser, TotpDevice
from app.twofactor.secrets import seal
from app.users.models import Role
from app.users.services import create_user as create_account
from tests.conftest import PASSWORD, Client
from tests.security.route_table import PUBLIC_API, ROUTES, api_routes
from tests.twofactor.helpers import enrolled

OPENAPI = "/api/v1/openapi.json"
EXAMPLES = 12  # generated requests per route, besides the explicit ones

# ---------------------------------------------------------------- hostile values

LONG = "A" * 10_240
DATES = ("9999-12-31T23:59", "9999-12-31T23:59:59-03:00", "0001-01-01T00:00")
NUMBERS = (2**31, 2**63, -1, 10**30, 0)
#: text a validator may let through: the values each validated field gets alone, with the others valid
PLAUSIBLE_TEXT = (LONG, "²", "9" * 5000, *(str(n) for n in NUMBERS), *DATES)
TEXTS = ("\x00", "name\x00", "\ud800", "x\udfffy", "", " ", *PLAUSIBLE_TEXT)
REPEATED = ("a", "b")  # a query argument or form field sent twice
ABSENT = object()  # the input is not sent
#: what a query argument or form field may be (text, always)
FORM_VALUES = (*TEXTS, REPEATED, ABSENT)
DEEP_OK = 400  # nested deep, but not past the parser: it reaches validation
PLAUSIBLE_JSON = (LONG, "²", *NUMBERS, 1e308, 1.5, float("inf"), float("nan"), *DATES, [], {}, None, True, "")
#: what a JSON field may be
JSON_VALUES = ("\x00", "name\x00", "\ud800", "x\udfffy", *PLAUSIBLE_JSON, False, ["\x00"], {"\ud800": 1},
               json.loads("[" * DEEP_OK + "]" * DEEP_OK), ABSENT)
#: what a path argument may be: past the id range, negative, zero, text, NUL
PATH_VALUES = ("0", "-1", "2147483648", "9223372036854775808", "9" * 30, "abc", "\x00", "a\x00b", "1.5", "²", LONG)
#: whole bodies: too deep for the parser, not an object, not JSON at all
#: the methods whose requests carry a body (form fields, JSON fields)
WITH_BODY = ("POST", "PUT", "PATCH")
BODIES = ("[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000, "[]", '"\\u0000"', "null", "1e400",
          "1" + "0" * 5000, '{"a": NaN}', "{", b"\xff\xfe")


# ---------------------------------------------------------------- what each page route reads


@dataclass(frozen=True)
class Page:
    query: tuple[str, ...] = ()
    form: tuple[str, ...] = ()  # a form's fields, validated together
    also: tuple[str, ...] = ()  # form fields read one by one (the list's filters, sent along by htmx)
    targets: tuple[str, ...] = ()  # HX-Target ids the view answers with one block


TOKEN_FILTERS = ("q", "status", "scope", "owner", "expiring", "sort", "page")
RULE_FILTERS = ("rules_user", "rules_effect", "rules_module", "rules_q", "rules_page")
USER_FILTERS = ("q", "state", "role", "twofa", "sort", "page")
INVITE_FILTERS = ("q", "status", "inviter", "role", "kind", "page")
PERMISSION_STATE = ("user", "members_q", "members_page", *RULE_FILTERS)

#: every page route (all but the bearer-token API) -> what it reads besides its path arguments
PAGES: dict[str, Page] = {
    "static": Page(),
    "health.healthz": Page(),
    "health.readyz": Page(),
    "auth.login": Page(query=("next",), form=("email", "password")),
    "auth.set_locale": Page(form=("locale", "next")),
    "auth.logout": Page(),
    "auth.forgot_password": Page(form=("email",)),
    "auth.open_reset": Page(),
    "auth.reset_form": Page(form=("password", "confirm")),
    "invites.join": Page(form=("code",)),
    "invites.join_link": Page(),
    "invites.join_continue": Page(),
    "invites.join_signup": Page(form=("name", "email", "password", "confirm")),
    "invites.join_accept": Page(),
    "auth_settings.update_signin": Page(form=("lock_after",)),
    "users.account": Page(),
    "users.update_account": Page(form=("name", "locale", "timezone")),
    "users.update_password": Page(form=("current", "new", "confirm", "end_others")),
    "users.confirm_reset": Page(),
    "users.send_reset_link": Page(),
    "tenants.home": Page(),
    "tenants.dashboard": Page(),
    "tenants.settings": Page(),
    "tenants.update_general": Page(form=("name", "timezone", "default_locale")),
    "permissions.page": Page(query=PERMISSION_STATE, targets=("perm-members-list", "perm-rules-list")),
    "permissions.rules_address": Page(query=PERMISSION_STATE),
    "permissions.explain_decision": Page(query=("user", "action", "resource")),
    "permissions.check_access": Page(query=("check-user_id", "check-action", "check-resource")),
    "permissions.create_rule": Page(query=PERMISSION_STATE, also=RULE_FILTERS,
                                    form=("user_id", "effect", "target", "resource", "expires_at", "reason",
                                          "scope")),
    "permissions.delete_rule": Page(query=PERMISSION_STATE),
    "permissions.edit_rule": Page(query=PERMISSION_STATE, form=("expires_at", "reason")),
    "tokens.page": Page(query=TOKEN_FILTERS, targets=("tokens-list", "tokens-create")),
    "tokens.create_token": Page(query=TOKEN_FILTERS, also=TOKEN_FILTERS,
                                form=("new-name", "new-scope", "new-expires", "new-expires_on",
                                      "new-rate_limit", "new-ip_allow", "new-ip_deny", "new-device_binding",
                                      "new-proof")),
    "tokens.show_token": Page(targets=("token-detail",)),
    "tokens.confirm_revoke": Page(query=("reason", "back")),
    "tokens.revoke_token": Page(form=("reason", "back")),
    "tokens.confirm_rotate": Page(query=("back",)),
    "tokens.rotate_token": Page(form=("back",)),
    "tokens.update_limits": Page(form=("rate_limit", "ip_allow", "ip_deny", "device_binding")),
    "tokens.update_policy": Page(form=("policy-default_days", "policy-max_days", "policy-allow_no_expiry",
                                       "policy-rotation_grace_minutes")),
    "sessions.account_sessions": Page(),
    "sessions.confirm_end_own": Page(),
    "sessions.end_own": Page(),
    "sessions.confirm_end_others": Page(),
    "sessions.end_others": Page(),
    "sessions.tenant_sessions": Page(query=("q", "page")),
    "sessions.confirm_end_member": Page(),
    "sessions.end_member": Page(query=("q", "page")),
    "users.page": Page(query=USER_FILTERS, targets=("users-list",)),
    "users.export": Page(query=USER_FILTERS),
    "users.show": Page(),
    "users.confirm_action": Page(),
    "users.run_action": Page(),
    "users.confirm_role": Page(query=("role",)),
    "users.change_member_role": Page(form=("role",)),
    "users.confirm_bulk": Page(query=("bulk_action", "user_id", *USER_FILTERS)),
    "users.run_bulk": Page(query=USER_FILTERS, form=("bulk_action",), also=("user_id",)),
    "twofactor.second_step": Page(query=("method",), form=("method", "code", "remember")),
    "twofactor.send_sign_in_code": Page(),
    "twofactor.security": Page(),
    "twofactor.start_enrollment": Page(form=("name", "proof")),
    "twofactor.enroll": Page(),
    "twofactor.confirm_enrollment": Page(form=("code",)),
    "twofactor.new_codes": Page(),
    "twofactor.regenerate_codes": Page(form=("proof",)),
    "twofactor.send_step_up_code": Page(form=("next",)),
    "twofactor.confirm_remove": Page(),
    "twofactor.remove_app": Page(form=("proof",)),
    "twofactor.confirm_forget": Page(),
    "twofactor.forget_browser": Page(),
    "twofactor_admin.update_policy": Page(form=("twofa-required_roles", "twofa-email_codes")),
    "twofactor_admin.confirm_member_reset": Page(),
    "twofactor_admin.reset_member": Page(form=("proof",)),
    "invites.page": Page(query=INVITE_FILTERS, targets=("invites-list",)),
    "invites.issue": Page(query=INVITE_FILTERS, form=("invite-email", "invite-role", "invite-ttl_hours",
                                                      "invite-send_email")),
    "invites.create_link": Page(query=INVITE_FILTERS, form=("link-role", "link-max_uses", "link-email_domain",
                                                            "link-ttl_hours", "link-needs_approval")),
    "invites.confirm_revoke": Page(),
    "invites.revoke": Page(),
    "invites.confirm_resend": Page(),
    "invites.resend": Page(),
    "invites.renew": Page(query=INVITE_FILTERS),
    "invites.approve": Page(query=INVITE_FILTERS),
    "invites.confirm_decline": Page(),
    "invites.decline": Page(),
    "invites.update_settings": Page(form=("invites-invite_ttl_hours", "invites-invite_max_ttl_hours",
                                          "invites-invite_daily_limit")),
    "api.openapi": Page(),
    "api.docs": Page(),
    "mail.outbox": Page(query=("page",)),
    "mail.outbox_message": Page(),
}

#: where one API input name means different things: the valid value for that route
API_VALID_FOR = {"permissions_api.create_rule": {"scope": "tenant"}}
API_VALID_FOR["invites_api.validate_code"] = {"code": "hbx_i_not-a-code"}  # any text is a valid question
API_VALID_FOR["invites_api.create_invite"] = {"kind": "personal", "max_uses": 1, "email": None, "ttl_hours": None,
                                             "email_domain": None, "needs_approval": False}
API_VALID_FOR["invites_api.list_invites"] = {"status": "pending", "kind": "personal", "inviter_id": ABSENT}


# ---------------------------------------------------------------- routes and their inputs

_VARIABLE = re.compile(r"<(?:\w+(?:\([^)]*\))?:)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    endpoint: str
    rule: str
    methods: tuple[str, ...]
    path: tuple[str, ...]
    query: tuple[str, ...] = ()
    form: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    json: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    api: bool = False

    def inputs(self, method: str) -> list[tuple[str, str]]:
        """(where, name) of every input a request with `method` carries, path arguments aside."""
        body = method in WITH_BODY
        return ([("query", n) for n in self.query] + [("form", n) for n in (*self.form, *self.also) if body]
                + [("json", n) for n in self.json if body])

    @property
    def uses_ids(self) -> bool:
        return bool({"token_id", "rule_id", "session_id", "user_id", "invite_id", "use_id"} & set(self.path))


def _api_operation(document: dict, rule) -> tuple[str, dict]:
    path = _VARIABLE.sub(r"{\g<name>}", rule.rule)
    method = next(m for m in sorted(rule.methods) if m not in {"HEAD", "OPTIONS"})
    operation = document["paths"].get(path, {}).get(method.lower())
    assert operation is not None, f"{rule.endpoint}: {method} {path} is not in the OpenAPI document"
    return method, operation


def _json_fields(document: dict, operation: dict) -> tuple[str, ...]:
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return ()
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return tuple(schema.get("properties", {}))


def describe(app, document: dict, endpoint: str) -> Route:
    """The route and its inputs: from the OpenAPI document for the API, from PAGES for pages."""
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    path = tuple(rule.arguments)
    if endpoint in api_routes() or endpoint in PUBLIC_API:  # the public JSON route too: JSON, from the document
        method, operation = _api_operation(document, rule)
        query = tuple(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
        return Route(endpoint, rule.rule, (method,), path, query, json=_json_fields(document, operation), api=True)
    page = PAGES[endpoint]
    methods = tuple(m for m in sorted(rule.methods) if m not in {"HEAD", "OPTIONS"})
    return Route(endpoint, rule.rule, methods, path, page.query, page.form, page.also, targets=page.targets)


def test_every_route_is_described(app, client):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints == set(ROUTES), "tests/security/route_table.py is out of date"
    pages = set(ROUTES) - set(api_routes()) - PUBLIC_API
    assert not pages - set(PAGES), f"describe the inputs of these page routes in PAGES: {sorted(pages - set(PAGES))}"
    assert not set(PAGES) - pages, f"PAGES describes routes that are gone: {sorted(set(PAGES) - pages)}"
    document = client.get(OPENAPI).get_json()
    for endpoint in api_routes():
        assert describe(app, document, endpoint).api  # fails when the document lacks the route


# ---------------------------------------------------------------- the world the requests run in


@dataclass
class World:
    app: object
    owner: object
    member: object
    tenant: Tenant
    client: Client  # signed in as the owner
    document: dict
    valid: dict = field(default_factory=dict)  # page input -> a value the route accepts
    api_valid: dict = field(default_factory=dict)  # API input -> a value the route accepts (as JSON)
    paths: dict = field(default_factory=dict)  # path argument -> an existing row's
    kept: dict = field(default_factory=dict)  # what no request may change


def _in_30_days() -> datetime:
    return datetime.now(UTC) + timedelta(days=30)


@pytest.fixture
def world(app, client, auth, member_of, create_user, create_tenant, monkeypatch):
    # Sign-ins (and failed ones) by the hundred: a cheap password hash keeps them quick; it is not under test.
    monkeypatch.setattr("app.users.models.PASSWORD_METHOD", "pbkdf2:sha256:1")
    # UTC-3: a far date typed in its rule form is past the year 9999 in UTC
    owner, tenant = member_of(Role.OWNER, tenant=create_tenant(name="Fuzzed Tenant", timezone="America/Sao_Paulo"))
    member = create_user(tenant=tenant)
    victim = create_user(tenant=tenant)  # signs in on the sign-in page: fuzzed passwords lock them, not the owner
    auth.login(owner)
    world = World(app, owner, member, tenant, client, client.get(OPENAPI).get_json())
    world.kept = _keepsakes(member_of, create_tenant, tenant, member)
    world.valid = {
        "email": victim.email, "password": PASSWORD, "next": "/", "locale": "en",
        "name": "Fuzzed Tenant", "timezone": "America/Sao_Paulo", "default_locale": "en",
        "user": str(member.id), "action": "tokens.view", "resource": "user:1", "members_q": "user",
        "members_page": "1", "rules_user": str(member.id), "rules_effect": "deny", "rules_module": "tokens",
        "rules_q": "reason", "rules_page": "1", "check-user_id": str(member.id), "check-action": "tokens.view",
        "check-resource": "", "user_id": str(member.id), "effect": "deny", "target": "dashboard.view",
        "expires_at": _in_30_days().strftime("%Y-%m-%dT%H:%M"), "reason": "fuzz", "scope": "tenant",
        "q": "fuzz", "status": "active", "owner": str(owner.id), "expiring": "7", "page": "1",
        "new-name": "fuzz page token", "new-scope": "read", "new-expires": "30", "new-expires_on": "", "sort": "name",
        "back": "list", "current": PASSWORD, "new": PASSWORD, "confirm": PASSWORD, "end_others": "",
        "role": "manager", "lock_after": "3", "state": "active", "bulk_action": "sign-out",
        "new-rate_limit": "100", "new-ip_allow": "10.0.0.0/8", "new-ip_deny": "", "new-device_binding": "",
        "rate_limit": "100", "ip_allow": "10.0.0.0/8", "ip_deny": "192.0.2.1", "device_binding": "y",
        "policy-default_days": "90", "policy-max_days": "365", "policy-allow_no_expiry": "",
        "policy-rotation_grace_minutes": "60", "twofa": "off", "twofa-required_roles": "admin",
        "twofa-email_codes": "y", "method": "totp", "proof": PASSWORD, "code": "123456", "remember": "",
        "new-proof": PASSWORD,
        "invite-email": "fuzz.invitee@example.com", "invite-role": "member", "invite-ttl_hours": "24",
        "invite-send_email": "y", "link-role": "member", "link-max_uses": "5", "link-email_domain": "example.com",
        "link-ttl_hours": "24", "link-needs_approval": "y", "inviter": str(owner.id), "kind": "personal",
        "invites-invite_ttl_hours": "72", "invites-invite_max_ttl_hours": "720", "invites-invite_daily_limit": "1000",
    }
    world.api_valid = {
        "name": "fuzz api token", "scope": "read", "expires_in_days": 30, "no_expiry": False, "rate_limit": 100,
        "ip_allow": ["10.0.0.0/8"], "ip_deny": [], "device_binding": False, "reason": "fuzz",
        "user_id": member.id, "effect": "deny", "target": "dashboard.view", "resource": None,
        "expires_at": _in_30_days().isoformat(), "action": "tokens.view", "page": 1, "per_page": 25,
        "status": "active", "owner_id": owner.id, "q": "fuzz", "expiring_within_days": 7, "module": "tokens",
        "role": "manager", "state": "active", "sort": "name", "twofa": "off",
    }
    _targets(world)
    world.valid["code"] = world.paths["code"] = _invite_code(member_of, create_tenant)
    yield world
    usage.flush()


def _invite_code(member_of, create_tenant) -> str:
    """A valid invite code to another tenant (the join pages read it from the form or the path)."""
    from app.invites.services import issue

    inviter, tenant = member_of(Role.OWNER, tenant=create_tenant(name="Inviting Tenant"))
    _invite, code = issue(Actor(inviter), tenant, role=Role.MEMBER, now=utcnow())
    db.session.commit()
    return code


def _keepsakes(member_of, create_tenant, fuzzed: Tenant, member) -> dict:
    """Rows no request may change: another tenant with a token and a rule, and a member's token in the fuzzed
    tenant (no route renames a token or rewords a rule). Non-ASCII, to see that they come back as stored."""
    other_owner, other = member_of(Role.OWNER, tenant=create_tenant(name="Kept Tenant ✓ ünïcödé"))
    theirs = services.create_token(None, other, other_owner, name="kept token ✓", scope="read").token
    rule = create_rule(Actor(other_owner), other, user_id=other_owner.id, effect="allow", target="dashboard.view",
                       reason="kept reason ✓")
    ours = services.create_token(None, fuzzed, member, name="kept token ✓ ours", scope="read").token
    db.session.commit()
    return {"tenant": (other.id, other.name, other.slug), "tokens": {theirs.id: theirs.name, ours.id: ours.name},
            "rule": (rule.id, rule.reason), "slug": (fuzzed.id, fuzzed.slug)}


def _assert_nothing_stored_was_lost(world: World) -> None:
    db.session.rollback()
    db.session.expire_all()
    tenant_id, name, slug = world.kept["tenant"]
    other = db.session.get(Tenant, tenant_id)
    assert (other.name, other.slug) == (name, slug)
    for token_id, token_name in world.kept["tokens"].items():
        token = db.session.scalar(select(ApiToken).where(ApiToken.id == token_id).execution_options(all_tenants=True))
        assert token is not None and token.name == token_name
    rule_id, reason = world.kept["rule"]
    assert db.session.scalar(select(PermissionRule.reason).where(PermissionRule.id == rule_id)) == reason
    fuzzed_id, fuzzed_slug = world.kept["slug"]
    assert db.session.get(Tenant, fuzzed_id).slug == fuzzed_slug


def _targets(world: World) -> None:
    """Rows for path ids to name (a fuzzed rotate, revoke or delete may have used the last ones up)."""
    target = services.create_token(None, world.tenant, world.owner, name="target", scope="read")
    rule = create_rule(Actor(world.owner), world.tenant, user_id=world.member.id, effect="allow",
                       target="dashboard.view", reason="target")
    session_row, _raw = start_session(world.owner, ip="192.0.2.7", user_agent="pytest", now=utcnow(),
                                      lifetimes=Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=1)))
    message = queue_email(world.member.email, "test", locale="en", context={})
    # an active app and a remembered browser of the owner (rows, not the services: the fuzzing removes some)
    device = TotpDevice(user_id=world.owner.id, name="fuzz app", secret=seal(pyotp.random_base32(32)),
                        confirmed_at=utcnow())
    browser = RememberedBrowser(user_id=world.owner.id, digest=secrets.token_hex(32), device="pytest",
                                expires_at=utcnow() + timedelta(days=1))
    db.session.add_all([device, browser])
    world.owner.profile.twofa_enabled_at = utcnow()
    db.session.commit()
    db.session.refresh(world.member.profile)
    if world.member.profile.twofa_enabled_at is None:  # a second factor for a fuzzed reset to remove
        enrolled(world.member)
    # an invite and a link's join waiting for approval (a fresh person each time: a fuzzed approve admits one)
    world.tenant.invite_daily_limit = 10**6
    invite, _code = invite_services.issue(Actor(world.owner), world.tenant, role="member", now=utcnow())
    _link, link_code = invite_services.issue(Actor(world.owner), world.tenant, role="member", kind="link",
                                             max_uses=2, needs_approval=True, now=utcnow())
    joiner = create_account(f"joiner-{secrets.token_hex(6)}@example.com", PASSWORD)
    invite_services.accept(link_code, joiner, utcnow())
    join = db.session.scalar(select(InviteUse.id).where(InviteUse.user_id == joiner.id))
    db.session.commit()
    world.paths = {"invite_id": str(invite.id), "use_id": str(join),
                   "slug": world.tenant.slug, "token_id": str(target.token.id), "rule_id": str(rule.id),
                   "session_id": str(session_row.id), "user_id": str(world.member.id), "action": "sign-out",
                   "secret": "a-reset-secret-that-matches-nothing",
                   "message_id": str(message.id), "filename": "css/app.css", "device_id": str(device.id),
                   "browser_id": str(browser.id)}
    world.api_valid["token"] = target.secret


def _ground(world: World, route: Route) -> None:
    """Before each request: fresh rows for its ids, no rule the fuzzing put on the owner, no spent rate limit."""
    db.session.rollback()
    if route.uses_ids:
        _targets(world)
    if route.endpoint == "invites.renew":  # what is renewed is an expired invite
        expired = db.session.get(Invite, int(world.paths["invite_id"]))
        expired.expires_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    if "user_id" in route.form or "user_id" in route.json:
        db.session.execute(delete(PermissionRule).where(PermissionRule.user_id == world.owner.id))
        bump_policy_version(world.owner.id)
        db.session.commit()
    limiter.reset()


# ---------------------------------------------------------------- requests


def _values_for(where: str) -> tuple:
    return {"path": PATH_VALUES, "query": FORM_VALUES, "form": FORM_VALUES, "json": JSON_VALUES}[where]


@st.composite
def requests(draw, route: Route):
    """(method, {(where, name): value} of the hostile inputs, htmx target): one to three inputs hostile, the
    others valid."""
    method = draw(st.sampled_from(route.methods))
    inputs = [("path", n) for n in route.path] + route.inputs(method)
    hostile = {}
    if inputs:
        chosen = draw(st.sets(st.sampled_from(inputs), min_size=1, max_size=min(3, len(inputs))))
        for where, name in sorted(chosen):
            hostile[(where, name)] = draw(st.sampled_from(_values_for(where)))
    htmx = None if route.api else draw(st.sampled_from((None, "", *route.targets)))
    return method, hostile, htmx


def explicit(route: Route) -> list[tuple]:
    """The explicit examples of a route (see the module's docstring)."""
    cases = []
    for method in route.methods:
        cases.append((method, {}, None))
        cases += [(method, {("path", name): value}, None) for name in route.path for value in PATH_VALUES]
        inputs = route.inputs(method)
        if inputs:
            longest = max(len(_values_for(where)) for where, _ in inputs)
            for n in range(longest):
                values = {(where, name): _values_for(where)[(n + i) % len(_values_for(where))]
                          for i, (where, name) in enumerate(inputs)}
                cases.append((method, values, "" if n % 2 else None))
        if method in WITH_BODY:
            cases += [(method, {("form", name): value}, None) for name in route.form for value in PLAUSIBLE_TEXT]
            cases += [(method, {("json", name): value}, None) for name in route.json for value in PLAUSIBLE_JSON]
            cases += [(method, {("body", ""): body}, None) for body in BODIES]
    return cases


def _pairs(names, valid: dict, hostile: dict, where: str) -> list[tuple[str, str]]:
    pairs = []
    for name in names:
        value = hostile.get((where, name), valid.get(name, ""))
        if value is ABSENT:
            continue
        pairs += [(name, one) for one in (value if isinstance(value, tuple) else (value,))]
    return pairs


def _encoded(pairs) -> str:
    # a lone surrogate goes out as the bytes a client would send: its UTF-8 form (which is invalid UTF-8)
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass")


def _url(world: World, route: Route, hostile: dict) -> str:
    def argument(match) -> str:
        name = match["name"]
        value = hostile.get(("path", name), world.paths[name])
        return quote(value.encode("utf-8", "surrogatepass"), safe="/" if name == "filename" else "")

    return _VARIABLE.sub(argument, route.rule)


def send(world: World, route: Route, method: str, hostile: dict, htmx: str | None):
    _ground(world, route)
    url, headers, body = _url(world, route, hostile), {}, None
    if route.api:
        valid = {**world.api_valid, **API_VALID_FOR.get(route.endpoint, {})}
        # query arguments are text: a JSON value other than text goes as its JSON (`2147483648`, `[]`, `null`)
        as_text = {n: v if isinstance(v, str | tuple) or v is ABSENT else json.dumps(v) for n, v in valid.items()}
        hostile_text = {k: v if isinstance(v, str | tuple) or v is ABSENT else json.dumps(v)
                        for k, v in hostile.items() if k[0] == "query"}
        query = _pairs(route.query, as_text, hostile_text, "query")
        if method in WITH_BODY and route.json:
            document = {n: hostile.get(("json", n), valid.get(n)) for n in route.json}
            body = json.dumps({n: v for n, v in document.items() if v is not ABSENT})
        issued = services.create_token(None, world.tenant, world.owner, name="fuzz", scope="admin")
        db.session.commit()
        headers["Authorization"] = f"Bearer {issued.secret}"
        client = Client(world.app.test_client())
    else:
        query = _pairs(route.query, world.valid, hostile, "query")
        if htmx is not None:
            headers["HX-Request"] = "true"
            if htmx:
                headers["HX-Target"] = f"div#{htmx}"
        client = world.client
        if route.endpoint in {"auth.login", "auth.set_locale"}:
            client = Client(world.app.test_client())  # signed out: the sign-in page shows its form
        if method == "POST":
            form = [("csrf_token", client.token()), ("form_nonce", client.nonce()),  # as a rendered form carries
                    *_pairs((*route.form, *route.also), world.valid, hostile, "form")]
            body = _encoded(form)
    if query:
        url += "?" + _encoded(query)
    kwargs = {}
    if ("body", "") in hostile:
        kwargs = {"data": hostile[("body", "")], "content_type": "application/json"}
    elif body is not None:
        kwargs = {"data": body, "content_type": "application/json" if route.api else
                  "application/x-www-form-urlencoded"}
    response = client.open(method.lower(), url, headers=headers, **kwargs)
    if route.endpoint == "auth.logout":
        _sign_in_again(world)
    return response


def _sign_in_again(world: World) -> None:
    world.client.csrf = None
    assert world.client.post("/auth/login", {"email": world.owner.email, "password": PASSWORD}).status_code == 302
    world.client.csrf = None


def _shown(method: str, route: Route, hostile: dict, htmx) -> str:
    values = {f"{where}:{name}": "<absent>" if value is ABSENT else repr(value)[:60]
              for (where, name), value in hostile.items()}
    return f"{method} {route.rule} {values} htmx={htmx!r}"


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_hostile_input_gets_no_server_error(app, world, endpoint):
    route = describe(app, world.document, endpoint)
    statuses = []

    def run(case):
        method, hostile, htmx = case
        response = send(world, route, method, hostile, htmx)
        statuses.append(response.status_code)
        assert response.status_code < 500, (f"{response.status_code} for {_shown(method, route, hostile, htmx)}: "
                                            f"{response.get_data(as_text=True)[:300]}")
        if not hostile:
            assert response.status_code < 400, f"valid input refused: {_shown(method, route, hostile, htmx)}"

    test = given(case=requests(route))(run)
    for case in reversed(explicit(route)):  # Hypothesis runs the last one given first
        test = example(case=case)(test)
    settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
             suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])(test)()
    assert statuses
    _assert_nothing_stored_was_lost(world)
