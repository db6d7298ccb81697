"""Token forms: create a token, edit its limits, the tenant's token policy.

The services check every value (ranges, CIDRs, the owner's highest scope, the tenant's policy) with
messages that say what is wrong; these forms parse the input, offer the valid choices, and run the fields'
own checks (the name, the IP rules, the rate limit, the policy's ranges: app.core.fields and tokens.models), the
same the API and the commands run, so a form reports every field it can judge alone at once. What depends on
other fields or on the state (the default lifetime up to the longest, the owner's scope) is the services'.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Optional

from app.core.fieldadapters import form_check
from app.core.fields import check_cidrs
from app.core.forms import GuardedForm
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


class CreateTokenForm(LimitsFields, GuardedForm):
    """A new token for the signed-in user, with a scope up to their own highest one."""

    name = StringField(_l("Name"), validators=[DataRequired(), form_check(check_token_name)],
                       render_kw={"maxlength": 100, "autocomplete": "off"})
    scope = SelectField(_l("Scope"), validators=[DataRequired()], validate_choice=False)
    expires_in_days = IntegerField(_l("Expires in (days)"), validators=[Optional()], render_kw=_number(min=1))
    no_expiry = BooleanField(_l("Never expires"))

    def __init__(self, *args, ceiling: Scope | None, max_days: int, **kwargs):
        super().__init__(*args, **kwargs)
        offered = [s for s in Scope if ceiling is not None and ceiling.covers(s)]
        self.scope.choices = [SelectChoice(s.value, str(SCOPE_LABELS[s])) for s in offered]
        self.expires_in_days.render_kw = _number(min=1, max=max_days)


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
