"""The second factor on a tenant admin's pages: the policy section of settings, the dashboard card, the users list's
filter and badge, the member's panel (names and dates, never a secret) and the admin's reset with its step-up."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.audit.models import AuditEvent
from app.core.actor import Actor
from app.core.errors import ValidationFailed
from app.core.fieldadapters import errors_of
from app.core.mixins import utcnow
from app.extensions import db
from app.mail.models import EmailMessage
from app.sessions.models import UserSession
from app.tenants.models import Tenant
from app.twofactor.models import RecoveryCode, TotpDevice
from app.twofactor.policy import update_twofa_policy
from app.users.models import Membership, Profile, Role
from tests.twofactor.helpers import enrolled, past_second_step


@pytest.fixture
def team(member_of, create_user):
    """An owner and an admin (2FA off), Ana (a member with an app named "Pixel 8") and Bruno (a manager, off)."""
    owner, tenant = member_of(Role.OWNER, email="olga@example.com", name="Olga Owner")
    admin = create_user("ada@example.com", tenant=tenant, role=Role.ADMIN, name="Ada Admin")
    ana = create_user("ana@example.com", tenant=tenant, role=Role.MEMBER, name="Ana Souza")
    bruno = create_user("bruno@example.com", tenant=tenant, role=Role.MANAGER, name="Bruno Lima")
    secret, _codes = enrolled(ana, "Pixel 8")
    return tenant, owner, admin, ana, bruno, secret


def _events(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id).execution_options(all_tenants=True)))


def _tenant(tenant_id: int) -> Tenant:
    db.session.expire_all()
    return db.session.get(Tenant, tenant_id)


def _profile(user) -> Profile:
    db.session.expire_all()
    return db.session.scalar(select(Profile).where(Profile.user_id == user.id))


def _age_sign_in(user, minutes: int) -> None:
    """The person's sessions began `minutes` ago, with no step-up since."""
    db.session.execute(update(UserSession).where(UserSession.user_id == user.id)
                       .values(signed_in_at=utcnow() - timedelta(minutes=minutes), reauth_at=None))
    db.session.commit()


# ---------------------------------------------------------------- the tenant's policy


def test_the_policy_section_saves_audits_and_says_what_happens(client, auth, team):
    tenant, owner, *_ = team
    auth.login(owner)
    page = client.get(f"/t/{tenant.slug}/settings").get_data(as_text=True)
    assert 'id="section-twofa"' in page and "taken to set up an authenticator app right after they sign in" in page
    url = f"/t/{tenant.slug}/settings/two-step"
    response = client.post(url, {"twofa-required_roles": ["admin", "owner"], "twofa-email_codes": "y"})
    assert response.status_code == 302 and response.headers["Location"].endswith("#section-twofa")
    saved = _tenant(tenant.id)
    assert (saved.twofa_required_roles, saved.twofa_email_codes) == ("owner,admin", True)
    (event,) = _events("tenant.twofa_policy_changed")
    assert event.details == {"required_roles": [[], ["owner", "admin"]], "email_codes": [False, True]}
    assert event.tenant_id == tenant.id and event.actor_user_id == owner.id
    again = client.post(url, {"twofa-required_roles": ["owner", "admin"], "twofa-email_codes": "y"}, htmx=True)
    assert again.status_code == 200 and "Nothing changed." in again.get_data(as_text=True)
    assert len(_events("tenant.twofa_policy_changed")) == 1
    cleared = client.post(url, {}, htmx=True)  # no box ticked: nobody must
    assert "Two-step sign-in policy saved." in cleared.get_data(as_text=True)
    assert (_tenant(tenant.id).twofa_required_roles, _tenant(tenant.id).twofa_email_codes) == ("", False)


def test_the_policy_refuses_unknown_roles_on_the_form_and_in_the_service(client, auth, team):
    tenant, owner, *_ = team
    auth.login(owner)
    response = client.post(f"/t/{tenant.slug}/settings/two-step", {"twofa-required_roles": ["owner", "root"]})
    assert response.status_code == 422
    assert "Choose roles from the list" in response.get_data(as_text=True)
    assert _tenant(tenant.id).twofa_required_roles == ""
    with pytest.raises(ValidationFailed) as refused:
        update_twofa_policy(Actor(owner), tenant, roles="owner", email_codes="yes")
    assert set(errors_of(refused.value)) == {"required_roles", "email_codes"}
    db.session.rollback()
    assert _events("tenant.twofa_policy_changed") == []


def test_only_settings_managers_change_the_policy(client, auth, team):
    tenant, _owner, _admin, ana, *_ = team
    auth.login(ana)
    past_second_step(client, ana)
    assert client.post(f"/t/{tenant.slug}/settings/two-step", {"twofa-required_roles": ["member"]}).status_code == 403
    assert _tenant(tenant.id).twofa_required_roles == ""


# ---------------------------------------------------------------- the dashboard card and the users list


def _require(tenant, roles: str) -> None:
    db.session.execute(update(Tenant).where(Tenant.id == tenant.id).values(twofa_required_roles=roles))
    db.session.commit()


def test_the_card_counts_who_has_it_and_who_lacks_it_where_required(client, auth, team, create_user):
    tenant, owner, admin, ana, bruno, _ = team
    blocked = create_user("blocked@example.com", tenant=tenant, role=Role.MANAGER)
    db.session.execute(update(Membership).where(Membership.user_id == blocked.id).values(blocked_at=utcnow()))
    _require(tenant, "owner,manager")
    auth.login(admin)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    card = body[body.index('id="card-twofa"'):]
    card = card[:card.index("</section>")]
    assert '<p class="display-6 mb-2" id="twofa-enabled-count">1</p>' in card  # Ana
    assert "of 4 members use a second factor" in card  # the blocked membership is not counted
    assert "2 members still lack it." in card  # the owner and Bruno; the blocked manager is not counted
    assert f"/t/{tenant.slug}/users?twofa=missing" in card
    _require(tenant, "")
    assert "No role must use it here yet." in client.get(f"/t/{tenant.slug}/").get_data(as_text=True)


def test_the_users_list_filters_on_two_step_sign_in(client, auth, team, api):
    tenant, owner, admin, ana, bruno, _ = team
    _require(tenant, "owner,manager")
    auth.login(admin)
    url = f"/t/{tenant.slug}/users"
    on = client.get(f"{url}?twofa=on", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert ana.email in on and bruno.email not in on and "<html" not in on and "1 member." in on
    off = client.get(f"{url}?twofa=off").get_data(as_text=True)
    assert all(f'id="member-{p.id}"' in off for p in (owner, admin, bruno)) and ana.email not in off
    assert 'value="off" selected' in off  # the filter shows what is chosen (and the address keeps it)
    missing = client.get(f"{url}?twofa=missing").get_data(as_text=True)
    assert f'id="member-{owner.id}"' in missing and f'id="member-{bruno.id}"' in missing
    assert f'id="member-{admin.id}"' not in missing and f'id="member-{ana.id}"' not in missing
    assert "off, required" in missing
    assert "export.csv?twofa=missing" in missing  # the export follows the filter
    rows = list(csv.reader(io.StringIO(client.get(f"{url}/export.csv?twofa=on").get_data(as_text=True))))
    assert rows[0][-1] == "twofa_enabled_at" and [r[0] for r in rows[1:]] == [ana.email] and rows[1][-1]
    assert client.get(f"{url}?twofa=nonsense").status_code == 200


def test_the_users_api_filters_on_two_step_sign_in(api, team):
    from app.tokens import services as tokens

    tenant, _owner, admin, ana, *_ = team
    secret = tokens.create_token(None, tenant, admin, name="t", scope="admin").secret
    db.session.commit()
    listed = api("GET", "/api/v1/users?twofa=on", secret).get_json()
    assert [m["email"] for m in listed["items"]] == [ana.email] and listed["items"][0]["twofa_enabled_at"]
    off = api("GET", "/api/v1/users?twofa=off", secret).get_json()
    assert ana.email not in {m["email"] for m in off["items"]} and off["total"] == 3
    assert api("GET", "/api/v1/users?twofa=maybe", secret).status_code == 422


# ---------------------------------------------------------------- the member's panel


def test_the_members_page_shows_apps_and_counters_never_the_secret(client, auth, team):
    tenant, _owner, admin, ana, bruno, secret = team
    auth.login(admin)
    body = client.get(f"/t/{tenant.slug}/users/{ana.id}").get_data(as_text=True)
    panel = body[body.index('id="member-twofa"'):]
    assert "Pixel 8" in panel and "Recovery codes left</dt><dd class=\"col-7\">10" in panel
    assert "Failed checks" in panel and "Stopped by the rate limit" in panel
    sealed = db.session.scalar(select(TotpDevice.secret).where(TotpDevice.user_id == ana.id))
    assert secret not in body and sealed not in body and sealed[2:40] not in body
    assert f"/t/{tenant.slug}/users/{ana.id}/2fa/reset" in body
    other = client.get(f"/t/{tenant.slug}/users/{bruno.id}").get_data(as_text=True)
    assert 'id="member-twofa"' in other and "2fa/reset" not in other  # nothing to reset


def test_the_reset_is_not_offered_on_someone_ranking_above(client, auth, team):
    tenant, owner, admin, *_ = team
    enrolled(owner)
    auth.login(admin)
    body = client.get(f"/t/{tenant.slug}/users/{owner.id}").get_data(as_text=True)
    assert 'id="member-twofa"' in body and "2fa/reset" not in body
    assert client.post(f"/t/{tenant.slug}/users/{owner.id}/2fa/reset").status_code == 403
    assert _profile(owner).twofa_enabled_at is not None


# ---------------------------------------------------------------- the reset


def _reset_url(tenant, user) -> str:
    return f"/t/{tenant.slug}/users/{user.id}/2fa/reset"


def _gone(user) -> bool:
    db.session.expire_all()
    devices = db.session.scalar(select(TotpDevice.id).where(TotpDevice.user_id == user.id).limit(1))
    codes = db.session.scalar(select(RecoveryCode.id).where(RecoveryCode.user_id == user.id).limit(1))
    return devices is None and codes is None and _profile(user).twofa_enabled_at is None


def test_an_admin_resets_a_member_audited_and_mailed(client, auth, team):
    tenant, _owner, admin, ana, *_ = team
    auth.login(admin)
    page = client.get(_reset_url(tenant, ana)).get_data(as_text=True)
    assert "Reset this member" in page and 'name="proof"' not in page  # signed in just now: no step-up
    response = client.post(_reset_url(tenant, ana))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/users/{ana.id}")
    assert "was reset" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert _gone(ana)
    (event,) = _events("member.twofa_reset")
    assert (event.actor_user_id, event.target_id, event.tenant_id) == (admin.id, str(ana.id), tenant.id)
    assert event.details == {"devices": 1}
    mail = db.session.scalar(select(EmailMessage).where(EmailMessage.kind == "twofa_reset"))
    assert mail is not None and mail.recipient == ana.email and tenant.name in mail.text_body
    again = client.post(_reset_url(tenant, ana))
    assert again.status_code == 409 and "no two-step sign-in to reset" in again.get_data(as_text=True)


def test_an_old_sign_in_must_step_up_first(client, auth, team):
    tenant, _owner, admin, ana, *_ = team
    auth.login(admin)
    _age_sign_in(admin, 20)  # past TWOFA_REAUTH_MINUTES (15)
    assert 'name="proof"' in client.get(_reset_url(tenant, ana)).get_data(as_text=True)
    asked = client.post(_reset_url(tenant, ana))
    assert asked.status_code == 422
    assert "Confirm it&#39;s you: type your password or a code." in asked.get_data(as_text=True)
    assert not _gone(ana)
    wrong = client.post(_reset_url(tenant, ana), {"proof": "not my password"})
    assert wrong.status_code == 422 and "That password or code is not right." in wrong.get_data(as_text=True)
    assert not _gone(ana) and _events("member.twofa_reset") == []
    assert _profile(admin).twofa_failures == 1  # the failure was kept (the request committed), not rolled back
    assert [e.outcome for e in _events("twofa.step_up")] == ["failure"]
    from tests.conftest import PASSWORD

    done = client.post(_reset_url(tenant, ana), {"proof": PASSWORD})
    assert done.status_code == 302 and _gone(ana)
    db.session.expire_all()
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == admin.id, UserSession.ended_at.is_(None)))
    assert row.reauth_at is not None  # proven now: the next sensitive action within 15 minutes asks nothing
    assert [e.outcome for e in _events("twofa.step_up")] == ["failure", "success"]


def test_a_locked_admin_is_told_to_wait(client, auth, team):
    tenant, _owner, admin, ana, *_ = team
    auth.login(admin)
    _age_sign_in(admin, 20)
    db.session.execute(update(Profile).where(Profile.user_id == admin.id)
                       .values(twofa_locked_until=utcnow() + timedelta(minutes=5)))
    db.session.commit()
    from tests.conftest import PASSWORD

    response = client.post(_reset_url(tenant, ana), {"proof": PASSWORD})
    assert response.status_code == 422 and "Too many wrong codes. Try again in" in response.get_data(as_text=True)
    assert not _gone(ana)


def test_a_step_up_with_the_admins_authenticator_code(client, auth, team):
    import pyotp

    tenant, _owner, admin, ana, *_ = team
    admin_secret, _ = enrolled(admin, "Admin phone", now=utcnow() - timedelta(minutes=2))
    auth.login(admin)
    past_second_step(client, admin)
    _age_sign_in(admin, 20)
    page = client.get(_reset_url(tenant, ana)).get_data(as_text=True)
    assert 'name="proof"' in page  # a password or an app's code, told apart by their shape
    response = client.post(_reset_url(tenant, ana), {"proof": pyotp.TOTP(admin_secret).now()})
    assert response.status_code == 302 and _gone(ana)


def test_members_cannot_reset_and_removed_members_are_not_found(client, auth, team, create_user):
    tenant, _owner, admin, ana, bruno, _ = team
    auth.login(bruno)
    assert client.get(_reset_url(tenant, ana)).status_code == 403
    assert client.post(_reset_url(tenant, ana)).status_code == 403
    auth.logout()
    db.session.execute(update(Membership).where(Membership.user_id == ana.id).values(deleted_at=utcnow()))
    db.session.commit()
    auth.login(admin)
    assert "2fa/reset" not in client.get(f"/t/{tenant.slug}/users/{ana.id}").get_data(as_text=True)
    assert client.get(_reset_url(tenant, ana)).status_code == 404
    assert client.post(_reset_url(tenant, ana)).status_code == 404
    assert not _gone(ana)


# ---------------------------------------------------------------- after an admin's walkthrough


def test_codes_by_email_leave_nobody_lacking_a_second_step(client, auth, team):
    tenant, _owner, admin, *_ = team
    _require(tenant, "owner,manager")
    db.session.execute(update(Tenant).where(Tenant.id == tenant.id).values(twofa_email_codes=True))
    db.session.commit()
    auth.login(admin)
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert "still lack it" not in body
    rows = list(csv.reader(io.StringIO(client.get(f"/t/{tenant.slug}/users/export.csv?twofa=missing")
                                       .get_data(as_text=True))))
    assert len(rows) == 1 and rows[0][0] == "email"  # the header, also when nobody matches


def test_a_reset_that_would_be_refused_says_why_before_any_button(client, auth, team):
    tenant, owner, admin, *_ = team
    enrolled(owner)
    auth.login(admin)
    page = client.get(_reset_url(tenant, owner)).get_data(as_text=True)
    assert 'id="reset-refused"' in page and "ranks above yours" in page and 'id="confirm-submit"' not in page
    own = client.get(_reset_url(tenant, admin)).get_data(as_text=True)
    assert 'id="reset-refused"' in own and 'id="confirm-submit"' not in own


def test_requiring_ones_own_role_without_an_app_says_so(client, auth, team):
    tenant, owner, *_ = team
    auth.login(owner)
    saved = client.post(f"/t/{tenant.slug}/settings/two-step", {"twofa-required_roles": ["owner"]},
                        follow_redirects=True).get_data(as_text=True)
    assert "Two-step sign-in policy saved. This includes you" in saved
