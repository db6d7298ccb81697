"""API token pages: the list with its create form and the one-time reveal; one token's page with its usage,
revoke, rotate and limits.

A new secret is rendered straight into the response of the POST that made it, with Cache-Control:
no-store: never into a redirect, a URL or a flash message; the form's one-time nonce (app.core.forms) makes a
reload of that POST harmless (no second token, the secret not shown again). htmx requests get one block of the
page's template (the one their HX-Target names); without JavaScript every form posts and gets a whole page.
"""

from __future__ import annotations

import logging

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from app.core.errors import DomainError, Forbidden
from app.core.fields import valid_or_none
from app.core.forms import Saved, handle_form
from app.core.htmx import htmx_target, is_htmx, oob, render_page
from app.core.inputs import parse_id, parse_page, parse_text
from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.web import current_actor
from app.extensions import db
from app.permissions.gate import can, require
from app.tokens import bp, services, usage
from app.tokens import ceiling as token_ceiling
from app.tokens.forms import CreateTokenForm, LimitsForm
from app.tokens.models import ApiToken, Scope, check_token_status
from app.users import services as user_services

log = logging.getLogger(__name__)
TEMPLATE = "tokens/page.html"
DETAIL = "tokens/detail.html"
PER_PAGE = 20
EXPIRING_CHOICES = (7, 30)
CHART_DAYS, BAR, CHART_HEIGHT = 30, 10, 100
# htmx's HX-Target (the element it swaps into) -> the block of the page that fills it
BLOCKS = {"tokens-list": "list", "tokens-create": "create"}


# ---------------------------------------------------------------- parsing (anything odd is ignored)


def _filters(source) -> dict:
    """The list's filters and page, from a query string (or the create form, which sends them along)."""
    status, scope, expiring = source.get("status"), source.get("scope"), parse_id(source.get("expiring"))
    return {
        "q": parse_text(source.get("q")) or None,
        "status": valid_or_none(check_token_status, status),  # the API's and the command's check
        "scope": scope if scope in {s.value for s in Scope} else None,
        "owner": parse_id(source.get("owner")),
        "expiring": expiring if expiring in EXPIRING_CHOICES else None,
        "page": parse_page(source.get("page")),
    }


# ---------------------------------------------------------------- contexts


def _list_ctx(filters: dict, notice: str | None = None) -> dict:
    manage = can("tokens.manage")  # without it, only one's own tokens, whatever the URL says
    query = {"owner_id": filters["owner"] if manage else current_user.id, "status": filters["status"],
             "scope": filters["scope"], "search": filters["q"], "expiring_within_days": filters["expiring"]}
    tokens = services.list_tokens(state.tenant, **query, page=filters["page"], per_page=PER_PAGE, clamp=True)
    args = {k: v for k, v in filters.items() if v and k != "page" and (manage or k != "owner")}
    return {"tokens": tokens, "args": args, "manage": manage, "now": utcnow(), "notice": notice}


def _create_form(ceiling, policy, **kwargs) -> CreateTokenForm:
    return CreateTokenForm(prefix="new", ceiling=ceiling, max_days=policy.max_days, **kwargs)


def _create_ctx(form: CreateTokenForm | None = None, issued=None) -> dict:
    ceiling = token_ceiling.highest_scope(current_user, state.tenant)
    policy = services.token_policy(state.tenant.id)
    if form is None:
        form = _create_form(ceiling, policy, formdata=None, data={"expires_in_days": policy.default_days})
    return {"form": form, "issued": issued, "ceiling": ceiling, "policy": policy,
            "can_create": can("tokens.create")}


def _page_ctx(filters: dict, **create) -> dict:
    manage = can("tokens.manage")
    members = user_services.members(state.tenant) if manage else []
    return {**_list_ctx(filters), **_create_ctx(**create), "filters": filters, "members": members}


def _usage_chart(token: ApiToken) -> dict:
    """Bars of an inline SVG chart (and the rows of its table), one per day, oldest first."""
    series = services.usage_per_day(token, days=CHART_DAYS)
    peak = max((n for _day, n in series), default=0)
    bars = [{"label": format_date(day, "medium"), "count": n, "x": i * BAR,
             "height": max(1.5, round(n / peak * CHART_HEIGHT, 1)) if n else 0}
            for i, (day, n) in enumerate(series)]
    return {"bars": bars, "total": sum(n for _day, n in series), "peak": peak, "bar": BAR,
            "width": len(bars) * BAR, "height": CHART_HEIGHT, "days": CHART_DAYS}


def _detail_ctx(token: ApiToken, *, issued=None, limits_form=None, notice=None, error=None) -> dict:
    now = utcnow()
    chain = services.token_chain(token)
    return {"token": token, "status": token.status(now), "now": now, "chain": chain if len(chain) > 1 else [],
            "chart": _usage_chart(token), "uses": services.recent_usage(token),
            "limits_form": limits_form or LimitsForm.for_token(token), "issued": issued, "notice": notice,
            "error": error, **_rights(token), "live": services.LIVE_STATUSES,
            "grace_minutes": services.token_policy(token.tenant_id).rotation_grace_minutes}


def _rights(token: ApiToken) -> dict:
    """What the viewer may do to this token: change it (revoke, limits: the ceiling's rank rule) and rotate it
    (its owner only), so the page offers only what the services will do."""
    actor = current_actor()
    can_change = can("tokens.revoke") and token_ceiling.may_change(actor, token)
    return {"can_change": can_change, "can_rotate": can_change and token_ceiling.may_rotate(actor, token),
            "outranked": can("tokens.revoke") and not can_change}


def _limits_ctx(token: ApiToken, form: LimitsForm, saved: str | None = None) -> dict:
    return {"token": token, "status": token.status(), "limits_form": form, "saved": saved, **_rights(token),
            "live": services.LIVE_STATUSES}


def _visible(token_id: int) -> ApiToken:
    """A token of this tenant that the user may see (their own; any with tokens.manage); 404 otherwise."""
    return services.get_token(state.tenant, token_id, viewer=current_user._get_current_object(),
                              manage=can("tokens.manage"))


def _detail_url(token_id: int) -> str:
    return url_for("tokens.show_token", slug=state.tenant.slug, token_id=token_id)


# ---------------------------------------------------------------- the list and the create form


@bp.get("/t/<slug>/tokens")
@login_required
@require("tokens.view")
def page(slug: str):
    """The create form and the tokens: one's own, or every token of the tenant with tokens.manage."""
    block = BLOCKS.get(htmx_target())
    if block == "list":
        return render_page(TEMPLATE, "list", **_list_ctx(_filters(request.args)))
    if block == "create":
        return render_page(TEMPLATE, "create", **_create_ctx())
    return render_template(TEMPLATE, **_page_ctx(_filters(request.args)))


@bp.post("/t/<slug>/tokens")
@login_required
@require("tokens.create")
def create_token(slug: str):
    """Create a token for oneself; the answer shows its secret, once."""
    ctx = _create_ctx()

    def before() -> None:
        if ctx["ceiling"] is None:
            raise Forbidden(_("Your role here does not allow API tokens, so you cannot create one."))

    def render(form: CreateTokenForm):
        if is_htmx():
            return render_block(TEMPLATE, "create", **{**ctx, "form": form})
        return render_template(TEMPLATE, **_page_ctx(_filters(request.args), form=form))

    return handle_form(_create_form(ctx["ceiling"], ctx["policy"]), lambda form: services.create_token(
        current_actor(), state.tenant, current_user._get_current_object(), name=form.name.data,
        scope=form.scope.data, expires_in_days=form.expires_in_days.data, no_expiry=bool(form.no_expiry.data),
        rate_limit=form.rate_limit.data, ip_allow=form.ip_allow.data, ip_deny=form.ip_deny.data,
        device_binding=bool(form.device_binding.data),
    ), render=render, done=lambda issued: _reveal(ctx, issued), before=before)


def _reveal(ctx: dict, issued):
    """The answer to a created token: its secret, shown this once, in this response (never a redirect, which
    would have to carry the secret into another request)."""
    state.no_store = True  # the secret is in this response
    if is_htmx():
        message = _("Token “%(name)s” created.", name=issued.token.name)
        html = render_block(TEMPLATE, "create", **{**ctx, "issued": issued})
        # htmx sends the list's filters along (hx-include): the list stays as it is on screen.
        return html + oob("tokens-list", render_block(TEMPLATE, "list", **_list_ctx(
            _filters(request.form), notice=message)))
    return render_template(TEMPLATE, **_page_ctx(_filters(request.args), issued=issued))


# ---------------------------------------------------------------- one token


@bp.get("/t/<slug>/tokens/<id:token_id>")
@login_required
@require("tokens.view")
def show_token(slug: str, token_id: int):
    """One token: its fields, rotation chain, uses per day, recent uses and limits."""
    try:
        usage.flush()  # buffered usage rows: write them now, so the page is current
    except Exception:  # noqa: BLE001 (the rows stay buffered; the page shows what is written)
        log.exception("writing token usage before the token page failed")
    return render_template(DETAIL, **_detail_ctx(_visible(token_id)))


@bp.post("/t/<slug>/tokens/<id:token_id>/revoke")
@login_required
@require("tokens.revoke")
def revoke_token(slug: str, token_id: int):
    """Revoke a token now (after the browser's confirmation), with an optional reason."""
    token = _visible(token_id)
    already = token.revoked_at is not None
    services.revoke_token(current_actor(), token, reason=request.form.get("reason", ""))
    if already:
        message = _("This token was already revoked.")
    elif len(services.token_chain(token)) > 1:
        message = _("Token “%(name)s” revoked, with every older secret of its rotation chain. Requests with them "
                    "are refused from now on.", name=token.name)
    else:
        message = _("Token “%(name)s” revoked. Requests with it are refused from now on.", name=token.name)
    if not is_htmx():
        flash(message, "success")
        return redirect(_detail_url(token.id))
    return render_block(DETAIL, "detail", **_detail_ctx(token, notice=message))


@bp.post("/t/<slug>/tokens/<id:token_id>/rotate")
@login_required
@require("tokens.revoke")
def rotate_token(slug: str, token_id: int):
    """Issue a successor with the same settings; its secret is shown once, here."""
    token = _visible(token_id)
    try:
        issued = services.rotate_token(current_actor(), token)
    except DomainError as exc:  # not the owner, above the ceiling, no longer active: said on the page
        db.session.rollback()
        if not is_htmx():
            flash(exc.detail or str(exc.title), "danger")
            return redirect(_detail_url(token.id))
        return render_block(DETAIL, "detail", **_detail_ctx(token, error=exc.detail or str(exc.title))), exc.status
    state.no_store = True  # the new secret is in this response
    ctx = _detail_ctx(token, issued=issued)
    if is_htmx():
        return render_block(DETAIL, "detail", **ctx)
    return render_template(DETAIL, **ctx)


@bp.post("/t/<slug>/tokens/<id:token_id>/limits")
@login_required
@require("tokens.revoke")
def update_limits(slug: str, token_id: int):
    """Change the rate limit, the IP rules and the device binding of a live token."""
    token = _visible(token_id)

    def render(form: LimitsForm):
        if is_htmx():
            return render_block(DETAIL, "limits", **_limits_ctx(token, form))
        return render_template(DETAIL, **_detail_ctx(token, limits_form=form))

    def saved(_token) -> Saved:
        return Saved(_("Limits saved. They apply from the next request."), _detail_url(token.id) + "#limits-title",
                     htmx=lambda message: render_block(DETAIL, "limits", **_limits_ctx(
                         token, LimitsForm.for_token(token), message)))

    return handle_form(LimitsForm(), lambda form: services.update_limits(
        current_actor(), token, rate_limit=form.rate_limit.data, ip_allow=form.ip_allow.data,
        ip_deny=form.ip_deny.data, device_binding=bool(form.device_binding.data),
    ), render=render, done=saved)
