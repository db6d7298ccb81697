"""Permission pages: members and their effective matrix, the rules (list, add), "why?" and "check as".

Everything lives in one template, permissions/page.html; htmx requests get one of its blocks (the one
their HX-Target names), the page's other parts stay as they are. Changing and removing one rule have their own
pages (app/permissions/rule_pages.py): they work, and confirm, without JavaScript.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from werkzeug.datastructures import MultiDict

from app.core import formnonce
from app.core.errors import NotFound, ValidationFailed
from app.core.forms import Saved, handle_form, show_error
from app.core.htmx import htmx_target, is_htmx, oob, render_page
from app.core.inputs import parse_id, parse_page, parse_text
from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.ui import DashboardCard, NavItem, register_card, register_nav
from app.core.web import current_actor
from app.permissions import bp, catalogue, services
from app.permissions.forms import CheckForm, RuleForm
from app.permissions.gate import can, require
from app.permissions.models import Effect
from app.users import services as user_services

TEMPLATE = "permissions/page.html"
PER_PAGE = 25
# htmx's HX-Target (the element it swaps into) -> the block of the page that fills it
BLOCKS = {"perm-members-list": "members", "perm-rules-list": "rules"}

register_nav(NavItem("permissions", _l("Permissions"), "permissions.page", 500, permission="permissions.view"))
register_card(DashboardCard("permissions", "permissions/_card.html", 30,
                            context=lambda tenant: {"counts": services.rule_counts(tenant)},
                            permission="permissions.view"))


# ---------------------------------------------------------------- parsing (anything odd is ignored)


def _rule_filters(source: MultiDict) -> dict:
    """The rules list's filters and page, from a query string."""
    effect, module = source.get("rules_effect"), source.get("rules_module")
    return {
        "rules_user": parse_id(source.get("rules_user")),
        "rules_effect": effect if effect in {e.value for e in Effect} else None,
        "rules_module": module if module in catalogue.modules() else None,
        "rules_q": parse_text(source.get("rules_q")) or None,
        "rules_page": parse_page(source.get("rules_page")),
    }


def page_state(source: MultiDict) -> dict:
    """What the page shows (member, filters, pages), as URL arguments, to come back to after a change."""
    keep = ("user", "members_q", "members_page", "rules_user", "rules_effect", "rules_module", "rules_q",
            "rules_page")
    return {k: source.get(k) for k in keep if source.get(k)}


def _selected(members, user_id: int | None):
    """The (user, membership) shown in the matrix; a user who is not a member here is not found."""
    if user_id is None:
        return None
    for user, membership in members:
        if user.id == user_id:
            return user, membership
    raise NotFound()


# ---------------------------------------------------------------- block contexts


def _members_ctx(source: MultiDict, selected) -> dict:
    query = parse_text(source.get("members_q")).lower()
    page = user_services.member_page(state.tenant, search=query or None, page=parse_page(source.get("members_page")),
                                     per_page=PER_PAGE, clamp=True)
    args = {"members_q": query or None, "user": selected[0].id if selected else None}
    return {"members_page": page, "members_q": query, "members_args": {k: v for k, v in args.items() if v},
            "selected": selected}


def _matrix_ctx(selected) -> dict:
    rows: dict[str, list] = {}
    if selected:
        for action, decision in services.effective_matrix(selected[0], state.tenant):
            rows.setdefault(action.module, []).append((action, decision))
    return {"selected": selected, "matrix": list(rows.items())}


def _rules_ctx(filters: dict, selected, notice: str | None = None, problems: list[str] | None = None) -> dict:
    query = {"user_id": filters["rules_user"], "effect": filters["rules_effect"],
             "module": filters["rules_module"], "search": filters["rules_q"]}
    # past the end (after a removal): the last page
    page = services.list_rules(state.tenant, **query, page=filters["rules_page"], per_page=PER_PAGE, clamp=True)
    args = {k: v for k, v in filters.items() if v and k != "rules_page"}
    if selected:
        args["user"] = selected[0].id
    can_manage, actor = can("permissions.manage"), current_actor()
    removable = {rule.id for rule in page.items if can_manage and services.may_remove(actor, state.tenant, rule)}
    editable = {rule.id for rule in page.items if can_manage and services.may_edit(actor, state.tenant, rule)}
    return {"rules": page, "rule_args": args, "notice": notice, "now": utcnow(), "selected": selected,
            "can_manage": can_manage, "removable": removable, "editable": editable, "problems": problems,
            # "Remove" posts from the list with htmx: each carries the one-time nonce the confirmation page's form has
            "remove_nonce": lambda: {formnonce.FIELD: formnonce.issue()}}


def _rule_form(members, selected) -> RuleForm:
    return RuleForm(formdata=None, members=members, data={"user_id": str(selected[0].id) if selected else ""})


def _check_form(members, selected) -> CheckForm:
    return CheckForm(formdata=None, members=members, data={"user_id": str(selected[0].id) if selected else ""})


def _full_ctx(members, source: MultiDict, selected, **parts) -> dict:
    ctx = {"members": members, "modules": catalogue.modules(),
           **_members_ctx(source, selected), **_matrix_ctx(selected),
           **_rules_ctx(_rule_filters(source), selected),
           "rule_form": _rule_form(members, selected), "check_form": _check_form(members, selected),
           "explanation": None, "explain_errors": []}
    ctx.update(parts)
    return ctx


# ---------------------------------------------------------------- the page


@bp.get("/t/<slug>/permissions")
@login_required
@require("permissions.view")
def page(slug: str):
    """Members, the chosen member's effective matrix, the rules, the forms to add a rule and to check."""
    members = user_services.members(state.tenant)
    selected = _selected(members, parse_id(request.args.get("user")))
    block = BLOCKS.get(htmx_target())
    if block == "members":
        return render_page(TEMPLATE, block, **_members_ctx(request.args, selected))
    if block == "rules":
        return render_page(TEMPLATE, block, **_rules_ctx(_rule_filters(request.args), selected))
    return render_template(TEMPLATE, **_full_ctx(members, request.args, selected))


# ---------------------------------------------------------------- rules


@bp.post("/t/<slug>/permissions/rules")
@login_required
@require("permissions.manage")
def create_rule(slug: str):
    """Add a rule; htmx gets the form back (fresh, or with its errors), the rules list and the matrix."""
    tenant = state.tenant
    members = user_services.members(tenant)
    selected = _selected_or_none(members, request.args.get("user"))

    def render(form: RuleForm):
        if is_htmx():
            return render_block(TEMPLATE, "rule_form", rule_form=form, selected=selected)
        return render_template(TEMPLATE, **_full_ctx(members, request.args, selected, rule_form=form))

    def saved(rule) -> Saved:
        effect = _("Allow") if rule.effect == Effect.ALLOW else _("Deny")
        message = _("Rule #%(id)d added: %(effect)s %(target)s for %(email)s.", id=rule.id, effect=effect,
                    target=rule.target, email=rule.user.email)
        to = url_for("permissions.page", slug=slug, **{**page_state(request.args), "user": rule.user_id})
        return Saved(message, to, htmx=lambda text: _rule_added(members, selected, text))

    # Every refusal (the ceiling's included) is said on the form; the scope field is shown to operators only,
    # so for anyone else its refusal is said above the form.
    return handle_form(RuleForm(members=members, timezone=tenant.timezone), lambda form: services.create_rule(
        current_actor(), tenant, user_id=int(form.user_id.data), effect=form.effect.data, target=form.target.data,
        resource=form.resource.data or None, expires_at=form.expires_at_utc(tenant.timezone),
        reason=form.reason.data, scope=form.scope.data or "tenant",
    ), render=render, done=saved, hidden=() if current_user.is_operator else ("scope",))


@bp.get("/t/<slug>/permissions/rules")
@login_required
@require("permissions.view")
def rules_address(slug: str):
    """The address a browser without JavaScript shows after a refused "add rule" (the form answered where it was
    posted): reloading or opening it lands on the permissions page as it was, not on "405 Method Not Allowed"."""
    return redirect(url_for("permissions.page", slug=slug, **page_state(request.args)))


def _rule_added(members, selected, message: str) -> str:
    html = render_block(TEMPLATE, "rule_form", rule_form=_rule_form(members, selected), saved=message,
                        selected=selected)
    # htmx sends the rules filters along (hx-include): the list stays filtered as it is on screen.
    html += oob("perm-rules-list", render_block(TEMPLATE, "rules", **_rules_ctx(_rule_filters(request.form),
                                                                                   selected)))
    if selected:
        html += oob("perm-matrix", render_block(TEMPLATE, "matrix", **_matrix_ctx(selected)))
    return html


def rules_changed(args: MultiDict, message: str | None = None, problems: list[str] | None = None) -> str:
    """What htmx gets after a rule was changed or removed from the list: the list (as filtered on screen, with
    `message` or `problems`), and the matrix of the member shown, as it now is."""
    selected = _selected_or_none(user_services.members(state.tenant), args.get("user"))
    html = render_block(TEMPLATE, "rules", **_rules_ctx(_rule_filters(args), selected, notice=message,
                                                         problems=problems))
    if selected:
        html += oob("perm-matrix", render_block(TEMPLATE, "matrix", **_matrix_ctx(selected)))
    return html


def _selected_or_none(members, value):
    # After a change the matrix on screen is refreshed; a member who left meanwhile is simply not shown.
    try:
        return _selected(members, parse_id(value))
    except NotFound:
        return None


# ---------------------------------------------------------------- why? and check as


@bp.get("/t/<slug>/permissions/why")
@login_required
@require("permissions.view")
def explain_decision(slug: str):
    """Why one member is allowed or denied one action (the matrix's "why?" links)."""
    args = request.args
    formdata = MultiDict({"check-user_id": args.get("user", ""), "check-action": args.get("action", ""),
                          "check-resource": args.get("resource", "")})
    return _explain(formdata)


@bp.get("/t/<slug>/permissions/check")
@login_required
@require("permissions.view")
def check_access(slug: str):
    """The "check as" form: what the resolver decides for a member, an action and a resource."""
    return _explain(request.args)


def _explain(formdata: MultiDict):
    members = user_services.members(state.tenant)
    form = CheckForm(formdata=formdata, members=members)
    explanation, selected = None, None
    valid = form.validate()
    if not form.user_id.errors:  # an id was given: it must be a member's here (said with any other refusal)
        try:
            selected = _selected(members, int(form.user_id.data))
        except NotFound:
            form.user_id.errors.append(_("Choose a member of this tenant."))
    if valid and selected:
        try:
            decision = services.explain(selected[0], state.tenant, form.action.data, form.resource.data or None)
        except ValidationFailed as exc:
            show_error(form, exc)
        else:
            explanation = {"user": selected[0], "key": form.action.data, "resource": form.resource.data or None,
                           "decision": decision}
    # every refusal at once, each naming (and linking to) its field
    errors = [{"label": f.label.text, "id": f.id, "message": e} for f in form for e in f.errors]
    errors += [{"label": None, "id": None, "message": e} for e in form.form_errors]
    status = 422 if errors else 200
    if is_htmx():
        html = render_block(TEMPLATE, "why", explanation=explanation, explain_errors=errors)
        html += oob("perm-check-form", render_block(TEMPLATE, "check_form", check_form=form))
        return html, status
    ctx = _full_ctx(members, MultiDict({"user": selected[0].id} if selected else {}), selected,
                    check_form=form, explanation=explanation, explain_errors=errors)
    return render_template(TEMPLATE, **ctx), status


from app.permissions import rule_pages  # noqa: E402, F401  (its views join the blueprint, as this module's do)
