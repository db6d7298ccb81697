"""Session pages: one's own sessions (end one, end all others) and an admin's view of the tenant's members'."""

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from app.sessions.models import UserSession
from app.users.models import Role


def _signed_out(response) -> bool:
    return response.status_code == 302 and "/auth/login" in response.headers["Location"]


def _ids(user) -> list[int]:
    db.session.expire_all()
    return db.session.scalars(select(UserSession.id).where(UserSession.user_id == user.id,
                                                           UserSession.ended_at.is_(None))
                              .order_by(UserSession.id)).all()


def test_own_sessions_are_listed_with_this_browser_marked(client, make_client, auth, member_of):
    user, _tenant = member_of()
    laptop = make_client()
    laptop.raw.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (Windows NT 10.0) Firefox/130.0"
    auth.login(user, client=laptop)
    auth.login(user)
    body = client.get("/account/sessions").get_data(as_text=True)
    assert "2 sessions are signed in." in body and "Firefox on Windows" in body
    assert body.count("badge text-bg-success\">this browser") == 1


def test_ending_another_session_signs_that_browser_out(client, make_client, auth, member_of):
    user, tenant = member_of()
    laptop = make_client()
    auth.login(user, client=laptop)
    auth.login(user)
    laptops, mine = _ids(user)
    assert client.get(f"/account/sessions/{laptops}/end").status_code == 200  # the question, without JavaScript
    response = client.post(f"/account/sessions/{laptops}/end")
    assert response.status_code == 302
    assert _signed_out(laptop.get(f"/t/{tenant.slug}/"))
    assert client.get(f"/t/{tenant.slug}/").status_code == 200
    # this browser's own session is ended by signing out, not here
    assert client.post(f"/account/sessions/{mine}/end").status_code == 404
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "session.ended")) is not None


def test_someone_elses_session_is_not_found(client, make_client, auth, member_of):
    user, tenant = member_of()
    other, _ = member_of(tenant=tenant)
    auth.login(other, client=make_client())
    (theirs,) = _ids(other)
    auth.login(user)
    assert client.get(f"/account/sessions/{theirs}/end").status_code == 404
    assert client.post(f"/account/sessions/{theirs}/end").status_code == 404
    assert _ids(other) == [theirs]


def test_end_all_others_keeps_this_one(client, make_client, auth, member_of):
    user, tenant = member_of()
    others = [make_client() for _ in range(3)]
    for browser in others:
        auth.login(user, client=browser)
    auth.login(user)
    response = client.post("/account/sessions/end-others", htmx=True)
    assert "3 other sessions were ended." in response.get_data(as_text=True)
    assert all(_signed_out(browser.get(f"/t/{tenant.slug}/")) for browser in others)
    assert len(_ids(user)) == 1 and client.get(f"/t/{tenant.slug}/").status_code == 200


def test_an_admin_ends_a_members_session_and_their_next_click_is_refused(client, make_client, auth, member_of):
    admin, tenant = member_of(Role.ADMIN)
    member, _ = member_of(tenant=tenant)
    outsider, _elsewhere = member_of()
    members_browser, outsiders_browser = make_client(), make_client()
    auth.login(member, client=members_browser)
    auth.login(outsider, client=outsiders_browser)
    auth.login(admin)
    page = client.get(f"/t/{tenant.slug}/sessions").get_data(as_text=True)
    assert member.email in page and outsider.email not in page
    found = client.get(f"/t/{tenant.slug}/sessions?q={member.email}", headers={"HX-Request": "true"})
    assert member.email in found.get_data(as_text=True) and admin.email not in found.get_data(as_text=True)
    (session_id,) = _ids(member)
    (outsiders,) = _ids(outsider)
    assert client.post(f"/t/{tenant.slug}/sessions/{outsiders}/end").status_code == 404  # not this tenant's
    assert client.post(f"/t/{tenant.slug}/sessions/{session_id}/end").status_code == 302
    assert _signed_out(members_browser.get(f"/t/{tenant.slug}/"))
    assert outsiders_browser.get("/").status_code in (200, 302) and _ids(outsider) == [outsiders]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.ended_by_admin"))
    assert event.tenant_id == tenant.id and event.actor_user_id == admin.id


def test_members_may_not_see_the_tenants_sessions(client, auth, member_of):
    member, tenant = member_of()
    auth.login(member)
    assert client.get(f"/t/{tenant.slug}/sessions").status_code == 403
