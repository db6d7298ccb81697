"""Redirect targets after sign-in and the language switch are paths of this application only, checked as given
and after decoding; every known bypass form goes to the default page instead. Sign-in failures cost the same
database work whether the email exists or not."""

from __future__ import annotations

import pytest

from app.core.web import safe_next
from app.users.models import Role
from tests.tokens.helpers import recorded_sql

# Forms that browsers (or a decoding step) turn into another origin, and other non-paths.
BYPASSES = [
    "//example.org", "///example.org", "/\\example.org", "\\\\example.org", "/\\/example.org",
    "/\t/example.org", "/\n/example.org", "/\r/example.org", "/%09/example.org", "/%0a/x", "/%0d/x",
    "/%2F%2Fexample.org", "/%5Cexample.org", "/%252F%252Fexample.org", "/%25%30%39/example.org",
    "https://example.org", "http:example.org", "https:/example.org", "javascript:alert(1)", "example.org",
    "//%09example.org", "/\x00/example.org", "/%00", "\x7f/x", " //example.org", "",
    "/" + "a" * 3000,
]
PATHS = ["/", "/t/demo/tokens", "/t/demo/tokens?status=active&q=ci", "/account#sessions", "/t/demo/%20x"]


@pytest.mark.parametrize("target", BYPASSES)
def test_bypass_forms_are_refused(target):
    assert safe_next(target) is None


@pytest.mark.parametrize("target", PATHS)
def test_paths_of_this_application_are_kept(target):
    assert safe_next(target) == target


@pytest.mark.parametrize("raw", ["/%09/example.org", "/%0a/x", "//example.org", "/%5C%5Cexample.org"])
def test_sign_in_with_a_bypass_goes_to_the_default_page(client, member_of, raw):
    user, _ = member_of(Role.MEMBER)
    client.get(f"/auth/login?next={raw}")
    response = client.post(f"/auth/login?next={raw}", {"email": user.email, "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_sign_in_keeps_a_local_next(client, member_of):
    user, tenant = member_of(Role.MEMBER)
    target = f"/t/{tenant.slug}/tokens"
    client.get("/auth/login")
    response = client.post(f"/auth/login?next={target}", {"email": user.email,
                                                          "password": "correct horse battery staple"})
    assert response.headers["Location"] == target


@pytest.mark.parametrize("raw", ["/\t/example.org", "//example.org", "https://example.org"])
def test_language_switch_with_a_bypass_goes_to_the_default_page(client, raw):
    client.get("/auth/login")
    response = client.post("/auth/locale", {"locale": "en", "next": raw})
    assert response.status_code == 302 and response.headers["Location"] in {"/", "/auth/login"}


def test_unknown_email_and_wrong_password_send_the_same_statements(client, create_user):
    create_user("known@example.com")
    client.get("/auth/login")
    shapes = []
    for email in ("nobody@example.com", "known@example.com"):
        with recorded_sql() as statements:
            response = client.post("/auth/login", {"email": email, "password": "not the right one"})
        assert response.status_code == 401
        shapes.append([s.split()[0] for s in statements])
    assert shapes[0] == shapes[1], shapes
