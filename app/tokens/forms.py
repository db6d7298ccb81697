"""Token forms: create a token, edit its limits, the tenant's token policy.

The services check every value (ranges, CIDRs, the owner's highest scope, the tenant's policy) with
messages that say what is wrong; these forms parse the input, offer the valid choices, and run the fields'
own checks (the name, the IP rules, the rate limit, the policy's ranges: app.core.fields and tokens.models), the
same the API and the commands run, so a form reports every field it can judge alone at once. What depends on
other fields or on the state (the default lifetime up to the longest, the owner's scope) is the services'.
"""

from __future__ import annotations

from datetime import timedelta

from flask_babel import format_date, ngettext
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Optional, ValidationError

from app.core.fieldadapters import form_check
from app.core.fields import FieldInvalid, check_cidrs, check_optional_reason
from app.core.forms import GuardedForm
from app.tokens import expiry
from app.tokens.models import Scope, check_grace_minutes, check_max_days, check_rate_limit, check_token_name

SCOPE_LABELS = {
    Scope.READ: _l("read: look, change nothing"),
    Scope.WRITE: _l("write: read and change"),
    Scope.ADMIN: _l("admin: everything its owner may do"),
}
CIDR_HELP = _l("One IP address or CIDR range per line, IPv4 or IPv6 (e.g. 203.0.113.0/24).")


def _number(**attrs) -> dict:
    return {"inputmode": "numeric", **attrs}


class LimitsFields:
    """Rate limit, IP rules and device binding: set at creation, changed later on the token's page."""

    rate_limit = IntegerField(_l("Rate limit (requests per minute)"),
                              validators=[Optional(), form_check(check_rate_limit)],
                              render_kw=_number(min=1, max=100_000))
    ip_allow = TextAreaField(_l("Allowed from"), validators=[Optional(), form_check(check_cidrs)],
                             render_kw={"rows": 3, "spellcheck": "false", "autocomplete": "off"})
    ip_deny = TextAreaField(_l("Never from"), validators=[Optional(), form_check(check_cidrs)],
                            render_kw={"rows": 3, "spellcheck": "false", "autocomplete": "off"})
    device_binding = BooleanField(_l("Bind to the first client that uses it"))


def _lifetime_label(choice: expiry.Choice, default_days: int) -> str:
    if choice.value == expiry.CUSTOM:
        return str(_l("A day of my choice"))
    if choice.value == expiry.NEVER:
        return str(_l("Never (not recommended)"))
    text = ngettext("%(num)d day, until %(day)s", "%(num)d days, until %(day)s", choice.days,
                    day=format_date(choice.ends, "medium"))
    return str(_l("%(choice)s (this tenant's default)", choice=text)) if choice.days == default_days else text


class CreateTokenForm(LimitsFields, GuardedForm):
    """A new token for the signed-in user, with a scope up to their own highest one, and a lifetime chosen
    among presets (each showing the day it ends), a day of one's own, or never where the policy allows it."""

    name = StringField(_l("Name"), validators=[DataRequired(), form_check(check_token_name)],
                       render_kw={"maxlength": 100, "autocomplete": "off"})
    scope = SelectField(_l("Scope"), validators=[DataRequired()], validate_choice=False)
    expires = SelectField(_l("Expiration"))
    expires_on = StringField(_l("Expiry day (with “A day of my choice”)"), render_kw={"type": "date"})
    #: the step-up an admin-scope token asks for when the last proof is old (app.core.stepup)
    proof = PasswordField(_l("Your password or a code"), validators=[Optional()],
                          render_kw={"autocomplete": "current-password", "maxlength": 1024})

    def __init__(self, *args, ceiling: Scope | None, policy, now, time_zone: str | None, **kwargs):
        kwargs.setdefault("data", {}).setdefault("expires", str(policy.default_days))
        super().__init__(*args, **kwargs)
        offered = [s for s in Scope if ceiling is not None and ceiling.covers(s)]
        self.scope.choices = [SelectChoice(s.value, str(SCOPE_LABELS[s])) for s in offered]
        self.lifetimes = expiry.choices(now=now, default_days=policy.default_days, max_days=policy.max_days,
                                        allow_never=policy.allow_no_expiry)
        self.expires.choices = [(c.value, _lifetime_label(c, policy.default_days)) for c in self.lifetimes]
        self.today, self.max_days = expiry.local_today(now, time_zone), policy.max_days
        self.last_day = self.today + timedelta(days=policy.max_days)
        self.expires_on.render_kw = {"type": "date", "min": (self.today + timedelta(days=1)).isoformat(),
                                     "max": self.last_day.isoformat()}
        # WTForms orders fields by creation, which puts the shared limits first; the page, and so the error
        # summary, show the token's own fields first
        own = ("name", "scope", "expires", "expires_on")
        self._fields = {name: self._fields[name] for name in (*own, *(k for k in self._fields if k not in own))}

    def validate_expires_on(self, field) -> None:
        """A custom day is needed with "a day of my choice", and checked as the service checks it."""
        if self.expires.data != expiry.CUSTOM:
            return
        try:
            expiry.check_expiry_date(field.data, self.today, self.max_days)
        except FieldInvalid as exc:
            raise ValidationError(exc.message) from None

    def lifetime(self) -> dict:
        """The service's lifetime arguments for what was chosen."""
        if self.expires.data == expiry.NEVER:
            return {"no_expiry": True}
        if self.expires.data == expiry.CUSTOM:
            return {"expires_on": self.expires_on.data}
        return {"expires_in_days": int(self.expires.data)}

    def last_day_text(self) -> str:
        """The last day a custom expiry may be, as the help text says it."""
        return format_date(self.last_day, "medium")


class RevokeForm(GuardedForm):
    """Revoke a token (the confirmation page, the token's page, a row of the list)."""

    reason = StringField(_l("Reason (optional)"), validators=[Optional(), form_check(check_optional_reason)],
                         id="revoke-reason", render_kw={"maxlength": 500, "autocomplete": "off"})
    #: where the person came from: "list" sends them back to the list, anything else to the token's page
    back = HiddenField()


class RotateForm(GuardedForm):
    """Rotate a token (the confirmation page, the token's page)."""

    back = HiddenField()


class LimitsForm(LimitsFields, GuardedForm):
    """The limits of an existing token."""

    @classmethod
    def for_token(cls, token, **kwargs) -> LimitsForm:
        """The form filled with the token's stored limits."""
        data = {"rate_limit": token.rate_limit, "ip_allow": "\n".join(token.ip_allow or []),
                "ip_deny": "\n".join(token.ip_deny or []), "device_binding": token.device_binding}
        return cls(formdata=None, data=data, **kwargs)


class TokenPolicyForm(GuardedForm):
    """The tenant's rules for new tokens and rotations."""

    default_days = IntegerField(_l("Default lifetime (days)"), validators=[InputRequired()],
                                render_kw=_number(min=1, max=3650))
    max_days = IntegerField(_l("Longest lifetime (days)"), validators=[InputRequired(), form_check(check_max_days)],
                            render_kw=_number(min=1, max=3650))
    allow_no_expiry = BooleanField(_l("Allow tokens that never expire"))
    rotation_grace_minutes = IntegerField(_l("Rotation grace period (minutes)"),
                                          validators=[InputRequired(), form_check(check_grace_minutes)],
                                          render_kw=_number(min=0, max=10080))

    def validate_default_days(self, field) -> None:
        """Up to the longest lifetime, reported with every other field (the service checks it again)."""
        try:
            longest = check_max_days(self.max_days.data)
        except FieldInvalid:
            longest = None  # said on its own field
        try:
            expiry.check_default_days(field.data, longest)
        except FieldInvalid as exc:
            raise ValidationError(exc.message) from None
