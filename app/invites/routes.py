"""The tenant's invite pages under /t/<slug>/invites: issue a personal invite or a shareable link (the new link
and code shown once), the list with filters, search and pages, revoke and resend (each asked first on a page of
its own), renew an expired invite in one click, approve or decline the joins that wait.

Every POST goes through the form helper (app.core.forms.handle_form: every field error at once, a one-time
nonce, so a double click or a reload acts once) and redirects. A new code is kept encrypted in the session for
the page the POST redirects to, which shows it once with Cache-Control: no-store (app.invites.reveal): never in
a URL, a flash message, a log or an audit event. htmx swaps the list as one filters or pages; every action works
without JavaScript.
"""

from __future__ import annotations

from flask import redirect, render_template, request
from flask_babel import gettext as _
from flask_login import login_required
from jinja2_fragments.flask import render_block

from app.core.forms import Saved, handle_form
from app.core.htmx import htmx_target
from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.web import current_actor
from app.invites import bp, delivery, pagectx, reveal, services
from app.invites.forms import ConfirmForm
from app.invites.links import join_url
from app.invites.pagectx import CONFIRM, TEMPLATE
from app.permissions.gate import require

# htmx's HX-Target (the element it swaps into) -> the block of the page that fills it
BLOCKS = {"invites-list": "list"}


# ---------------------------------------------------------------- the page and issuing


@bp.get("/t/<slug>/invites")
@login_required
@require("invites.view")
def page(slug: str):
    """The issue forms (or a new code, once), the joins waiting for approval, and the list: filters and page
    from the query string."""
    filters = pagectx.filters_of(request.args)
    if BLOCKS.get(htmx_target()) == "list":
        return render_block(TEMPLATE, "list", **pagectx.list_ctx(filters))
    return render_template(TEMPLATE, **pagectx.page_ctx(filters, revealed=reveal.take()))


def _issue(form, *, link: bool):
    def render(bound):
        kind = {"link": bound, "open_link": True} if link else {"personal": bound}
        return render_template(TEMPLATE, **pagectx.page_ctx(pagectx.filters_of(request.args), **kind))

    def run(bound):
        fields = {"role": bound.role.data, "ttl_hours": bound.ttl_hours.data}
        if link:
            fields.update(kind="link", max_uses=bound.max_uses.data, email_domain=bound.email_domain.data,
                          needs_approval=bool(bound.needs_approval.data))
        else:
            fields.update(email=bound.email.data, send_email=bool(bound.send_email.data))
        return delivery.invite_person(current_actor(), state.tenant, link_of=join_url, now=utcnow(),
                                      **fields)

    def issued(new: delivery.NewCode):
        reveal.keep(new.invite, new.code, reveal.ISSUED, emailed=new.emailed)
        return redirect(pagectx.list_url(), 303)

    return handle_form(form, run, render=render, done=issued)


@bp.post("/t/<slug>/invites")
@login_required
@require("invites.create")
def issue(slug: str):
    """Invite one person (optionally bound to an address, optionally emailed), at most to one's own role, within
    the daily limit; the link and code are shown once on the page this redirects to."""
    return _issue(pagectx.personal_form(), link=False)


@bp.post("/t/<slug>/invites/links")
@login_required
@require("invites.create")
def create_link(slug: str):
    """Make a shareable link for up to N people (optionally one email domain, optionally held for approval)."""
    return _issue(pagectx.link_form(), link=True)


# ---------------------------------------------------------------- one invite: revoke, resend, renew


def _confirm_page(action: str, form: ConfirmForm, *, invite=None, use=None):
    return render_template(CONFIRM, action=action, form=form, invite=invite, use=use, now=utcnow(),
                           status=pagectx.shown_status(invite, utcnow()) if invite is not None else None,
                           may_manage=pagectx.may_manage(invite) if invite is not None else True,
                           cancel_url=pagectx.list_url())


@bp.get("/t/<slug>/invites/<id:invite_id>/revoke")
@login_required
@require("invites.revoke")
def confirm_revoke(slug: str, invite_id: int):
    """Ask before revoking (the page a browser without JavaScript gets; with it, a dialog asks)."""
    return _confirm_page("revoke", ConfirmForm(formdata=None), invite=pagectx.visible(invite_id))


@bp.post("/t/<slug>/invites/<id:invite_id>/revoke")
@login_required
@require("invites.revoke")
def revoke(slug: str, invite_id: int):
    """Revoke a pending invite or link: its code is refused from now on."""
    invite = pagectx.visible(invite_id)
    return handle_form(
        ConfirmForm(), lambda form: services.revoke(current_actor(), state.tenant, invite.id, now=utcnow()),
        render=lambda form: _confirm_page("revoke", form, invite=invite),
        done=lambda revoked: Saved(_("Invite %(hint)s revoked: its code is refused from now on.", hint=revoked.hint),
                                   pagectx.list_url()))


@bp.get("/t/<slug>/invites/<id:invite_id>/resend")
@login_required
@require("invites.revoke")
def confirm_resend(slug: str, invite_id: int):
    """Ask before resending: a new code replaces the old one, which stops working at once."""
    return _confirm_page("resend", ConfirmForm(formdata=None), invite=pagectx.visible(invite_id))


def _new_code(why: str):
    def shown(new: delivery.NewCode):
        reveal.keep(new.invite, new.code, why, emailed=new.emailed)
        return redirect(pagectx.list_url(), 303)

    return shown


@bp.post("/t/<slug>/invites/<id:invite_id>/resend")
@login_required
@require("invites.revoke")
def resend(slug: str, invite_id: int):
    """A pending invite's new code (shown once; emailed again when the invite has an address); the old code stops
    working at once. Counts against the daily limit."""
    invite = pagectx.visible(invite_id)
    return handle_form(
        ConfirmForm(), lambda form: delivery.resend_invite(current_actor(), state.tenant, invite.id,
                                                           link_of=join_url, now=utcnow()),
        render=lambda form: _confirm_page("resend", form, invite=invite), done=_new_code(reveal.RESENT))


@bp.post("/t/<slug>/invites/<id:invite_id>/renew")
@login_required
@require("invites.revoke")
def renew(slug: str, invite_id: int):
    """An expired invite made pending again in one click: a new code (shown once; emailed again when the invite
    has an address) and a new lifetime. Counts against the daily limit."""
    invite = pagectx.visible(invite_id)
    return handle_form(
        ConfirmForm(), lambda form: delivery.renew_invite(current_actor(), state.tenant, invite.id,
                                                          link_of=join_url, now=utcnow()),
        render=_page_with_refusal, done=_new_code(reveal.RENEWED))


# ---------------------------------------------------------------- joins that wait for approval


@bp.post("/t/<slug>/invites/joins/<id:use_id>/approve")
@login_required
@require("invites.revoke")
def approve(slug: str, use_id: int):
    """Give the membership a link's join waits for (at most the approver's own role)."""
    use = services.waiting_join(state.tenant, use_id)
    email = use.user.email
    return handle_form(
        ConfirmForm(), lambda form: services.approve(current_actor(), state.tenant, use.id, now=utcnow()),
        render=_page_with_refusal,
        done=lambda membership: Saved(_("%(email)s joined as %(role)s.", email=email, role=membership.role.label),
                                      pagectx.list_url()))


@bp.get("/t/<slug>/invites/joins/<id:use_id>/decline")
@login_required
@require("invites.revoke")
def confirm_decline(slug: str, use_id: int):
    """Ask before declining a join."""
    return _confirm_page("decline", ConfirmForm(formdata=None), use=services.waiting_join(state.tenant, use_id))


@bp.post("/t/<slug>/invites/joins/<id:use_id>/decline")
@login_required
@require("invites.revoke")
def decline(slug: str, use_id: int):
    """Refuse a link's waiting join: no membership (the seat stays taken)."""
    use = services.waiting_join(state.tenant, use_id)
    email = use.user.email
    return handle_form(
        ConfirmForm(), lambda form: services.decline(current_actor(), state.tenant, use.id, now=utcnow()),
        render=lambda form: _confirm_page("decline", form, use=use),
        done=lambda _use: Saved(_("The request of %(email)s to join was declined.", email=email),
                                pagectx.list_url()))


def _page_with_refusal(form: ConfirmForm):
    """The page, with why a one-click action (renew, approve) was refused above the list."""
    return render_template(TEMPLATE, **pagectx.page_ctx(pagectx.filters_of(request.args)), refusal=form)
