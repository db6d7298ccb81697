"""User rules: the user loader reloads the signed-in person on every request."""

from app.extensions import db
from app.users.models import Profile, UserStatus


def test_blocked_user_is_signed_out_on_next_request(client, auth, member_of):
    user, tenant = member_of()
    auth.login(user)
    assert client.get(f"/t/{tenant.slug}/").status_code == 200
    db.session.execute(db.update(Profile).where(Profile.user_id == user.id).values(status=UserStatus.BLOCKED))
    db.session.commit()
    assert client.get(f"/t/{tenant.slug}/").status_code == 302
