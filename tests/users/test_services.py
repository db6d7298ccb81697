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


def test_preferred_locale_is_one_of_ours(create_user):
    import pytest

    from app.core.errors import ValidationFailed
    from app.users.services import set_preferred_locale

    user = create_user()
    assert set_preferred_locale(user, "pt_BR") is True
    assert set_preferred_locale(user, "pt_BR") is False
    with pytest.raises(ValidationFailed):
        set_preferred_locale(user, "xx")
    db.session.expire_all()
    assert db.session.get(Profile, user.profile.id).locale == "pt_BR"
