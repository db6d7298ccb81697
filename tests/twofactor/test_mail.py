"""The second factor's emails in both languages: the one-time code (with its minutes and what to do if it was not
you) and the notice of an admin's reset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.mail.services import render
from tests.core.test_i18n import compiled_catalog  # noqa: F401 (the pt_BR catalogue, compiled when missing)


@pytest.mark.usefixtures("compiled_catalog")
@pytest.mark.parametrize(("locale", "words"), [("en", ("12345678", "10 minutes", "change your password")),
                                               ("pt_BR", ("12345678", "10 minutos", "troque sua senha"))])
def test_the_code_email(app, locale, words):
    subject, text, html = render("twofa_code", locale, {"name": "Ana", "code": "12345678", "minutes": 10})
    assert "12345678" not in subject  # lock screens show subjects
    assert all(word in text and word in html for word in words)


@pytest.mark.usefixtures("compiled_catalog")
@pytest.mark.parametrize(("locale", "words"), [("en", ("Acme", "reset the two-step sign-in", "change your password")),
                                               ("pt_BR", ("Acme", "redefiniu a verificação", "troque sua senha"))])
def test_the_reset_email(app, locale, words):
    when = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    subject, text, html = render("twofa_reset", locale, {"name": "Ana", "tenant": "Acme", "when": when})
    assert subject and all(word in text and word in html for word in words)
