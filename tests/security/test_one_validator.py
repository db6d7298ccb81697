"""One validator per field (DESIGN §4): the same value gets the same verdict from the form, the API model, the
command and the service. Each entry point is asked through its own machinery (a Flask-WTF form with form data,
`Model.model_validate`, the click command or parameter type, the service call) and the verdicts and normalised
values are compared. Plus the bugs that started it: far dates were 500s, IPv4-mapped IP rules never matched,
`?status=rotated` listed retired tokens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import click
import pytest
from pydantic import ValidationError
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from app.auth.forms import LoginForm
from app.core.actor import Actor
from app.core.errors import ValidationFailed
from app.core.fieldadapters import Checked
from app.core.fields import check_cidrs, check_password, check_reason
from app.core.mixins import utcnow
from app.extensions import db
from app.permissions.api import CreateRule
from app.permissions.forms import RuleForm
from app.permissions.models import PermissionRule
from app.permissions.services import create_rule
from app.tenants.forms import GeneralSettingsForm
from app.tenants.models import Tenant
from app.tenants.services import update_settings
from app.tokens import routes as token_routes
from app.tokens import services as token_services
from app.tokens.api import CreateToken, TokenQuery
from app.tokens.forms import LimitsForm
from app.tokens.models import ApiToken
from app.users.models import Role, User
from app.users.services import create_user, validate_password
from tests.conftest import PASSWORD

MINUS_3 = timezone(timedelta(hours=-3))
NO_CSRF = {"csrf": False}
REFUSED = "refused"


# ---------------------------------------------------------------- how each entry point is asked


def _form(app, form_class, field: str, data: dict, **kwargs):
    """The verdict of one form field: its normalised data, or REFUSED."""
    with app.test_request_context(method="POST"):
        form = form_class(MultiDict(data), meta=NO_CSRF, **kwargs)
        form.validate()
        return REFUSED if getattr(form, field).errors else getattr(form, field).data


def _model(model, field: str, data: dict):
    """The verdict of one API model field: its validated value, or REFUSED."""
    try:
        return getattr(model.model_validate(data), field)
    except ValidationError as exc:
        if any(error["loc"] and error["loc"][0] == field for error in exc.errors()):
            return REFUSED
        raise


def _click(check, value):
    """The verdict of a command's parameter type."""
    try:
        return Checked(check).convert(value, None, None)
    except click.BadParameter:
        return REFUSED


def _service(call, field: str):
    """The verdict of a service: its result, or REFUSED when it refused `field` (nothing is kept)."""
    try:
        result = call()
    except ValidationFailed as exc:
        db.session.rollback()
        assert exc.field == field, (exc.field, exc.detail)
        return REFUSED
    db.session.rollback()
    return result


def _same(verdicts: dict, expected) -> None:
    """Every entry point gave `expected` (REFUSED, or the same normalised value)."""
    assert all(verdict == expected for verdict in verdicts.values()), verdicts


# ---------------------------------------------------------------- email


EMAILS = [
    ("a@x.test", REFUSED), ("a@x.local", REFUSED), ("a@localhost", REFUSED), ('"q"@example.com', REFUSED),
    ("a" * 300 + "@example.com", REFUSED), ("A@Example.com", "a@example.com"),
]


@pytest.mark.parametrize("value, expected", EMAILS)
def test_email_same_verdict_on_sign_in_form_command_and_service(app, value, expected):
    form = _form(app, LoginForm, "email", {"email": value, "password": "any password"})
    service = _service(lambda: create_user(value, PASSWORD).email, "email")
    result = app.test_cli_runner().invoke(args=["tenants", "create", "acme", "--name", "Acme", "--admin-email", value,
                                                "--admin-password-stdin"], input=f"{PASSWORD}\n")
    command = REFUSED if result.exit_code else db.session.scalar(select(User.email))
    if result.exit_code:
        assert result.exit_code == 2 and "Invalid value for '--admin-email'" in result.output, result.output
        assert db.session.scalar(select(Tenant.id)) is None
    _same({"form": form, "service": service, "command": command}, expected)


# ---------------------------------------------------------------- password


@pytest.mark.parametrize("value, expected", [(" " * 12, REFUSED), ("a" * 11, REFUSED), ("b" * 12, "b" * 12)])
def test_password_same_verdict_on_command_prompt_stdin_and_service(app, value, expected):
    service = _service(lambda: validate_password(value) or value, "password")
    prompt = _click(check_password, value)  # the interactive `tenants create` prompt's type
    result = app.test_cli_runner().invoke(args=["tenants", "create", "acme", "--name", "Acme", "--admin-email",
                                                "owner@example.com", "--admin-password-stdin"], input=f"{value}\n")
    stdin = REFUSED if result.exit_code else value
    if result.exit_code:
        assert result.exit_code == 1 and "password" in result.output.lower(), result.output
    else:
        assert db.session.scalar(select(User)).check_password(value)
    _same({"service": service, "prompt": prompt, "stdin": stdin}, expected)


# ---------------------------------------------------------------- tenant name


@pytest.mark.parametrize("value, expected", [("n" * 150, REFUSED), ("a\x00b", REFUSED), ("  Acme S.A. ", "Acme S.A.")])
def test_tenant_name_same_verdict_on_settings_form_command_and_service(app, member_of, value, expected):
    admin, tenant = member_of(Role.ADMIN)
    form = _form(app, GeneralSettingsForm, "name", {"name": value, "timezone": "UTC", "default_locale": "en"},
                 timezones=["UTC"])
    actor = Actor(admin, ip="127.0.0.1", user_agent="t", request_id="r")
    service = _service(
        lambda: update_settings(actor, tenant, name=value, timezone="UTC", default_locale="en")["name"][1], "name")
    result = app.test_cli_runner().invoke(args=["tenants", "create", "named", "--name", value, "--admin-email",
                                                "owner@example.com", "--admin-password-stdin"], input=f"{PASSWORD}\n")
    command = REFUSED if result.exit_code else db.session.scalar(select(Tenant.name).where(Tenant.slug == "named"))
    if result.exit_code:
        assert result.exit_code == 2 and "Invalid value for '--name'" in result.output, result.output
    _same({"form": form, "service": service, "command": command}, expected)


# ---------------------------------------------------------------- permission rule: reason and far dates


@pytest.fixture
def rule_team(member_of, create_user, create_tenant):
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(timezone="America/Sao_Paulo"))
    member = create_user(tenant=tenant, role=Role.MEMBER)
    return admin, member, tenant


def _rule_data(member, **changes) -> dict:
    return {"user_id": str(member.id), "effect": "deny", "target": "settings.*", "reason": "audit freeze"} | changes


def _api_rule(member, **changes) -> dict:
    return {"user_id": member.id, "effect": "deny", "target": "settings.*", "reason": "audit freeze"} | changes


@pytest.mark.parametrize("value, expected", [
    ("   ", REFUSED), ("r" * 501, REFUSED), ("bell\x07", REFUSED),
    ("  covering \r\nfor a week ", "covering \nfor a week"),
])
def test_rule_reason_same_verdict_on_form_api_command_type_and_service(app, rule_team, value, expected):
    admin, member, tenant = rule_team
    form = _form(app, RuleForm, "reason", _rule_data(member, reason=value), members=[])
    model = _model(CreateRule, "reason", _api_rule(member, reason=value))
    service = _service(lambda: create_rule(Actor(admin), tenant, user_id=member.id, effect="deny",
                                           target="settings.*", reason=value).reason, "reason")
    _same({"form": form, "api": model, "command type": _click(check_reason, value), "service": service}, expected)


FAR = [
    ("9999-12-31T23:59", "9999-12-31T23:59:59-03:00", datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_3)),
    ("0001-01-01T00:00", "0001-01-01T00:00:00+03:00", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=3)))),
    ("3000-01-01T00:00", "3000-01-01T00:00:00Z", datetime(3000, 1, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize("typed, sent, given", FAR)
def test_far_dates_same_verdict_on_form_api_and_service(app, rule_team, typed, sent, given):
    admin, member, tenant = rule_team
    with app.test_request_context(method="POST"):
        form = RuleForm(MultiDict(_rule_data(member, expires_at=typed)), members=[], meta=NO_CSRF)
        form.validate()
        with pytest.raises(ValidationFailed) as info:
            form.expires_at_utc(tenant.timezone)  # the tenant's zone: UTC-3
        assert info.value.field == "expires_at"
    assert _model(CreateRule, "expires_at", _api_rule(member, expires_at=sent)) == REFUSED
    assert _service(lambda: create_rule(Actor(admin), tenant, user_id=member.id, effect="deny", target="settings.*",
                                        expires_at=given, reason="r"), "expires_at") == REFUSED


def test_far_dates_are_422_on_the_page_and_the_api(client, auth, app, rule_team):
    admin, member, tenant = rule_team
    auth.login(admin)
    page = client.post(f"/t/{tenant.slug}/permissions/rules", _rule_data(member, expires_at="9999-12-31T23:59"),
                       htmx=True)
    assert page.status_code == 422 and "Choose a date from the year 2000 to 2999." in page.get_data(as_text=True)
    issued = token_services.create_token(None, tenant, admin, name="t", scope="admin")
    db.session.commit()
    headers = {"Authorization": f"Bearer {issued.secret}"}
    for body in (_api_rule(member, expires_at="9999-12-31T23:59:59-03:00"),
                 _api_rule(member, expires_at="2030-01-01T00:00:00"), _api_rule(member, reason="   ")):
        response = client.open("post", "/api/v1/permissions/rules", json=body, headers=headers)
        problem = response.get_json()
        assert response.status_code == 422 and problem["code"] == "validation_failed", problem
        assert problem["field"] in {"expires_at", "reason"}
    assert db.session.scalar(select(PermissionRule)) is None


def test_a_valid_expiry_typed_in_the_tenants_zone_is_stored_in_utc(app, rule_team):
    admin, member, tenant = rule_team
    with app.test_request_context(method="POST"):
        form = RuleForm(MultiDict(_rule_data(member, expires_at="2099-01-01T09:30")), members=[], meta=NO_CSRF)
        form.validate()
        assert form.expires_at_utc(tenant.timezone) == datetime(2099, 1, 1, 12, 30, tzinfo=UTC)
    assert _model(CreateRule, "expires_at", _api_rule(member, expires_at="2099-01-01T09:30:00-03:00")) == datetime(
        2099, 1, 1, 12, 30, tzinfo=UTC)


# ---------------------------------------------------------------- IP rules


@pytest.mark.parametrize("value, expected", [
    ("10.0.0.0/8, 192.168.0.0/16", ["10.0.0.0/8", "192.168.0.0/16"]),
    ("::1/200", REFUSED),
    ("::ffff:127.0.0.1/128", ["127.0.0.1/32"]),
])
def test_ip_rules_same_verdict_on_form_api_command_type_and_service(app, value, expected):
    verdicts = {
        "form": _form(app, LimitsForm, "ip_allow", {"ip_allow": value}),
        "api": _model(CreateToken, "ip_allow", {"name": "x", "scope": "read", "ip_allow": [value]}),
        "command type": _click(check_cidrs, value),
        "service": _service(lambda: token_services.parse_cidrs(value, "ip_allow"), "ip_allow"),
    }
    _same(verdicts, expected)


@pytest.mark.parametrize("stored, address", [
    (["::ffff:127.0.0.1/128"], "127.0.0.1"),
    (["::ffff:10.0.0.0/104"], "10.1.2.3"),
])
def test_an_ipv4_mapped_deny_refuses_the_ipv4_client(client, member_of, stored, address):
    admin, tenant = member_of(Role.ADMIN)
    issued = token_services.create_token(None, tenant, admin, name="t", scope="read", ip_deny=stored)
    db.session.commit()
    assert issued.token.ip_deny == check_cidrs(stored) != stored  # stored normalised
    headers = {"Authorization": f"Bearer {issued.secret}"}
    response = client.get("/api/v1/me", headers=headers, environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 403 and response.get_json()["code"] == "ip_denied"
    # a row stored before the check normalised it is matched the same way
    db.session.execute(update(ApiToken).where(ApiToken.id == issued.token.id).values(ip_deny=stored))
    db.session.commit()
    response = client.get("/api/v1/me", headers=headers, environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 403 and response.get_json()["code"] == "ip_denied"
    other = client.get("/api/v1/me", headers=headers, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert other.status_code == 200


def test_an_ipv4_mapped_allow_admits_the_ipv4_client(client, member_of):
    admin, tenant = member_of(Role.ADMIN)
    issued = token_services.create_token(None, tenant, admin, name="t", scope="read")
    db.session.execute(update(ApiToken).where(ApiToken.id == issued.token.id)
                       .values(ip_allow=["::ffff:203.0.113.0/120"]))  # as stored before the fix
    db.session.commit()
    headers = {"Authorization": f"Bearer {issued.secret}"}
    assert client.get("/api/v1/me", headers=headers, environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
    assert client.get("/api/v1/me", headers=headers, environ_base={"REMOTE_ADDR": "198.51.100.1"}).status_code == 403


# ---------------------------------------------------------------- token status filter


@pytest.mark.parametrize("value, expected", [("retired", "retired"), ("rotated", "rotated"), ("bogus", REFUSED)])
def test_token_status_same_verdict_on_page_api_and_command(app, run, value, expected):
    page = token_routes._filters(MultiDict({"status": value}))["status"] or REFUSED  # a page ignores a bad filter
    api = _model(TokenQuery, "status", {"status": value})
    result = run("tokens", "list", "--status", value)
    command = value if result.exit_code == 0 else REFUSED
    if result.exit_code:
        assert result.exit_code == 2 and "Invalid value for '--status'" in result.output
    _same({"page": page, "api": api, "command": command}, expected)


@pytest.fixture
def rotation_zoo(member_of):
    """An admin's tokens: one active, one rotated (in grace), one retired (grace over), with their successors."""
    admin, tenant = member_of(Role.ADMIN)

    def make(name):
        return token_services.create_token(None, tenant, admin, name=name, scope="read").token

    make("plain")
    rotated = make("rotated")
    token_services.rotate_token(None, rotated)
    retired = make("retired")
    token_services.rotate_token(None, retired)
    retired.grace_until = utcnow() - timedelta(minutes=1)
    caller = token_services.create_token(None, tenant, admin, name="caller", scope="admin")
    db.session.commit()
    return tenant, caller.secret


def test_rotated_and_retired_filters_differ_in_the_api_the_service_and_the_command(client, run, rotation_zoo):
    tenant, secret = rotation_zoo

    def listed(status):
        response = client.get(f"/api/v1/tokens?status={status}&per_page=100",
                              headers={"Authorization": f"Bearer {secret}"})
        assert response.status_code == 200, response.get_json()
        return {t["name"] for t in response.get_json()["items"]}

    def served(status):
        return {t.name for t in token_services.list_tokens(tenant, status=status, per_page=100).items}

    def commanded(status):
        lines = run("tokens", "list", "--tenant", tenant.slug, "--status", status).output.splitlines()[:-1]
        return {line.split("\t")[3] for line in lines}

    for source in (listed, served, commanded):
        assert source("rotated") == {"rotated"}, source
        assert source("retired") == {"retired"}, source
    replaced = {t.name: t.status()
                for t in db.session.scalars(select(ApiToken).where(ApiToken.successor_id.is_not(None)))}
    assert replaced == {"rotated": "rotated", "retired": "retired"}  # what each token's page shows


@pytest.mark.parametrize("value, refused", [("a\x01b", True), ("x" * 501, True), ("  laptop stolen ", False)])
def test_revoke_reason_same_verdict_on_page_api_command_and_service(client, auth, run, member_of, value, refused):
    from app.tokens import services as token_services
    from app.tokens.models import ApiToken

    user, tenant = member_of(Role.ADMIN)
    made = [token_services.create_token(None, tenant, user, name=f"t{i}", scope="write") for i in range(3)]
    db.session.commit()
    page_token, api_token, cli_token = (issued.token.id for issued in made)
    auth.login(user)
    page = client.post(f"/t/{tenant.slug}/tokens/{page_token}/revoke", {"reason": value})
    api = client.open("post", f"/api/v1/tokens/{api_token}/revoke", json={"reason": value},
                      headers={"Authorization": f"Bearer {made[1].secret}"})
    command = run("tokens", "revoke", str(cli_token), "--reason", value)
    db.session.expire_all()
    revoked = [db.session.get(ApiToken, i).revoked_at is not None for i in (page_token, api_token, cli_token)]
    assert revoked == [not refused] * 3, (page.status_code, api.status_code, command.output)
    assert (page.status_code == 422, api.status_code == 422, command.exit_code == 1) == (refused,) * 3
    if not refused:
        assert {db.session.get(ApiToken, i).revoke_reason for i in (page_token, api_token, cli_token)} == {
            "laptop stolen"}
