"""What the second factor adds to a tenant admin's pages: the "Two-step sign-in" section of tenant settings (which
roles must use it, codes by email), the dashboard card, the panel of a member's page, and the admin's reset of a
member's second factor (asked about first, after a recent step-up). Its own blueprint: the person's own pages
(/auth/2fa, /account/security) are app.twofactor.routes'."""

from __future__ import annotations

from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import BooleanField, PasswordField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from app.core.errors import DomainError, NotFound
from app.core.fieldadapters import form_check
from app.core.forms import GuardedForm, Saved, handle_form
from app.core.mixins import utcnow
from app.core.request_state import state
from app.core.stepup import recently_proved, require_proof
from app.core.ui import (
    DashboardCard,
    DetailPanel,
    SettingsSection,
    can,
    register_card,
    register_detail_panel,
    register_settings_section,
    save_section,
)
from app.core.web import current_actor
from app.permissions.ceiling import may_act_on
from app.permissions.gate import require
from app.twofactor.policy import (
    ROLE_NAMES,
    check_required_roles,
    policy_of,
    reset_of_member,
    reset_target,
    status_of,
    update_twofa_policy,
)
from app.users.admin import member, twofa_summary
from app.users.models import Role

bp = Blueprint("twofactor_admin", __name__)
SECTION = "twofactor/_settings_policy.html"
CONFIRM = "twofactor/member_reset.html"


# -- the settings section --------------------------------------------------------------------------------------------

class TwoFactorPolicyForm(GuardedForm):
    """The tenant's second-factor policy: the roles that must use it, and codes by email."""

    required_roles = SelectMultipleField(_l("Roles that must use a second factor"),
                                         choices=[SelectChoice(name, Role(name).label) for name in ROLE_NAMES],
                                         validators=[form_check(check_required_roles)], validate_choice=False)
    email_codes = BooleanField(_l("Members without an authenticator app may sign in with a code sent by email"))


def _policy_form(tenant, **kwargs) -> TwoFactorPolicyForm:
    policy = policy_of(tenant)
    return TwoFactorPolicyForm(data={"required_roles": policy.required_roles, "email_codes": policy.email_codes},
                               prefix="twofa", **kwargs)


register_settings_section(SettingsSection("twofa", _l("Two-step sign-in"), SECTION, 35,
                                          context=lambda tenant: {"form": _policy_form(tenant, formdata=None)},
                                          permission="settings.manage"))


@bp.post("/t/<slug>/settings/two-step")
@login_required
@require("settings.manage")
def update_policy(slug: str):
    """Save which roles must use a second factor here, and whether codes by email may stand in for an app."""
    tenant = state.tenant
    return save_section(
        "twofa", TwoFactorPolicyForm(prefix="twofa"),
        lambda form: update_twofa_policy(current_actor(), tenant, roles=form.required_roles.data or [],
                                         email_codes=bool(form.email_codes.data)),
        tenant=tenant, message=lambda changed: _saved_message(tenant) if changed else _("Nothing changed."),
    )


def _saved_message(tenant) -> str:
    """Saved; and, when the new policy takes in the admin's own role while they have no app, that it does."""
    text = _("Two-step sign-in policy saved.")
    role = getattr(state.policy, "role", None)
    if (role is not None and role.value in policy_of(tenant).required_roles and not tenant.twofa_email_codes
            and current_user.profile.twofa_enabled_at is None):
        text += " " + _("This includes you: add an authenticator app under Two-step sign-in now, or your next "
                        "sign-in will ask you to before anything else.")
    return text


# -- the dashboard card and the member's panel -----------------------------------------------------------------------

def _card_context(tenant) -> dict:
    return {"summary": twofa_summary(tenant), "required": [Role(r).label for r in policy_of(tenant).required_roles]}


register_card(DashboardCard("twofa", "twofactor/_card.html", 20, context=_card_context, permission="users.view"))


def _panel_context(tenant, user) -> dict:
    """A member's second factor for their page: never a secret; the reset offered to an admin who may act."""
    status = status_of(user)
    return {"twofa": status, "now": utcnow(),
            "may_reset": status.resettable and can("users.manage") and user.id != current_user.id
            and _live_member(tenant, user.id) and may_act_on(current_actor(), tenant.id, user.id)}


def _live_member(tenant, user_id: int) -> bool:
    try:
        member(tenant, user_id, include_removed=False)
    except NotFound:
        return False  # removed: the reset is for members of this tenant
    return True


register_detail_panel(DetailPanel("twofa", "twofactor/_member_panel.html", 10, context=_panel_context,
                                  permission="users.view"))


# -- an admin's reset of a member's second factor --------------------------------------------------------------------

class MemberResetForm(GuardedForm):
    """Confirm a reset; when the admin's sign-in (or last step-up) is not recent, prove it is them first
    (app.core.stepup: the password, an app's code or an emailed step-up code, the one check of every proof)."""

    proof = PasswordField(_l("Your password or a code"), validators=[Optional()],
                          render_kw={"autocomplete": "current-password", "maxlength": 1024})


def _confirm_page(user, membership, form, refusal: str | None = None):
    return render_template(CONFIRM, person=user, membership=membership, form=form, twofa=status_of(user),
                           recent=recently_proved(), refusal=refusal,
                           url=url_for("twofactor_admin.reset_member", slug=state.tenant.slug, user_id=user.id))


@bp.get("/t/<slug>/users/<id:user_id>/2fa/reset")
@login_required
@require("users.manage")
def confirm_member_reset(slug: str, user_id: int):
    """Ask before resetting a member's second factor (and ask the admin to prove themselves when their sign-in
    is not recent)."""
    user, membership = member(state.tenant, user_id, include_removed=False)
    try:  # a reset that would be refused is said before anything is typed, with no button to press
        reset_target(current_actor(), state.tenant, user_id)
        refusal = None
    except DomainError as exc:
        refusal = str(exc)
    return _confirm_page(user, membership, MemberResetForm(formdata=None), refusal)


@bp.post("/t/<slug>/users/<id:user_id>/2fa/reset")
@login_required
@require("users.manage")
def reset_member(slug: str, user_id: int):
    """Remove a member's authenticator apps, recovery codes and remembered browsers, and clear their lock; they
    are told by email and set up a second factor again at their next sign-in (where their role requires it)."""
    form, now = MemberResetForm(), utcnow()
    tenant = state.tenant

    def before() -> None:
        # Refusals that hold whatever was typed come before the password counts: 404, the ceiling, nothing to reset.
        reset_target(current_actor(), tenant, user_id)

    def run(bound):
        require_proof(bound.proof.data)  # a refused proof is a field error; its failure is counted and kept
        return reset_of_member(current_actor(), tenant, user_id, now=now, locale=tenant.default_locale)

    def render(bound):
        user, membership = member(tenant, user_id, include_removed=False)
        return _confirm_page(user, membership, bound)

    def done(result):
        return Saved(_("The two-step sign-in of %(email)s was reset: their authenticator apps and recovery codes "
                       "are gone, and they were told by email.", email=result.email),
                     url_for("users.show", slug=slug, user_id=user_id))

    return handle_form(form, run, render=render, done=done, before=before)

