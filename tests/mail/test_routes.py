"""The development outbox: newest first, a page at a time, one message with its link clickable; no sign-in;
404 in production and whenever SMTP is configured."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.mail.services import OUTBOX_PAGE_SIZE, queue_email
from tests.core.test_i18n import compiled_catalog  # noqa: F401 (the pt_BR catalogue, compiled)
from tests.mail.conftest import RESET_LINK


def _queue(n: int = 1, kind: str = "test", **context) -> list[int]:
    ids = [queue_email(f"person{i}@example.com", kind, locale="en", context=context).id for i in range(n)]
    db.session.commit()
    return ids


def test_outbox_lists_messages_newest_first_without_sign_in(app, client):
    first, second = _queue(2)
    response = client.get("/dev/outbox")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Development outbox" in body and "2 messages" in body
    assert body.index(f"/dev/outbox/{second}") < body.index(f"/dev/outbox/{first}")
    assert "person1@example.com" in body and "in the outbox" in body
    assert response.headers["Cache-Control"] == "no-store"


def test_outbox_pages(app, client):
    ids = _queue(OUTBOX_PAGE_SIZE + 2)
    page_one = client.get("/dev/outbox").get_data(as_text=True)
    assert f"/dev/outbox/{ids[-1]}\"" in page_one and f"/dev/outbox/{ids[0]}\"" not in page_one
    assert "Page 1 of 2" in page_one and 'href="/dev/outbox?page=2"' in page_one
    page_two = client.get("/dev/outbox?page=2").get_data(as_text=True)
    assert f"/dev/outbox/{ids[0]}\"" in page_two and f"/dev/outbox/{ids[-1]}\"" not in page_two
    assert "Page 2 of 2" in client.get("/dev/outbox?page=99").get_data(as_text=True)  # past the end: the last


def test_outbox_is_empty_at_first(app, client):
    body = client.get("/dev/outbox").get_data(as_text=True)
    assert "No messages yet." in body and "0 messages" in body


def test_one_message_shows_its_parts_with_the_link_clickable(app, client):
    (message_id,) = _queue(1, "password_reset", name="<b>Ana</b>", link=RESET_LINK, minutes=30)
    response = client.get(f"/dev/outbox/{message_id}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Reset your Hubx Access password" in body and "person0@example.com" in body
    assert f'<a href="{RESET_LINK}" rel="noopener">{RESET_LINK}</a>' in body  # the text part's link
    assert "Hello &lt;b&gt;Ana&lt;/b&gt;," in body  # the text part, escaped on the page
    assert "&lt;p&gt;" in body and "<b>Ana</b>" not in body  # the HTML part as source, never as markup
    assert "<iframe" not in body and " style=" not in body


@pytest.mark.usefixtures("compiled_catalog")
def test_outbox_speaks_the_persons_language(app, client):
    _queue(1)
    body = client.get("/dev/outbox", headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)
    assert "Caixa de saída de desenvolvimento" in body and "1 mensagem" in body and "na caixa de saída" in body


def test_unknown_and_huge_ids_are_404(app, client):
    assert client.get("/dev/outbox/12345").status_code == 404
    assert client.get("/dev/outbox/99999999999999999999").status_code == 404
    assert client.get("/dev/outbox/abc").status_code == 404


def test_outbox_is_404_in_production(app, client, monkeypatch):
    (message_id,) = _queue(1)
    monkeypatch.setitem(app.config, "HUBX_ENV", "production")
    assert client.get("/dev/outbox").status_code == 404
    assert client.get(f"/dev/outbox/{message_id}").status_code == 404


def test_outbox_is_404_when_smtp_is_configured(app, client, monkeypatch):
    (message_id,) = _queue(1)
    monkeypatch.setitem(app.config, "SMTP_HOST", "smtp.example.com")
    assert client.get("/dev/outbox").status_code == 404
    assert client.get(f"/dev/outbox/{message_id}").status_code == 404

