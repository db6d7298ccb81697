"""What the token pages render: the contexts of the list, the create form, one token's page and the
confirmation pages, built from the request's tenant and viewer (the routes stay thin: parse, act, answer)."""

from __future__ import annotations

from flask import url_for
from flask_babel import format_date
from flask_login import current_user

from app.core import formnonce
from app.core.errors import NotFound
from app.core.fields import valid_or_none
from app.core.inputs import parse_id, parse_page, parse_text
from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.stepup import recently_proved
from app.core.web import current_actor
from app.permissions.gate import can, check
from app.tokens import ceiling as token_ceiling
from app.tokens import reports, services
from app.tokens.forms import CreateTokenForm, LimitsForm, RevokeForm, RotateForm
from app.tokens.models import ApiToken, Scope, check_token_status
from app.users import services as user_services

PER_PAGE = 20
EXPIRING_CHOICES = (7, 30)
CHART_DAYS, BAR, CHART_HEIGHT = 30, 10, 100


# ---------------------------------------------------------------- parsing (anything odd is ignored)


def filters_of(source) -> dict:
    """The list's filters, sort and page, from a query string (or the create form, which sends them along)."""
    status, scope, expiring = source.get("status"), source.get("scope"), parse_id(source.get("expiring"))
    sort = source.get("sort")
    return {
        "q": parse_text(source.get("q")) or None,
        "status": valid_or_none(check_token_status, status),  # the API's and the command's check
        "scope": scope if scope in {s.value for s in Scope} else None,
        "owner": parse_id(source.get("owner")),
        "expiring": expiring if expiring in EXPIRING_CHOICES else None,
        "sort": sort if sort in services.SORTS and sort != "newest" else None,
        "page": parse_page(source.get("page")),
    }


def list_args(filters: dict) -> dict:
    """The filters worth keeping in a URL (the page's own, the pager's, a redirect's)."""
    manage = can("tokens.manage")
    return {k: v for k, v in filters.items() if v and k != "page" and (manage or k != "owner")}


# ---------------------------------------------------------------- the list and the create form


def list_ctx(filters: dict, notice: str | None = None) -> dict:
    """One page of tokens (a rotation chain is one entry) with what the viewer may do to each."""
    manage = can("tokens.manage")  # without it, only one's own tokens, whatever the URL says
    query = {"owner_id": filters["owner"] if manage else current_user.id, "status": filters["status"],
             "scope": filters["scope"], "search": filters["q"], "expiring_within_days": filters["expiring"]}
    tokens = services.list_tokens(state.tenant, **query, page=filters["page"], per_page=PER_PAGE, clamp=True,
                                  sort=filters["sort"] or "newest", heads_only=True)
    actor, may_revoke = current_actor(), can("tokens.revoke")
    rights = {t.id: (may_revoke and token_ceiling.may_change(actor, t), token_ceiling.may_rotate(actor, t))
              for t in tokens.items}
    return {"tokens": tokens, "args": list_args(filters), "manage": manage, "now": utcnow(), "notice": notice,
            "chains": reports.chain_lengths(tokens.items), "rights": rights}


def create_form(ceiling, policy, **kwargs) -> CreateTokenForm:
    """The create form under the tenant's policy (its lifetimes show the day they end)."""
    return CreateTokenForm(prefix="new", ceiling=ceiling, policy=policy, now=utcnow(),
                           time_zone=state.tenant.timezone, **kwargs)


def create_ctx(form: CreateTokenForm | None = None, issued=None, focus: bool = False) -> dict:
    """The create form (or the one-time reveal), and why the viewer cannot create a token when they cannot."""
    ceiling = token_ceiling.highest_scope(current_user, state.tenant)
    policy = services.token_policy(state.tenant.id)
    if form is None:
        form = create_form(ceiling, policy, formdata=None)
    if focus:  # back from the one-time reveal: the keyboard lands on the form's first field
        form.name.render_kw = {**(form.name.render_kw or {}), "autofocus": True}
    decision = check("tokens.create")
    refusal = None if decision.allowed else decision.reason
    if refusal is None and ceiling is None:
        refusal = check("api.read").reason  # no token scope at all
    return {"form": form, "issued": issued, "ceiling": ceiling, "policy": policy, "can_create": decision.allowed,
            "refusal": refusal, "ask": reports.who_to_ask(state.tenant) if refusal else [], "focus": focus,
            "ask_proof": ceiling is not None and ceiling.covers(Scope.ADMIN) and not recently_proved()}


def page_ctx(filters: dict, **create) -> dict:
    """The whole list page."""
    manage = can("tokens.manage")
    members = user_services.members(state.tenant) if manage else []
    return {**list_ctx(filters), **create_ctx(**create), "filters": filters, "members": members,
            "sorts": services.SORTS}


def find_visible(token_id) -> ApiToken | None:
    """A token the viewer may see, or None."""
    try:
        return visible(int(token_id))
    except (NotFound, TypeError, ValueError):
        return None


def visible(token_id: int) -> ApiToken:
    """A token of this tenant that the user may see (their own; any with tokens.manage); 404 otherwise."""
    return services.get_token(state.tenant, token_id, viewer=current_user._get_current_object(),
                              manage=can("tokens.manage"))


def detail_url(token_id: int, **args) -> str:
    return url_for("tokens.show_token", slug=state.tenant.slug, token_id=token_id, **args)


def list_url(**args) -> str:
    return url_for("tokens.page", slug=state.tenant.slug, **args)


# ---------------------------------------------------------------- one token


def usage_chart(token: ApiToken) -> dict:
    """Accepted and refused requests per day (the tenant's days), as side-by-side bars on a labelled scale,
    and the same figures as a table."""
    series = reports.daily_usage(token, CHART_DAYS, state.tenant.timezone)
    peak = max((max(d.ok, d.refused) for d in series), default=0)
    top = scale_top(peak)

    def height(n: int) -> float:
        return max(1.5, round(n / top * CHART_HEIGHT, 1)) if n else 0

    half = BAR // 2
    bars = [{"label": format_date(d.day, "medium"), "ok": d.ok, "refused": d.refused, "x": i * BAR,
             "ok_x": i * BAR + 1, "refused_x": i * BAR + half, "width": half - 1,
             "ok_height": height(d.ok), "refused_height": height(d.refused)}
            for i, d in enumerate(series)]
    ticks = [top, top // 2, 0] if top % 2 == 0 else [top, 0]
    return {"bars": bars, "ok": sum(d.ok for d in series), "refused": sum(d.refused for d in series),
            "peak": peak, "top": top, "ticks": ticks,
            "lines": [CHART_HEIGHT - round(t / top * CHART_HEIGHT, 1) for t in ticks],
            "width": len(bars) * BAR, "height": CHART_HEIGHT, "days": CHART_DAYS,
            "middle": bars[len(bars) // 2]["label"], "zone": state.tenant.timezone}


def scale_top(peak: int) -> int:
    """The top of the chart's scale: the peak rounded up to 1, 2 or 5 times a power of ten (at least 2, so
    the middle line is a whole number)."""
    power = 1
    while True:
        for step in (2, 5, 10):
            if step * power >= peak:
                return step * power
        power *= 10


def rights(token: ApiToken) -> dict:
    """What the viewer may do to this token: change it (revoke, limits: the ceiling's rank rule) and rotate it
    (its owner only), so the page offers only what the services will do."""
    actor = current_actor()
    can_change = can("tokens.revoke") and token_ceiling.may_change(actor, token)
    return {"can_change": can_change, "can_rotate": can_change and token_ceiling.may_rotate(actor, token),
            "outranked": can("tokens.revoke") and not can_change}


def detail_ctx(token: ApiToken, *, issued=None, limits_form=None, notice=None, revoke_form=None,
               rotate_form=None, focus: bool = False) -> dict:
    """One token's page."""
    now = utcnow()
    chain = services.token_chain(token)
    return {"token": token, "status": token.status(now), "now": now, "chain": chain if len(chain) > 1 else [],
            "chart": usage_chart(token), "uses": services.recent_usage(token),
            "limits_form": limits_form or LimitsForm.for_token(token), "issued": issued, "notice": notice,
            "revoke_form": revoke_form or RevokeForm(formdata=None), "rotate_form": rotate_form or
            RotateForm(formdata=None), "focus": focus, **rights(token), "live": services.LIVE_STATUSES,
            # the one-time nonces htmx sends with the page's revoke and rotate (their forms are GETs to the
            # pages that ask, for browsers without JavaScript, so they carry no hidden POST fields)
            "nonces": {"rotate": formnonce.issue(), "revoke": formnonce.issue()},
            "grace_minutes": services.token_policy(token.tenant_id).rotation_grace_minutes}


def limits_ctx(token: ApiToken, form: LimitsForm, saved: str | None = None) -> dict:
    return {"token": token, "status": token.status(), "limits_form": form, "saved": saved, **rights(token),
            "live": services.LIVE_STATUSES}


def confirm_ctx(token: ApiToken, action: str, form, *, back: str | None = None, keep: dict | None = None) -> dict:
    """The page that asks before revoking or rotating (what runs without JavaScript). `keep`: the list's filters
    and sort when it was asked from the list, to go back to the list as it was."""
    keep = keep or {}
    return {"token": token, "status": token.status(), "action": action, "form": form, "back": back, "keep": keep,
            "cancel_url": list_url(**keep) if back == "list" else detail_url(token.id), **rights(token),
            "chain": len(services.token_chain(token)),
            "grace_minutes": services.token_policy(token.tenant_id).rotation_grace_minutes}
