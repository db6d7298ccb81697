"""API token pages: the list with its create form; one token's page with its usage, revoke, rotate and limits;
the pages that ask before revoking or rotating.

Every POST goes through the form helper (app.core.forms.handle_form: every field error at once, a one-time
nonce, so a double click or a reload acts once) and redirects. A new secret (created or rotated) is kept
encrypted in the session for the page the POST redirects to, which shows it once with Cache-Control: no-store
(app.tokens.reveal): never in a URL, a flash message or a second response. htmx requests get one block of the
page's template (the one their HX-Target names); without JavaScript every form posts and gets a whole page,
and revoking or rotating first shows a page that asks (GET .../revoke, .../rotate).
"""

from __future__ import annotations

import logging

from flask import redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from app.core.errors import Forbidden
from app.core.forms import Saved, handle_form
from app.core.htmx import htmx_target, is_htmx, oob
from app.core.request_state import state
from app.core.stepup import require_proof
from app.core.web import current_actor
from app.permissions.gate import require
from app.tokens import bp, pagectx, reveal, services, usage
from app.tokens.forms import LimitsForm, RevokeForm, RotateForm
from app.tokens.models import ApiToken, Scope

log = logging.getLogger(__name__)
TEMPLATE = "tokens/page.html"
DETAIL = "tokens/detail.html"
CONFIRM = "tokens/confirm.html"
# htmx's HX-Target (the element it swaps into) -> the block of the page that fills it
BLOCKS = {"tokens-list": "list", "tokens-create": "create"}
_filters = pagectx.filters_of  # the name the one-validator tests ask


# ---------------------------------------------------------------- the list and the create form


@bp.get("/t/<slug>/tokens")
@login_required
@require("tokens.view")
def page(slug: str):
    """The create form (or a new token's secret, once) and the tokens: one's own, or every token of the tenant
    with tokens.manage; filters, sort and page from the query string."""
    filters = pagectx.filters_of(request.args)
    block = BLOCKS.get(htmx_target())
    if block == "list":
        return render_block(TEMPLATE, "list", **pagectx.list_ctx(filters))
    issued = reveal.take(reveal.CREATED, find=pagectx.find_visible)
    if block == "create":
        html = render_block(TEMPLATE, "create", **pagectx.create_ctx(issued=issued, focus=issued is None))
        if issued is None:  # "I have copied it": the form again, focus on its first field
            return html
        notice = _("Token “%(name)s” created.", name=issued.token.name)
        return html + oob("tokens-list", render_block(TEMPLATE, "list", **pagectx.list_ctx(filters, notice)))
    return render_template(TEMPLATE, **pagectx.page_ctx(filters, issued=issued))


@bp.post("/t/<slug>/tokens")
@login_required
@require("tokens.create")
def create_token(slug: str):
    """Create a token for oneself, then show its secret once on the page this redirects to."""
    ctx = pagectx.create_ctx()

    def before() -> None:
        if ctx["ceiling"] is None:
            raise Forbidden(_("Your role here does not allow API tokens, so you cannot create one."))

    def render(form):
        if is_htmx():
            return render_block(TEMPLATE, "create", **{**ctx, "form": form})
        return render_template(TEMPLATE, **pagectx.page_ctx(pagectx.filters_of(request.args), form=form))

    def created(issued):
        reveal.keep(issued, reveal.CREATED)
        # htmx sends the list's filters along (hx-include), so the list it gets back stays as it is on screen
        args = pagectx.list_args(pagectx.filters_of(request.form)) if is_htmx() else {}
        return redirect(pagectx.list_url(**args), 303)

    def run(form):
        if form.scope.data == Scope.ADMIN.value:
            require_proof(form.proof.data)  # an admin-scope token: a recent proof of who one is (step-up)
        return services.create_token(
            current_actor(), state.tenant, current_user._get_current_object(), name=form.name.data,
            scope=form.scope.data, rate_limit=form.rate_limit.data, ip_allow=form.ip_allow.data,
            ip_deny=form.ip_deny.data, device_binding=bool(form.device_binding.data), **form.lifetime())

    return handle_form(pagectx.create_form(ctx["ceiling"], ctx["policy"]), run, render=render, done=created,
                       before=before)


# ---------------------------------------------------------------- one token


@bp.get("/t/<slug>/tokens/<id:token_id>")
@login_required
@require("tokens.view")
def show_token(slug: str, token_id: int):
    """One token: its fields, rotation history, requests per day, recent requests and limits; after a
    rotation, the new secret, once."""
    try:
        usage.flush()  # buffered usage rows: write them now, so the page is current
    except Exception:  # noqa: BLE001 (the rows stay buffered; the page shows what is written)
        log.exception("writing token usage before the token page failed")
    token = pagectx.visible(token_id)
    issued = reveal.take(reveal.ROTATED, token)
    if htmx_target() == "token-detail":  # "I have copied it": the page without the secret, focus kept on it
        return render_block(DETAIL, "detail", **pagectx.detail_ctx(token, issued=issued, focus=issued is None))
    return render_template(DETAIL, **pagectx.detail_ctx(token, issued=issued))


@bp.get("/t/<slug>/tokens/<id:token_id>/revoke")
@login_required
@require("tokens.revoke")
def confirm_revoke(slug: str, token_id: int):
    """Ask before revoking (the page a browser without JavaScript gets; with it, a dialog asks)."""
    token = pagectx.visible(token_id)
    form = RevokeForm(formdata=None, data={"reason": request.args.get("reason", "")[:500],
                                           "back": _back(request.args)})
    return render_template(CONFIRM, **pagectx.confirm_ctx(token, "revoke", form, back=form.back.data,
                                                          keep=_list_state(request.args)))


@bp.post("/t/<slug>/tokens/<id:token_id>/revoke")
@login_required
@require("tokens.revoke")
def revoke_token(slug: str, token_id: int):
    """Revoke a token now, with every older secret of its rotation chain, and an optional reason."""
    token = pagectx.visible(token_id)
    already = token.revoked_at is not None
    form = RevokeForm()
    back, keep = _back(request.form), _list_state(request.args)

    def render(form: RevokeForm):
        if is_htmx():
            return render_block(DETAIL, "detail", **pagectx.detail_ctx(token, revoke_form=form))
        return render_template(CONFIRM, **pagectx.confirm_ctx(token, "revoke", form, back=back, keep=keep))

    def revoked(_token) -> Saved:
        message = _revoked_message(token, already)
        to = pagectx.list_url(**keep) if back == "list" else pagectx.detail_url(token.id)
        return Saved(message, to, htmx=lambda text: render_block(DETAIL, "detail", **pagectx.detail_ctx(
            token, notice=text)))

    return handle_form(form, lambda form: services.revoke_token(current_actor(), token, reason=form.reason.data or ""),
                       render=render, done=revoked)


@bp.get("/t/<slug>/tokens/<id:token_id>/rotate")
@login_required
@require("tokens.revoke")
def confirm_rotate(slug: str, token_id: int):
    """Ask before rotating (the page a browser without JavaScript gets; with it, a dialog asks)."""
    token = pagectx.visible(token_id)
    form = RotateForm(formdata=None, data={"back": _back(request.args)})
    return render_template(CONFIRM, **pagectx.confirm_ctx(token, "rotate", form, back=form.back.data,
                                                          keep=_list_state(request.args)))


@bp.post("/t/<slug>/tokens/<id:token_id>/rotate")
@login_required
@require("tokens.revoke")
def rotate_token(slug: str, token_id: int):
    """Issue a successor with the same settings; its secret is shown once on the successor's page, where this
    redirects (htmx is sent there too: the address is the new token's)."""
    token = pagectx.visible(token_id)
    back, keep = _back(request.form), _list_state(request.args)

    def render(form: RotateForm):
        if is_htmx():
            return render_block(DETAIL, "detail", **pagectx.detail_ctx(token, rotate_form=form))
        return render_template(CONFIRM, **pagectx.confirm_ctx(token, "rotate", form, back=back, keep=keep))

    def rotated(issued):
        reveal.keep(issued, reveal.ROTATED)
        to = pagectx.detail_url(issued.token.id)
        if is_htmx():
            return "", 200, {"HX-Redirect": to}
        return redirect(to, 303)

    return handle_form(RotateForm(), lambda form: services.rotate_token(current_actor(), token),
                       render=render, done=rotated)


@bp.post("/t/<slug>/tokens/<id:token_id>/limits")
@login_required
@require("tokens.revoke")
def update_limits(slug: str, token_id: int):
    """Change the rate limit, the IP rules and the device binding of a live token."""
    token = pagectx.visible(token_id)

    def render(form: LimitsForm):
        if is_htmx():
            return render_block(DETAIL, "limits", **pagectx.limits_ctx(token, form))
        return render_template(DETAIL, **pagectx.detail_ctx(token, limits_form=form))

    def saved(_token) -> Saved:
        return Saved(_("Limits saved. They apply from the next request."),
                     pagectx.detail_url(token.id) + "#limits-title",
                     htmx=lambda message: render_block(DETAIL, "limits", **pagectx.limits_ctx(
                         token, LimitsForm.for_token(token), message)))

    return handle_form(LimitsForm(), lambda form: services.update_limits(
        current_actor(), token, rate_limit=form.rate_limit.data, ip_allow=form.ip_allow.data,
        ip_deny=form.ip_deny.data, device_binding=bool(form.device_binding.data),
    ), render=render, done=saved)


# ---------------------------------------------------------------- helpers


def _back(source) -> str:
    """Where a confirmation came from: the list ("list") or the token's page (anything else)."""
    return "list" if source.get("back") == "list" else ""


def _list_state(args) -> dict:
    """The list's filters and sort a confirmation carries in its address, to go back to the list as it was."""
    return pagectx.list_args(pagectx.filters_of(args))


def _revoked_message(token: ApiToken, already: bool) -> str:
    if already:
        return _("This token was already revoked.")
    if len(services.token_chain(token)) > 1:
        return _("Token “%(name)s” revoked, with every older secret of its rotation chain. Requests with them are "
                 "refused from now on.", name=token.name)
    return _("Token “%(name)s” revoked. Requests with it are refused from now on.", name=token.name)
