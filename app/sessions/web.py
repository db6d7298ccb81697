"""What the sessions domain gives the web layer: the session check of every page request (Flask-Login's user
loader reads the server-side session the cookie names), activity, and starting, renewing and ending the
session of this browser.

The Flask session cookie (signed, HttpOnly) carries the random session id under `sid`; the `user_session` row
keeps its digest. A cookie whose row is gone (signed out, ended, timed out) signs no one in, replayed or not."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user

from app.core.htmx import is_htmx
from app.core.mixins import utcnow
from app.core.net import client_ip, user_agent
from app.core.request_state import state
from app.sessions.models import EndReason, SessionStage, UserSession
from app.sessions.services import (
    Lifetimes,
    advance_session,
    find_live,
    forget_session,
    mark_seen,
    renew_session,
    start_session,
    why_ended,
)
from app.users.models import User

#: the key of the session id in the Flask session cookie
SESSION_ID_KEY = "sid"
#: a request with this header is background polling (an htmx `every` trigger): it is not activity
POLL_HEADER = "X-Background-Poll"


def lifetimes() -> Lifetimes:
    """This deployment's idle and absolute limits (SESSION_IDLE_MINUTES, SESSION_ABSOLUTE_HOURS)."""
    config = current_app.config
    return Lifetimes(idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
                     absolute=timedelta(hours=config["SESSION_ABSOLUTE_HOURS"]))


def register_sessions(app: Flask, login_manager: LoginManager) -> None:
    """Check the server-side session on every page request; count activity once the tenant is known."""
    login_manager.user_loader(_load_user)
    # First of the page hooks (before the tenant is looked up): a session short of signed in goes nowhere else.
    app.before_request_funcs.setdefault(None, []).insert(0, _hold_at_stage)
    # After the view, before the request's commit (that hook was registered earlier, so it runs later): the write
    # joins the request's one transaction at its end, and holds no lock while the view works (on SQLite a write
    # lock taken early would block the view's own writers on other connections, such as the token usage log).
    app.after_request(_note_activity)


def _load_user(user_id: str) -> User | None:
    raw = session.get(SESSION_ID_KEY)
    found = find_live(raw, now=utcnow(), lifetimes=lifetimes())
    if found is None:
        _say_why_it_ended(raw)
        return None
    row, user, tenant_slug = found
    if str(user.id) != user_id:
        return None
    state.user_session = row
    state.session_tenant_slug = tenant_slug
    return user


def _ended_messages() -> dict:
    config = current_app.config
    by_admin = _l("An administrator ended your session. Sign in again.")
    return {
        EndReason.IDLE: _l("You were signed out after %(minutes)d minutes without activity.",
                           minutes=config["SESSION_IDLE_MINUTES"]),
        EndReason.EXPIRED: _l("Your session reached its %(hours)d-hour limit. Sign in again.",
                              hours=config["SESSION_ABSOLUTE_HOURS"]),
        EndReason.ENDED_BY_USER: _l("This session was ended from another browser."),
        EndReason.ENDED_BY_ADMIN: by_admin,
        EndReason.BLOCKED: _l("An administrator blocked your access to an organization; your session there ended."),
        EndReason.REMOVED: _l("An administrator removed you from an organization; your session there ended."),
        EndReason.PASSWORD_CHANGED: _l("Your password was changed, so this session ended. Sign in with the new one."),
    }


def _say_why_it_ended(raw) -> None:
    # Once: the dead id leaves the cookie, so the next request neither looks it up nor says it again.
    if not raw:
        return
    session.pop(SESSION_ID_KEY, None)
    message = _ended_messages().get(why_ended(raw))
    if message is not None:
        flash(str(message), "info")


def _note_activity(response):
    if request.headers.get(POLL_HEADER) or not session.get(SESSION_ID_KEY) or response.status_code >= 500:
        return response
    current_user.is_authenticated  # noqa: B018 (runs the session check when the view never asked who it was)
    row: UserSession | None = state.user_session
    if row is not None:
        tenant = state.tenant if response.status_code < 400 else None  # a refused tenant is not where they are
        mark_seen(row, now=utcnow(), tenant_id=tenant.id if tenant is not None else None)
    return response


def begin_session(user: User, stage: str | None = None) -> UserSession:
    """Start this browser's session for `user` (after the password was checked): a new id in the cookie. With a
    `stage` (SessionStage) the session reaches only the routes marked `reachable_at(stage)` until it advances."""
    row, raw = start_session(user, ip=client_ip(), user_agent=user_agent(), now=utcnow(), lifetimes=lifetimes(),
                             stage=stage)
    session[SESSION_ID_KEY] = raw
    state.user_session = row
    return row


def advance_current_session(stage: str | None) -> None:
    """This browser's session moves to `stage` (None: signed in) under a new id."""
    row = state.user_session
    if row is not None:
        session[SESSION_ID_KEY] = advance_session(row, stage, now=utcnow())


# -- the stages of sign-in: what a session short of signed in may reach --------------------------------------------

#: the page each stage sends its session to (registered by the domain that serves it)
_STAGE_PAGES: dict[str, str] = {}
#: the views open at a stage; every other route refuses a session short of signed in (tests/security checks it
#: against the route table)
_STAGE_VIEWS: dict[str, set[str]] = {SessionStage.SECOND_FACTOR: set(), SessionStage.ENROLL: set()}


def register_stage_page(stage: str, endpoint: str) -> None:
    _STAGE_PAGES[stage] = endpoint


def stage_url(stage: str) -> str:
    """The page a session at `stage` is sent to."""
    return url_for(_STAGE_PAGES.get(stage, "auth.login"))


def reachable_at(*stages: str):
    """Mark a view as open to sessions at these stages of sign-in (the second step's pages, sign-out)."""
    def mark(view):
        view.hubx_stages = frozenset(stages)
        return view
    return mark


def reachable_views(stage: str) -> set[str]:
    """The endpoints open at `stage` (for the route-table test)."""
    return {endpoint for endpoint, view in current_app.view_functions.items()
            if stage in getattr(view, "hubx_stages", ())}


def _hold_at_stage():
    if request.endpoint == "static" or not session.get(SESSION_ID_KEY):
        return None
    current_user.is_authenticated  # noqa: B018 (runs the session check: it finds the row and its stage)
    row: UserSession | None = state.user_session
    if row is None or row.stage is None:
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is not None and row.stage in getattr(view, "hubx_stages", ()):
        return None
    target = stage_url(row.stage)
    if is_htmx():  # a fragment request: the whole page goes to the stage's page
        response = current_app.response_class(status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def renew_current_session() -> None:
    """A new id for this browser's session (a privilege change): the previous cookie no longer works."""
    row = state.user_session
    if row is not None:
        session[SESSION_ID_KEY] = renew_session(row)


def end_current_session() -> None:
    """Sign-out: delete this browser's session row."""
    row = state.pop("user_session")
    if row is not None:
        forget_session(row.id)
    session.pop(SESSION_ID_KEY, None)


def current_session_id() -> int | None:
    """The id of this browser's session row, or None."""
    row = state.user_session
    return row.id if row is not None else None
