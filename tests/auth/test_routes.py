"""Sign-in and sign-out through the real pages."""

from sqlalchemy import select

from app.audit.models import AuditEvent
from app.extensions import db
from app.users.models import Profile, Role, UserStatus


def test_login_page_renders(client):
    response = client.get("/auth/login")
    assert response.status_code == 200
    assert 'name="csrf_token"' in response.get_data(as_text=True)


def test_sign_in_lands_on_first_tenant_dashboard(client, auth, member_of):
    user, tenant = member_of(Role.ADMIN)
    response = auth.login(user)
    assert response.headers["Location"].endswith("/")
    response = client.get("/", follow_redirects=True)
    assert response.status_code == 200
    assert tenant.name in response.get_data(as_text=True)


def test_every_failure_gets_the_same_message(client, create_user):
    active = create_user("active@example.com")
    create_user("blocked@example.com", status=UserStatus.BLOCKED)
    bodies = []
    for email, password in [("active@example.com", "wrong password!!"), ("nobody@example.com", "whatever-123456"),
                            ("blocked@example.com", "correct horse battery staple")]:
        response = client.post("/auth/login", {"email": email, "password": password})
        assert response.status_code == 401
        body = response.get_data(as_text=True)
        assert "Sign-in failed. Check your email and password." in body
        bodies.append(body.count("alert-danger"))
    assert bodies == [1, 1, 1]
    db.session.expire_all()
    assert db.session.scalar(select(Profile.failed_login_count).where(Profile.user_id == active.id)) == 1


def test_sign_in_is_audited(client, auth, create_user):
    user = create_user()
    client.post("/auth/login", {"email": user.email, "password": "not the password"})
    auth.login(user)
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)).all()
    assert actions == ["auth.login_failed", "auth.login_succeeded"]
    failed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.login_failed"))
    assert failed.outcome == "failure" and failed.details == {"reason": "bad_password", "failures": 1}
    assert failed.ip == "127.0.0.1"


def test_post_without_csrf_is_refused(client, create_user):
    user = create_user()
    response = client.post("/auth/login", {"email": user.email, "password": "x" * 20}, csrf=False)
    assert response.status_code == 400
    assert "The form expired" in response.get_data(as_text=True)


def test_sign_out(client, auth, member_of):
    user, tenant = member_of()
    auth.login(user)
    client.get(f"/t/{tenant.slug}/")
    response = auth.logout()
    assert response.status_code == 302
    assert client.get(f"/t/{tenant.slug}/").status_code == 302  # back to sign-in
