"""Session pages: one's own sessions (/account/sessions), and a tenant's members' sessions for its admins."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user, login_required

from app.core.errors import NotFound
from app.core.forms import Saved, handle_form
from app.core.htmx import is_htmx, render_page
from app.core.inputs import parse_page, parse_text
from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.ui import DashboardCard, NavItem, register_card, register_nav
from app.core.web import current_actor
from app.permissions.gate import require
from app.sessions import bp
from app.sessions.forms import EndSessionForm
from app.sessions.services import (
    end_member_session,
    end_other_sessions,
    end_own_session,
    live_sessions_of,
    member_session,
    own_session,
    tenant_session_page,
)
from app.sessions.web import current_session_id, lifetimes

PER_PAGE = 25
OWN = "sessions/account.html"
TENANT = "sessions/tenant.html"
CONFIRM = "sessions/confirm.html"


def _card_context(tenant) -> dict:
    page = tenant_session_page(tenant.id, now=utcnow(), lifetimes=lifetimes(), per_page=1)
    return {"live": page.total}


register_nav(NavItem("sessions", _l("Sessions"), "sessions.tenant_sessions", 350, permission="sessions.view"))
register_card(DashboardCard("sessions", "sessions/_card.html", 25, context=_card_context, permission="sessions.view"))


# ---------------------------------------------------------------- one's own sessions


def _own_context(**extra) -> dict:
    current = current_session_id()
    sessions = live_sessions_of(current_user.id, now=utcnow(), lifetimes=lifetimes())
    sessions.sort(key=lambda row: row.id != current)  # this browser first, then the others, most recent first
    return {"sessions": sessions, "current_id": current, **extra}


@bp.get("/account/sessions")
@login_required
def account_sessions():
    """The browsers signed in as me, this one marked; end one, or all the others."""
    if is_htmx():
        return render_page(OWN, "list", **_own_context())
    return render_template(OWN, **_own_context())


@bp.get("/account/sessions/<id:session_id>/end")
@login_required
def confirm_end_own(session_id: int):
    """Ask before ending one of my sessions (the page a browser without JavaScript gets)."""
    row = own_session(current_user.id, session_id)
    if row is None:
        raise NotFound(_("This session has ended already."))
    return render_template(CONFIRM, action="own", row=row, form=EndSessionForm(formdata=None),
                           url=url_for("sessions.end_own", session_id=row.id),
                           cancel_url=url_for("sessions.account_sessions"))


@bp.post("/account/sessions/<id:session_id>/end")
@login_required
def end_own(session_id: int):
    """End one of my sessions; ending this browser's own is signing out."""
    form = EndSessionForm()

    def run(_form):
        if session_id == current_session_id():
            raise NotFound(_("This is the browser you are using: sign out instead."))
        if not end_own_session(current_actor(), session_id, now=utcnow()):
            raise NotFound(_("This session has ended already."))

    return handle_form(form, run, render=lambda f: render_template(OWN, **_own_context(form=f)),
                       done=lambda _r: Saved(_("The session was ended: that browser is signed out."),
                                             url_for("sessions.account_sessions"),
                                             htmx=lambda text: render_page(OWN, "list", **_own_context(notice=text))))


@bp.get("/account/sessions/end-others")
@login_required
def confirm_end_others():
    """Ask before ending every other session."""
    return render_template(CONFIRM, action="others", row=None, form=EndSessionForm(formdata=None),
                           url=url_for("sessions.end_others"), cancel_url=url_for("sessions.account_sessions"))


@bp.post("/account/sessions/end-others")
@login_required
def end_others():
    """End every session but this browser's."""
    form = EndSessionForm()

    def done(count) -> Saved:
        text = ngettext("%(num)d other session was ended.", "%(num)d other sessions were ended.", count)
        return Saved(text, url_for("sessions.account_sessions"),
                     htmx=lambda message: render_page(OWN, "list", **_own_context(notice=message)))

    return handle_form(form, lambda _f: end_other_sessions(current_actor(), current_session_id(), now=utcnow()),
                       render=lambda f: render_template(OWN, **_own_context(form=f)), done=done)


# ---------------------------------------------------------------- the tenant's members' sessions


def _tenant_context(**extra) -> dict:
    search = parse_text(request.args.get("q"))
    page = tenant_session_page(state.tenant.id, now=utcnow(), lifetimes=lifetimes(), search=search or None,
                               page=parse_page(request.args.get("page")), per_page=PER_PAGE)
    return {"page": page, "q": search, "current_id": current_session_id(), **extra}


@bp.get("/t/<slug>/sessions")
@login_required
@require("sessions.view")
def tenant_sessions(slug: str):
    """Who is signed in: the live sessions of the tenant's members, most recently active first."""
    if is_htmx():
        return render_page(TENANT, "list", **_tenant_context())
    return render_template(TENANT, **_tenant_context())


@bp.get("/t/<slug>/sessions/<id:session_id>/end")
@login_required
@require("sessions.manage")
def confirm_end_member(slug: str, session_id: int):
    """Ask before ending a member's session."""
    found = member_session(state.tenant.id, session_id)
    if found is None:
        raise NotFound(_("This session has ended already, or is not one of this tenant's."))
    row, user = found
    return render_template(CONFIRM, action="member", row=row, person=user, form=EndSessionForm(formdata=None),
                           url=url_for("sessions.end_member", slug=slug, session_id=row.id),
                           cancel_url=url_for("sessions.tenant_sessions", slug=slug))


@bp.post("/t/<slug>/sessions/<id:session_id>/end")
@login_required
@require("sessions.manage")
def end_member(slug: str, session_id: int):
    """End a member's session: their next click finds them signed out."""
    form = EndSessionForm()

    def done(user) -> Saved:
        text = _("The session of %(email)s was ended.", email=user.email)
        return Saved(text, url_for("sessions.tenant_sessions", slug=slug),
                     htmx=lambda message: render_page(TENANT, "list", **_tenant_context(notice=message)))

    return handle_form(form, lambda _f: end_member_session(current_actor(), state.tenant.id, session_id,
                                                           now=utcnow()),
                       render=lambda f: render_template(TENANT, **_tenant_context(form=f)), done=done)
