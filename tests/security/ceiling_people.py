"""Privilege-ceiling cases for people: sessions (and users, once their pages exist). An admin never acts on
someone ranking above them; each case also shows the same action on someone below works."""

from __future__ import annotations

from sqlalchemy import select

from app.core.mixins import utcnow
from app.extensions import db
from app.sessions.models import UserSession
from app.sessions.services import start_session
from app.sessions.web import SESSION_ID_KEY  # noqa: F401 (the cookie key these sessions would carry)
from tests.security.ceiling import World, case


def _session_of(user) -> int:
    from datetime import timedelta

    from app.sessions.services import Lifetimes

    row, _raw = start_session(user, ip="192.0.2.1", user_agent="Firefox/130 Linux", now=utcnow(),
                              lifetimes=Lifetimes(idle=timedelta(minutes=30), absolute=timedelta(hours=12)))
    db.session.commit()
    return row.id


def _ended(session_id: int) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(UserSession.ended_at).where(UserSession.id == session_id)) is not None


@case("admin_ends_owner_session_page")
def _admin_ends_owner_session_page(w: World):
    owners, members = _session_of(w.owner), _session_of(w.member)
    assert w.page(w.admin, w.url(f"sessions/{owners}/end")).status_code == 403
    assert not _ended(owners)
    assert w.page(w.admin, w.url(f"sessions/{members}/end")).status_code == 302
    assert _ended(members)
