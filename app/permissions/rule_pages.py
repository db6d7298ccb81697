"""One rule's own pages: change its reason and expiry, and remove it after a confirmation.

Both work without JavaScript: the list's "Edit" and "Remove" are links to these pages (a GET shows the form, or
the "are you sure?" with the button that removes). With htmx, "Remove" asks the browser's confirmation and posts
from the list, which comes back (with the matrix) in place. Every POST goes through the form helper: one-time
nonce, every error at once, post/redirect/get. The page's state (member shown, filters, pages) rides along in
the query string, so one comes back to the list as one left it.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from app.core.forms import Saved, handle_form
from app.core.htmx import is_htmx
from app.core.request_state import state
from app.core.web import current_actor
from app.permissions import bp, services
from app.permissions.forms import EditRuleForm, RemoveRuleForm
from app.permissions.gate import require
from app.permissions.routes import page_state, rules_changed

EDIT_TEMPLATE = "permissions/edit.html"
REMOVE_TEMPLATE = "permissions/remove.html"


def _back(slug: str, rule_id: int | None = None) -> str:
    """The permissions page as it was left (at the rule's row, when given)."""
    return url_for("permissions.page", slug=slug, **page_state(request.args),
                   _anchor=f"rule-{rule_id}" if rule_id else None)


def local_wall_clock(moment: datetime | None, time_zone: str) -> datetime | None:
    """A stored moment as the tenant's clock shows it, to the minute, without a zone (a datetime-local's value)."""
    if moment is None:
        return None
    try:
        zone = zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return moment.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)


# ---------------------------------------------------------------- change a rule


# One endpoint per URL for GET and POST: with two, Werkzeug answers 405 instead of 404 for an id past the column's
# range on the method the other one has.


@bp.route("/t/<slug>/permissions/rules/<id:rule_id>/edit", methods=["GET", "POST"])
@login_required
@require("permissions.manage")
def edit_rule(slug: str, rule_id: int):
    """GET: the form to change a rule's reason and expiry (for a rule one may change). POST: save them; back to the
    list, at the rule, with what was done."""
    tenant, actor = state.tenant, current_actor()
    if request.method == "GET":
        rule = services.rule_to_edit(actor, tenant, rule_id)
        form = EditRuleForm(formdata=None, timezone=tenant.timezone, data={
            "reason": rule.reason, "expires_at": local_wall_clock(rule.expires_at, tenant.timezone)})
        return render_template(EDIT_TEMPLATE, rule=rule, form=form, back=_back(slug, rule.id))
    form = EditRuleForm(timezone=tenant.timezone)
    found = {}

    def before() -> None:  # 404 or 403 whatever was typed; an expiry sent back unchanged is kept, even past
        found["rule"] = rule = services.rule_to_edit(actor, tenant, rule_id)
        form.stored_expiry = local_wall_clock(rule.expires_at, tenant.timezone)

    def render(bound: EditRuleForm) -> str:
        return render_template(EDIT_TEMPLATE, rule=found.get("rule"), form=bound, back=_back(slug, rule_id))

    def saved(result) -> Saved:
        rule, changes = result
        message = _("Rule #%(id)d changed.", id=rule.id) if changes else _("Nothing changed.")
        return Saved(message, _back(slug, rule.id))

    return handle_form(form, lambda bound: services.update_rule(
        actor, tenant, rule_id, reason=bound.reason.data, expires_at=bound.expires_at_utc(tenant.timezone),
    ), before=before, render=render, done=saved)


# ---------------------------------------------------------------- remove a rule


@bp.route("/t/<slug>/permissions/rules/<id:rule_id>/delete", methods=["GET", "POST"])
@login_required
@require("permissions.manage")
def delete_rule(slug: str, rule_id: int):
    """GET: are you sure? The rule, what removing it does, and the button that removes it (the no-JavaScript way).
    POST: remove it (confirmed on that page, or by the browser's dialog); htmx gets the list and the matrix back."""
    tenant = state.tenant
    if request.method == "GET":
        rule = services.rule_to_remove(current_actor(), tenant, rule_id)
        return render_template(REMOVE_TEMPLATE, rule=rule, form=RemoveRuleForm(formdata=None),
                               back=_back(slug, rule.id))

    def render(form: RemoveRuleForm):
        problems = [str(e) for e in form.form_errors]
        if is_htmx():
            return rules_changed(request.args, problems=problems)
        return render_template(REMOVE_TEMPLATE, rule=None, form=form, back=_back(slug))

    def removed(rule) -> Saved:
        message = _("Rule #%(id)d removed.", id=rule.id)
        return Saved(message, _back(slug), htmx=lambda text: rules_changed(request.args, text))

    # the form has no fields: every refusal (404, the ceiling's 403, a second send's 409) is said above it
    return handle_form(RemoveRuleForm(), lambda form: services.delete_rule(current_actor(), tenant, rule_id),
                       render=render, done=removed)
