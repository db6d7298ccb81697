"""`flask tokens create|revoke|list` and `flask revoke-expired-tokens` (also the 15-minute job)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core import tokencodec
from app.core.actor import Actor
from app.core.crypto import crypto
from app.core.mixins import utcnow
from app.extensions import db
from app.tokens import services
from app.tokens.models import ApiToken
from app.users.models import Role

TOKEN_LINE = re.compile(r"^hbx_p_[0-9A-Za-z]{36}\n$")


@pytest.fixture
def team(member_of, create_user):
    admin, tenant = member_of(Role.ADMIN)
    member = create_user("member@example.com", tenant=tenant)
    return admin, member, tenant


def _only_token() -> ApiToken:
    db.session.expire_all()
    tokens = db.session.scalars(select(ApiToken).execution_options(all_tenants=True)).all()
    assert len(tokens) == 1
    return tokens[0]


# ---------------------------------------------------------------- create


def test_create_prints_only_the_token(run, team):
    admin, _, tenant = team
    before = utcnow()
    result = run("tokens", "create", "--user", admin.email.upper(), "--tenant", tenant.slug, "--scope", "admin",
                 "--name", "deploy bot")
    assert result.exit_code == 0, result.output
    assert TOKEN_LINE.match(result.output), repr(result.output)  # one line: scripts capture it as is
    secret = result.output.strip()
    assert tokencodec.well_formed(secret, "p")
    token = _only_token()
    assert token.digest == crypto().digest(secret) and token.hint == tokencodec.hint(secret)
    assert (token.name, token.scope.value, token.user_id, token.tenant_id, token.created_by_id) == (
        "deploy bot", "admin", admin.id, tenant.id, None)
    assert before + timedelta(days=90) <= token.expires_at <= utcnow() + timedelta(days=90)  # tenant default


def test_the_printed_token_works_on_the_api(run, team, client):
    admin, _, tenant = team
    secret = run("tokens", "create", "--user", admin.email, "--tenant", tenant.slug, "--scope", "read").output.strip()
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200 and response.get_json()["token"]["name"] == "cli"


@pytest.mark.parametrize("value, days", [("30d", 30), ("1d", 1), ("365d", 365), (" 7D ", 7)])
def test_expires_in_days(run, team, value, days):
    admin, _, tenant = team
    before = utcnow()
    result = run("tokens", "create", "--user", admin.email, "--tenant", tenant.slug, "--scope", "read",
                 "--expires-in", value)
    assert result.exit_code == 0, result.output
    expires = _only_token().expires_at
    assert before + timedelta(days=days) <= expires <= utcnow() + timedelta(days=days)


@pytest.mark.parametrize("value", ["30", "30h", "0d", "-5d", "d", "abc", "3.5d", "30 d", "99999999d", ""])
def test_bad_expires_in_is_a_usage_error(run, team, value):
    admin, _, tenant = team
    result = run("tokens", "create", "--user", admin.email, "--tenant", tenant.slug, "--scope", "read",
                 "--expires-in", value)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--expires-in'" in result.output and "30d" in result.output
    assert db.session.scalar(select(db.func.count()).select_from(ApiToken)) == 0


def test_expires_in_beyond_the_policy_is_refused(run, team):
    admin, _, tenant = team
    result = run("tokens", "create", "--user", admin.email, "--tenant", tenant.slug, "--scope", "read",
                 "--expires-in", "366d")
    assert result.exit_code == 1 and result.output == "Error: Choose 1 to 365 days.\n"


def test_never_only_where_the_policy_allows_it(run, team):
    admin, _, tenant = team
    args = ["tokens", "create", "--user", admin.email, "--tenant", tenant.slug, "--scope", "read",
            "--expires-in", "never"]
    refused = run(*args)
    assert refused.exit_code == 1 and refused.output == "Error: This tenant requires tokens to expire.\n"
    services.update_token_policy(Actor(admin), tenant, default_days=90, max_days=365, allow_no_expiry=True,
                                 rotation_grace_minutes=60)
    db.session.commit()
    result = run(*args[:-1], "NEVER")
    assert result.exit_code == 0 and TOKEN_LINE.match(result.output)
    assert _only_token().expires_at is None


@pytest.mark.parametrize("args, message", [
    (["--user", "nobody@example.com", "--tenant", "{slug}", "--scope", "read"], "Error: no user with email"),
    (["--user", "{email}", "--tenant", "no-such-tenant", "--scope", "read"], "Error: no tenant no-such-tenant"),
    (["--user", "member@example.com", "--tenant", "{slug}", "--scope", "write"],
     "Error: The owner may not use the write scope here."),
])
def test_create_refusals(run, team, args, message):
    admin, _, tenant = team
    args = [a.format(slug=tenant.slug, email=admin.email) for a in args]
    result = run("tokens", "create", *args)
    assert result.exit_code == 1 and result.output.startswith(message), result.output
    assert db.session.scalar(select(db.func.count()).select_from(ApiToken)) == 0


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_create_refuses_a_bad_name_as_a_usage_error(run, team, name):
    # The name's own check (app.core.fields), as the form and the API run it: a bad option value is a usage error.
    admin, _, tenant = team
    result = run("tokens", "create", "--user", admin.email, "--tenant", tenant.slug, "--scope", "read", "--name", name)
    assert result.exit_code == 2 and "Invalid value for '--name'" in result.output, result.output
    assert db.session.scalar(select(db.func.count()).select_from(ApiToken)) == 0


def test_create_for_a_user_outside_the_tenant_is_refused(run, team, create_user):
    _, _, tenant = team
    outsider = create_user()
    result = run("tokens", "create", "--user", outsider.email, "--tenant", tenant.slug, "--scope", "read")
    assert result.exit_code == 1 and "may not use the read scope" in result.output


@pytest.mark.parametrize("missing", ["--user", "--tenant", "--scope"])
def test_create_needs_user_tenant_and_scope(run, team, missing):
    admin, _, tenant = team
    args = {"--user": admin.email, "--tenant": tenant.slug, "--scope": "read"}
    args.pop(missing)
    result = run("tokens", "create", *[x for pair in args.items() for x in pair])
    assert result.exit_code == 2 and f"Missing option '{missing}'" in result.output


def test_bad_scope_is_a_usage_error(run, team):
    admin, _, tenant = team
    result = run("tokens", "create", "--user", admin.email, "--tenant", tenant.slug, "--scope", "root")
    assert result.exit_code == 2 and "Invalid value for '--scope'" in result.output


# ---------------------------------------------------------------- revoke


def test_revoke(run, team):
    admin, _, tenant = team
    token = services.create_token(None, tenant, admin, name="x", scope="read").token
    db.session.commit()
    result = run("tokens", "revoke", str(token.id))
    assert result.exit_code == 0 and result.output == f"token {token.id} revoked\n"
    token = _only_token()
    assert (token.status(), token.revoke_reason, token.revoked_by_id) == ("revoked", "revoked by command", None)
    again = run("tokens", "revoke", str(token.id), "--reason", "other")
    assert again.exit_code == 0 and again.output == f"token {token.id} was already revoked (revoked by command)\n"
    assert _only_token().revoke_reason == "revoked by command"


def test_revoke_with_a_reason_and_unknown_ids(run, team):
    admin, _, tenant = team
    token = services.create_token(None, tenant, admin, name="x", scope="read").token
    db.session.commit()
    assert run("tokens", "revoke", str(token.id), "--reason", "laptop stolen").exit_code == 0
    assert _only_token().revoke_reason == "laptop stolen"
    missing = run("tokens", "revoke", "999999")
    assert missing.exit_code == 1 and missing.output == "Error: no token 999999\n"
    assert run("tokens", "revoke", "abc").exit_code == 2


# ---------------------------------------------------------------- list


def test_list(run, team, member_of):
    admin, member, tenant = team
    other_admin, other = member_of(Role.ADMIN)
    kept = services.create_token(None, tenant, admin, name="deploy", scope="admin")
    gone = services.create_token(None, tenant, member, name="laptop", scope="read")
    services.revoke_token(None, gone.token, reason="x")
    elsewhere = services.create_token(None, other, other_admin, name="other", scope="read")
    db.session.commit()
    result = run("tokens", "list")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[-1] == "3 tokens"
    rows = [line.split("\t") for line in lines[:-1]]
    assert [r[0] for r in rows] == [str(elsewhere.token.id), str(gone.token.id), str(kept.token.id)]
    expires = kept.token.expires_at.strftime("%Y-%m-%d %H:%M")
    assert rows[2] == [str(kept.token.id), tenant.slug, admin.email, "deploy", "admin", "active", kept.token.hint,
                       expires]
    assert rows[1][5] == "revoked" and rows[0][1] == other.slug
    for issued in (kept, gone, elsewhere):
        assert issued.secret[6:-4] not in result.output
    only = run("tokens", "list", "--tenant", tenant.slug)
    assert only.output.splitlines()[-1] == "2 tokens" and other.slug not in only.output
    revoked = run("tokens", "list", "--status", "revoked")
    assert revoked.output.splitlines() == [revoked.output.splitlines()[0], "1 tokens"]
    assert "laptop" in revoked.output
    assert run("tokens", "list", "--tenant", "nope").output == "Error: no tenant nope\n"
    assert run("tokens", "list", "--status", "weird").exit_code == 2


def test_list_with_no_tokens(run, app):
    result = run("tokens", "list")
    assert result.exit_code == 0 and result.output == "0 tokens\n"


# ---------------------------------------------------------------- revoke-expired-tokens


def test_revoke_expired_tokens_command(run, team):
    admin, _, tenant = team
    old = services.create_token(None, tenant, admin, name="old", scope="read").token
    live = services.create_token(None, tenant, admin, name="live", scope="read").token
    old.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    result = run("revoke-expired-tokens")
    assert result.exit_code == 0 and result.output == "1 expired tokens revoked\n"
    db.session.expire_all()
    assert (old.status(), old.revoke_reason, live.status()) == ("revoked", "expired", "active")
    assert run("revoke-expired-tokens").output == "0 expired tokens revoked\n"


def test_the_command_runs_the_job(run, app, monkeypatch):
    import app.tokens.cli as cli

    calls = []
    monkeypatch.setattr(cli, "revoke_expired_tokens", lambda: calls.append(1) or 7)
    assert run("revoke-expired-tokens").output == "7 expired tokens revoked\n" and calls == [1]


def test_the_job_is_scheduled_every_15_minutes():
    from croniter import croniter
    from rq import cron

    import jobs.cron  # noqa: F401  (registers on import)
    from jobs.tokens import revoke_expired_tokens

    entry = next(e for e in cron._job_data_registry if e["name"] == "revoke-expired-tokens")
    assert entry["func"] is revoke_expired_tokens
    runs = croniter(entry["cron"], utcnow().replace(minute=0, second=0, microsecond=0))
    minutes = [runs.get_next(type(utcnow())).minute for _ in range(4)]
    assert sorted(minutes) == minutes and {b - a for a, b in zip(minutes, minutes[1:], strict=False)} == {15}


def test_the_job_takes_no_arguments_and_returns_a_count(app, team):
    from jobs.tokens import revoke_expired_tokens

    admin, _, tenant = team
    token = services.create_token(None, tenant, admin, name="old", scope="read").token
    token.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert revoke_expired_tokens() == 1
    db.session.commit()
    assert _only_token().revoke_reason == "expired"
