"""Member administration pages: the list (search, filters, sort, pages, a selection to act on, CSV export), a
member's page, and the actions on a member, each asked about first (a dialog with JavaScript, a page without)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Response, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from app.audit.services import recent_events
from app.auth.links import reset_link
from app.core.fields import valid_or_none
from app.core.forms import Saved, handle_form
from app.core.htmx import is_htmx, render_page
from app.core.inputs import parse_id, parse_page, parse_text
from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.ui import DashboardCard, NavItem, can, detail_panels, register_card, register_nav
from app.core.web import current_actor
from app.permissions.ceiling import may_act_on
from app.permissions.gate import require
from app.sessions.services import live_sessions_of
from app.sessions.web import lifetimes
from app.tokens.services import list_tokens
from app.users import bp
from app.users.admin import (
    COUNT_UP_TO,
    EXPORT_COLUMNS,
    Action,
    MemberQuery,
    MemberState,
    Sort,
    TwoFactor,
    act,
    act_on_many,
    change_role,
    check_action,
    export_rows,
    member,
    member_list,
    member_summary,
    send_member_reset,
    twofa_required_roles,
)
from app.users.forms import BulkForm, MemberActionForm, RoleForm
from app.users.models import Role, check_role

PER_PAGE = 25
LIST, DETAIL, CONFIRM = "users/page.html", "users/detail.html", "users/confirm.html"
ACTIONS = 'any(block,unblock,unlock,remove,restore,"sign-out")'

register_nav(NavItem("users", _l("Users"), "users.page", 300, permission="users.view"))
register_card(DashboardCard("users", "users/_card.html", 15,
                            context=lambda tenant: {"summary": member_summary(tenant.id, now=utcnow())},
                            permission="users.view"))


def query_of(source) -> MemberQuery:
    """The list's search, filters and order from a query string; anything odd is ignored."""
    state_value, sort, twofa = source.get("state"), source.get("sort"), source.get("twofa")
    return MemberQuery(
        q=parse_text(source.get("q")) or None,
        state=MemberState(state_value) if state_value in {s.value for s in MemberState} else None,
        role=Role(role) if (role := valid_or_none(check_role, source.get("role"))) else None,
        twofa=TwoFactor(twofa) if twofa in {t.value for t in TwoFactor} else None,
        sort=Sort(sort) if sort in {s.value for s in Sort} else Sort.EMAIL,
    )


def _args(query: MemberQuery) -> dict:
    args = {"q": query.q, "state": query.state and query.state.value, "role": query.role and query.role.value,
            "twofa": query.twofa and query.twofa.value,
            "sort": query.sort.value if query.sort != Sort.EMAIL else None}
    return {key: value for key, value in args.items() if value}


def _list_context(notice: str | None = None, bulk=None, form=None) -> dict:
    query = query_of(request.args)
    page = member_list(state.tenant, query, now=utcnow(), page=parse_page(request.args.get("page")), per_page=PER_PAGE,
                       count_up_to=COUNT_UP_TO)
    actor = current_actor()
    return {"page": page, "query": query, "args": _args(query), "notice": notice, "bulk": bulk, "form": form,
            "now": utcnow(), "manage": can("users.manage"), "twofa_required": twofa_required_roles(state.tenant),
            "may_act": {user.id: may_act_on(actor, state.tenant.id, user.id) for user, _m, _p in page.items}}


@bp.get("/t/<slug>/users")
@require("users.view")
def page(slug: str):
    """The tenant's members: search, filters, sort and pages in the address; act on a selection."""
    if is_htmx():
        return render_page(LIST, "list", **_list_context())
    return render_template(LIST, **_list_context())


@bp.get("/t/<slug>/users/export.csv")
@require("users.view")
def export(slug: str):
    """The filtered list as CSV, streamed (no page limit)."""
    rows = export_rows(state.tenant.id, query_of(request.args), now=utcnow())

    def lines():
        buffer = io.StringIO()
        out = csv.writer(buffer)
        out.writerow(EXPORT_COLUMNS)
        yield buffer.getvalue()  # the header, also when no member matches
        buffer.seek(0)
        buffer.truncate()
        for email, name, role, status, locked_until, last_sign_in, joined, twofa_at in rows:
            out.writerow([_cell(email), _cell(name), role, status, _iso(locked_until), _iso(last_sign_in),
                          _iso(joined), _iso(twofa_at)])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    filename = f"{state.tenant.slug}-users.csv"
    return Response(lines(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _cell(text: str) -> str:
    # A cell a spreadsheet would run as a formula is quoted as text (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _iso(value) -> str:
    return value.isoformat() if value else ""


def _detail_context(user_id: int, **extra) -> dict:
    user, membership = member(state.tenant, user_id)
    now = utcnow()
    return {"person": user, "membership": membership, "profile": user.profile, "now": now,
            "sessions": live_sessions_of(user.id, now=now, lifetimes=lifetimes()),
            "tokens": list_tokens(state.tenant, owner_id=user.id, page=1, per_page=10, sort="newest").items,
            "events": recent_events(state.tenant.id, user.id),
            "may_act": may_act_on(current_actor(), state.tenant.id, user.id), "manage": can("users.manage"),
            "role_form": extra.pop("role_form", None) or RoleForm(formdata=None, data={"role": membership.role.value}),
            # what other capabilities show about the member (app.core.ui.register_detail_panel), in order
            "panels": [(panel, panel.context(state.tenant, user)) for panel in detail_panels(can)],
            **extra}


@bp.get("/t/<slug>/users/<id:user_id>")
@require("users.view")
def show(slug: str, user_id: int):
    """A member: profile, membership, sessions, tokens and recent events; the actions an admin may take."""
    return render_template(DETAIL, **_detail_context(user_id))


@bp.get(f"/t/<slug>/users/<id:user_id>/<{ACTIONS}:action>")
@require("users.manage")
def confirm_action(slug: str, user_id: int, action: str):
    """Ask before acting on a member (the page a browser without JavaScript gets)."""
    user, membership = member(state.tenant, user_id)
    return render_template(CONFIRM, action=action, person=user, membership=membership,
                           form=MemberActionForm(formdata=None),
                           url=url_for("users.run_action", slug=slug, user_id=user_id, action=action))


_DONE = {
    Action.BLOCK: _l("%(email)s is blocked in this tenant: their sessions here ended and their tokens here stop."),
    Action.UNBLOCK: _l("%(email)s is no longer blocked."),
    Action.UNLOCK: _l("%(email)s may sign in again now."),
    Action.REMOVE: _l("%(email)s was removed from this tenant. You can restore them from the removed members."),
    Action.RESTORE: _l("%(email)s is a member again."),
    Action.SIGN_OUT: _l("%(email)s was signed out everywhere."),
}


@bp.post(f"/t/<slug>/users/<id:user_id>/<{ACTIONS}:action>")
@require("users.manage")
def run_action(slug: str, user_id: int, action: str):
    """Block, unblock, unlock, remove, restore or sign out a member."""
    form, chosen = MemberActionForm(), Action(action)

    def render(bound):
        user, membership = member(state.tenant, user_id)
        return render_template(CONFIRM, action=action, person=user, membership=membership, form=bound,
                               url=url_for("users.run_action", slug=slug, user_id=user_id, action=action))

    def done(user) -> Saved:
        to = url_for("users.page", slug=slug) if chosen == Action.REMOVE else \
            url_for("users.show", slug=slug, user_id=user_id)
        return Saved(str(_DONE[chosen]) % {"email": user.email}, to)

    return handle_form(form, lambda _f: act(current_actor(), state.tenant, user_id, chosen, now=utcnow()),
                       render=render, done=done)


@bp.get("/t/<slug>/users/<id:user_id>/reset-password")
@require("users.manage")
def confirm_reset(slug: str, user_id: int):
    """Ask before mailing a member a password-reset link."""
    user, membership = member(state.tenant, user_id)
    return render_template(CONFIRM, action="reset", person=user, membership=membership,
                           form=MemberActionForm(formdata=None),
                           url=url_for("users.send_reset_link", slug=slug, user_id=user_id))


@bp.post("/t/<slug>/users/<id:user_id>/reset-password")
@require("users.manage")
def send_reset_link(slug: str, user_id: int):
    """Mail a member a single-use link to choose a new password (valid PASSWORD_RESET_MINUTES)."""
    form = MemberActionForm()
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]

    def run(_bound):
        return send_member_reset(current_actor(), state.tenant, user_id, now=utcnow(),
                                 lifetime=timedelta(minutes=minutes), link=reset_link,
                                 locale=state.tenant.default_locale)

    def render(bound):
        user, membership = member(state.tenant, user_id)
        return render_template(CONFIRM, action="reset", person=user, membership=membership, form=bound,
                               url=url_for("users.send_reset_link", slug=slug, user_id=user_id))

    return handle_form(form, run, render=render,
                       done=lambda user: Saved(_("A link to choose a new password was sent to %(email)s. It works "
                                                 "once, for %(minutes)d minutes.", email=user.email, minutes=minutes),
                                               url_for("users.show", slug=slug, user_id=user_id)))


@bp.get("/t/<slug>/users/<id:user_id>/role")
@require("users.manage")
def confirm_role(slug: str, user_id: int):
    """Ask before changing a member's role."""
    user, membership = member(state.tenant, user_id)
    form = RoleForm(formdata=None, data={"role": valid_or_none(check_role, request.args.get("role"))
                                         or membership.role.value})
    return render_template(CONFIRM, action="role", person=user, membership=membership, form=form,
                           url=url_for("users.change_member_role", slug=slug, user_id=user_id))


@bp.post("/t/<slug>/users/<id:user_id>/role")
@require("users.manage")
def change_member_role(slug: str, user_id: int):
    """Give a member another role (never above one's own; never leaving the tenant without an owner)."""
    form = RoleForm()

    def render(bound):
        return render_template(DETAIL, **_detail_context(user_id, role_form=bound))

    def done(user) -> Saved:
        return Saved(_("%(email)s is now %(role)s.", email=user.email, role=Role(form.role.data).label),
                     url_for("users.show", slug=slug, user_id=user_id))

    return handle_form(form, lambda f: change_role(current_actor(), state.tenant, user_id, Role(f.role.data)),
                       render=render, done=done)


def _selected() -> list[int]:
    ids = [parse_id(value) for value in request.values.getlist("user_id")[:PER_PAGE * 4]]
    return [i for i in ids if i is not None]


@bp.get("/t/<slug>/users/bulk")
@require("users.manage")
def confirm_bulk(slug: str):
    """Ask before acting on the selected members."""
    action = valid_or_none(check_action, request.args.get("bulk_action"))
    people = [member(state.tenant, user_id)[0] for user_id in _selected()] if action else []
    form = BulkForm(formdata=None, data={"bulk_action": action})
    return render_template(CONFIRM, action="bulk", chosen=action, people=people, form=form,
                           url=url_for("users.run_bulk", slug=slug, **_args(query_of(request.args))))


@bp.post("/t/<slug>/users/bulk")
@require("users.manage")
def run_bulk(slug: str):
    """Act on each selected member; each refusal is listed with its reason, the rest is done."""
    form = BulkForm()

    def done(result) -> Saved:
        text = ngettext("Done for %(num)d member.", "Done for %(num)d members.", len(result.done))
        if result.refused:
            text += " " + ngettext("%(num)d refused: ", "%(num)d refused: ", len(result.refused)) + \
                "; ".join(f"{email} ({why})" for email, why in result.refused)
        return Saved(text, url_for("users.page", slug=slug, **_args(query_of(request.args))),
                     htmx=lambda message: render_page(LIST, "list", **_list_context(notice=message)))

    def run(bound):
        return act_on_many(current_actor(), state.tenant, _selected(), Action(bound.bulk_action.data), now=utcnow())

    return handle_form(form, run,
                       render=lambda bound: render_template(LIST, **_list_context(form=bound)), done=done)
