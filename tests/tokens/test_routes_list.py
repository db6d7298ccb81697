"""The token list as people expect from GitHub and GitLab: a rotation chain is one entry with its history on the
token's page, filters and sort live in the URL; a phone gets one card per token. And the usage chart: refusals
beside successes on a scale, the tenant's days."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.tokens import reports, services
from app.tokens.models import TokenUsageLog
from app.tokens.pagectx import scale_top
from app.users.models import Role
from tests.tokens.test_routes import make_token

LIST = {"HX-Request": "true", "HX-Target": "div#tokens-list"}


@pytest.fixture
def team(member_of, create_user, create_tenant):
    admin, tenant = member_of(Role.ADMIN, tenant=create_tenant(timezone="America/Sao_Paulo"),
                              email="admin@example.com")
    return admin, create_user("member@example.com", tenant=tenant, role=Role.MEMBER), tenant


def _names(body: str) -> list[str]:
    return re.findall(r'class="token-name" href="[^"]+">([^<]+)</a>', body)


def test_a_rotation_chain_is_one_entry_with_its_history_on_the_tokens_page(client, auth, team):
    admin, _, tenant = team
    first = make_token(admin, tenant, "deploy").token
    second = services.rotate_token(None, first).token
    third = services.rotate_token(None, second).token
    make_token(admin, tenant, "other")
    db.session.commit()
    auth.login(admin)
    body = client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True)
    assert _names(body) == ["other", "deploy"] and "2 tokens" in body
    row = body.split(f'<tr id="token-{third.id}"')[1].split("</tr>")[0]
    assert "rotated 2 times: history on its page" in row
    # the older secrets are listed when asked for by their status
    rotated = client.get(f"/t/{tenant.slug}/tokens?status=rotated", headers=LIST).get_data(as_text=True)
    assert rotated.count('<tr id="token-') == 2 and f'id="token-{third.id}"' not in rotated
    page = client.get(f"/t/{tenant.slug}/tokens/{third.id}").get_data(as_text=True)
    history = page.split("Rotation chain")[1].split("</ol>")[0]
    assert history.index(first.hint) < history.index(second.hint) < history.index(third.hint)
    assert history.count("<li>") == 3 and "(this token)" in history


def test_filters_and_sort_live_in_the_url(client, auth, team):
    admin, _, tenant = team
    for name in ("bravo", "alpha", "charlie"):
        make_token(admin, tenant, name)
    for n in range(20):
        make_token(admin, tenant, f"zz-{n:02d}")
    auth.login(admin)
    full = client.get(f"/t/{tenant.slug}/tokens?sort=name&scope=read").get_data(as_text=True)
    form = full.split('id="tokens-filter"')[1].split("</form>")[0]
    assert 'method="get"' in form and 'hx-push-url="true"' in form
    assert '<option value="name" selected>' in form and '<option value="read" selected>' in form
    assert _names(full)[:3] == ["alpha", "bravo", "charlie"]
    # the pager keeps filter and sort, and pushes its address too
    assert f'href="/t/{tenant.slug}/tokens?scope=read&amp;sort=name&amp;page=2"' in full
    assert 'hx-push-url:inherited="true"' in full
    second = client.get(f"/t/{tenant.slug}/tokens?sort=name&scope=read&page=2", headers=LIST).get_data(as_text=True)
    assert _names(second) == ["zz-17", "zz-18", "zz-19"]
    newest = client.get(f"/t/{tenant.slug}/tokens?sort=bogus", headers=LIST).get_data(as_text=True)
    assert _names(newest)[0] == "zz-19"  # an unknown sort is the default


def test_each_row_names_its_columns_for_the_phone_layout(client, auth, team):
    admin, member, tenant = team
    make_token(member, tenant, "backup")
    auth.login(admin)
    body = client.get(f"/t/{tenant.slug}/tokens").get_data(as_text=True)
    row = body.split('<div class="token-list">')[1].split("</tr>", 2)[1]
    for label in ("Name", "Token", "Scope", "Status", "Owner", "Expires", "Last used"):
        assert f'data-label="{label}"' in row
    assert "d-none" not in row  # nothing hidden on small screens: the cards show it all


def test_the_chart_shows_refusals_beside_successes_on_a_scale_in_the_tenants_days(client, auth, team):
    _, member, tenant = team
    token = make_token(member, tenant, "backup").token
    today = datetime.now(UTC).astimezone(reports.expiry.zone(tenant.timezone)).date()
    # 01:30 UTC today is still yesterday evening in São Paulo (UTC-3)
    late = datetime(today.year, today.month, today.day, 1, 30, tzinfo=UTC) + timedelta(days=1)
    rows = [(late, "ok")] * 3 + [(late, "ip_denied")] * 7 + [(late - timedelta(days=2), "ok")]
    for at, outcome in rows:
        db.session.add(TokenUsageLog(tenant_id=tenant.id, token_id=token.id, occurred_at=at, endpoint="GET /x",
                                     outcome=outcome, status=200 if outcome == "ok" else 403, correlation_id="c"))
    db.session.commit()
    days = {d.day: (d.ok, d.refused) for d in reports.daily_usage(token, 30, tenant.timezone, today=today)}
    assert days[today] == (3, 7) and days[today - timedelta(days=2)] == (1, 0)
    auth.login(member)
    body = client.get(f"/t/{tenant.slug}/tokens/{token.id}").get_data(as_text=True)
    assert "4 accepted requests, 7 refused" in body
    assert re.search(r"<title>[^<]*: 3 accepted, 7 refused</title>", body)
    assert body.count('class="bar ok"') == 30 and body.count('class="bar refused"') == 30
    axis = body.split('class="usage-axis')[1].split("</div>")[0]
    assert re.findall(r"<span>(\d+)</span>", axis) == ["10", "5", "0"]  # the scale, top to bottom
    assert "days in America/Sao_Paulo time" in body
    assert "<th scope=\"col\" class=\"text-end\">Refused</th>" in body


def test_the_scale_rounds_the_peak_up():
    assert [scale_top(n) for n in (0, 1, 2, 3, 7, 10, 11, 240)] == [2, 2, 2, 5, 10, 10, 20, 500]
