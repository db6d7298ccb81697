"""One language before and after sign-in: the choice made on the sign-in page is kept (a cookie), becomes the
person's on sign-in, and the first visit says nothing before anything happened."""

from __future__ import annotations

import pytest

from app.core.i18n import LOCALE_COOKIE
from app.extensions import db
from app.users.models import Profile, Role
from tests.core.test_i18n import compiled_catalog  # noqa: F401 (the pt_BR catalog, compiled)

pytestmark = pytest.mark.usefixtures("compiled_catalog")


def _locale_of(user) -> str | None:
    db.session.expire_all()
    return db.session.get(Profile, user.profile.id).locale


def test_the_language_chosen_before_sign_in_is_kept_and_saved(client, auth, member_of):
    user, tenant = member_of(Role.MEMBER)  # an English tenant; an English browser (the test client's)
    response = client.post("/auth/locale", {"locale": "pt_BR", "next": "/auth/login"})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"
    assert LOCALE_COOKIE in "; ".join(response.headers.getlist("Set-Cookie"))
    assert '<html lang="pt-BR">' in client.get("/auth/login").get_data(as_text=True)
    auth.login(user)  # sign-in clears the session: the choice lives in its own cookie
    body = client.get(f"/t/{tenant.slug}/").get_data(as_text=True)
    assert '<html lang="pt-BR">' in body and "Painel" in body
    assert _locale_of(user) == "pt_BR"


def test_without_a_choice_the_persons_language_follows_them_to_this_browser(client, auth, member_of):
    user, tenant = member_of(Role.MEMBER)
    user.profile.locale = "pt_BR"
    db.session.commit()
    response = auth.login(user)
    assert f"{LOCALE_COOKIE}=pt_BR" in "; ".join(response.headers.getlist("Set-Cookie"))
    auth.logout()
    assert '<html lang="pt-BR">' in client.get("/auth/login").get_data(as_text=True)  # signed out, still theirs


def test_a_choice_when_signed_in_is_saved_on_the_profile(client, auth, member_of):
    user, tenant = member_of(Role.MEMBER)
    auth.login(user)
    client.post("/auth/locale", {"locale": "pt_BR", "next": f"/t/{tenant.slug}/"})
    assert _locale_of(user) == "pt_BR"
    client.post("/auth/locale", {"locale": "xx"})
    assert _locale_of(user) == "pt_BR"


def test_the_first_visit_shows_no_sign_in_reproach(client, create_tenant):
    tenant = create_tenant()
    response = client.get(f"/t/{tenant.slug}/", follow_redirects=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Sign in" in body
    assert 'class="alert' not in body
    assert "Please log in" not in body


def test_a_language_saved_on_the_account_page_survives_the_next_sign_in(client, auth, member_of):
    """The browser's remembered language follows the one saved on /account (it once brought the old one back)."""
    user, _tenant = member_of()
    auth.login(user)
    client.post("/auth/locale", {"locale": "pt_BR", "next": "/account"})
    client.post("/account", {"name": user.name, "locale": "en", "timezone": ""})
    auth.logout()
    auth.login(user)
    db.session.expire_all()
    assert db.session.get(Profile, user.profile.id).locale == "en"
    assert 'lang="en"' in client.get("/account").get_data(as_text=True)
