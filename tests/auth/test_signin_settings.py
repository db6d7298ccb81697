"""The tenant's "Sign-in protection" section: a stricter lock threshold, never a looser one."""

from app.extensions import db
from app.users.models import Role


def test_a_tenant_may_choose_a_stricter_threshold_only(client, auth, member_of):
    admin, tenant = member_of(Role.ADMIN)
    auth.login(admin)
    page = client.get(f"/t/{tenant.slug}/settings").get_data(as_text=True)
    assert "Sign-in protection" in page and "5. You may choose fewer, not more." in page
    url = f"/t/{tenant.slug}/settings/sign-in"
    assert client.post(url, {"lock_after": "3"}).status_code == 302
    db.session.expire_all()
    assert tenant.lock_after_failures == 3
    looser = client.post(url, {"lock_after": "50"})
    assert looser.status_code == 422 and "From 1 to 5 failed sign-ins" in looser.get_data(as_text=True)
    assert client.post(url, {"lock_after": ""}).status_code == 302
    db.session.expire_all()
    assert tenant.lock_after_failures is None


def test_members_may_not_change_it(client, auth, member_of):
    member, tenant = member_of(Role.MEMBER)
    auth.login(member)
    assert client.post(f"/t/{tenant.slug}/settings/sign-in", {"lock_after": "1"}).status_code == 403
