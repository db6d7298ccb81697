"""Invite forms: a personal invite, a shareable link, a confirmation (revoke, resend, decline), the tenant's
invite settings.

Each field runs its one check (app.invites.models: check_invite_email, check_invite_role, check_ttl_hours,
check_max_uses, check_email_domain, check_daily_limit), the same the API and the commands run, so a form says
every field it can judge alone at once. The role ceiling, the tenant's longest lifetime and the daily limit
depend on the state: the service refuses them (app.invites.services.issue), and the form shows why.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Optional, ValidationError

from app.core.fieldadapters import form_check
from app.core.forms import GuardedForm
from app.invites.models import (
    DAILY_LIMIT_MAX,
    MAX_USES_MAX,
    TTL_MAX_HOURS,
    check_daily_limit,
    check_email_domain,
    check_invite_email,
    check_invite_role,
    check_max_uses,
    check_ttl_hours,
)
from app.users.models import Role


def _number(low: int, high: int) -> dict:
    return {"inputmode": "numeric", "min": low, "max": high}


class _IssueFields(GuardedForm):
    """What a personal invite and a link share: the role (the roles offered are those the actor may grant; the
    service refuses any other) and the lifetime (the tenant's default at first, at most its maximum)."""

    role = SelectField(_l("Role"), validators=[InputRequired(), form_check(check_invite_role)], validate_choice=False)
    ttl_hours = IntegerField(_l("Lifetime (hours)"), validators=[Optional(), form_check(check_ttl_hours)],
                             render_kw=_number(1, TTL_MAX_HOURS))

    def __init__(self, *args, roles: list[Role], ttl_default: int, ttl_max: int, **kwargs):
        kwargs.setdefault("data", {}).setdefault("ttl_hours", min(ttl_default, ttl_max))
        kwargs["data"].setdefault("role", Role.MEMBER.value if Role.MEMBER in roles else None)
        super().__init__(*args, **kwargs)
        self.role.choices = [(role.value, str(role.label)) for role in roles]
        self.ttl_hours.render_kw = _number(1, ttl_max)
        self.ttl_max = ttl_max


class PersonalInviteForm(_IssueFields):
    """A personal invite: one person, optionally bound to an address, optionally sent there by email."""

    email = StringField(_l("Email (optional)"), validators=[Optional(), form_check(check_invite_email)],
                        render_kw={"type": "email", "maxlength": 254, "autocomplete": "off", "spellcheck": "false"})
    send_email = BooleanField(_l("Send the invite to this address by email"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        own = ("email", "role", "ttl_hours", "send_email")  # the page's order, so the error summary's
        self._fields = {name: self._fields[name] for name in (*own, *(k for k in self._fields if k not in own))}

    def validate_send_email(self, field) -> None:
        """Sending needs an address."""
        if field.data and not (self.email.data or "").strip():
            raise ValidationError(_l("Enter the address to send the invite to, or untick this box."))


class LinkForm(_IssueFields):
    """A shareable link: up to N people, optionally only addresses at one domain, optionally held for approval."""

    max_uses = IntegerField(_l("How many people may join by it"),
                            validators=[InputRequired(), form_check(check_max_uses)],
                            render_kw=_number(1, MAX_USES_MAX))
    email_domain = StringField(_l("Only addresses at this domain (optional)"),
                               validators=[Optional(), form_check(check_email_domain)],
                               render_kw={"maxlength": 253, "autocomplete": "off", "spellcheck": "false",
                                          "placeholder": "example.com"})
    needs_approval = BooleanField(_l("An admin approves each person who joins"))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("data", {}).setdefault("max_uses", 10)
        super().__init__(*args, **kwargs)
        own = ("role", "max_uses", "email_domain", "ttl_hours", "needs_approval")
        self._fields = {name: self._fields[name] for name in (*own, *(k for k in self._fields if k not in own))}


class ConfirmForm(GuardedForm):
    """Revoke, resend or renew an invite, approve or decline a join: a button (its CSRF token and nonce)."""


class InviteSettingsForm(GuardedForm):
    """The tenant's invite lifetime (a new invite's, the longest) and daily limit per issuer."""

    invite_ttl_hours = IntegerField(_l("Invite lifetime (hours)"),
                                    validators=[InputRequired(), form_check(check_ttl_hours)],
                                    render_kw=_number(1, TTL_MAX_HOURS))
    invite_max_ttl_hours = IntegerField(_l("Longest lifetime one may ask for (hours)"),
                                        validators=[InputRequired(), form_check(check_ttl_hours)],
                                        render_kw=_number(1, TTL_MAX_HOURS))
    invite_daily_limit = IntegerField(_l("Invites per person per day"),
                                      validators=[InputRequired(), form_check(check_daily_limit)],
                                      render_kw=_number(1, DAILY_LIMIT_MAX))
