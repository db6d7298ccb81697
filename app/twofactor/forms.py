"""The second factor's forms. Each field's check is the one of app.twofactor.services (forms, API, commands)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Optional

from app.core.fieldadapters import form_check
from app.core.forms import GuardedForm
from app.twofactor.services import DEVICE_NAME_MAX, check_code, check_device_name

_CODE_ATTRS = {"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false", "maxlength": 64}


class SecondStepForm(FlaskForm):
    """The second step: a code from the app, a recovery code or an emailed code (`method`)."""

    method = HiddenField()
    code = StringField(_l("Code"), validators=[DataRequired(_l("Type the code.")), form_check(check_code)],
                       render_kw=_CODE_ATTRS)
    remember = BooleanField(_l("Remember this browser"))


class ProofMixin:
    """Confirm it's you (the step-up), asked on a sensitive form when the last proof is older than
    TWOFA_REAUTH_MINUTES: the password, or a code from an authenticator app or sent by email."""

    proof = PasswordField(_l("Your password or a code"), validators=[Optional()],
                          render_kw={"autocomplete": "current-password", "maxlength": 1024})


class AddAppForm(ProofMixin, GuardedForm):
    name = StringField(_l("Name of the app or device"),
                       validators=[DataRequired(), form_check(check_device_name)],
                       render_kw={"maxlength": DEVICE_NAME_MAX, "placeholder": _l("Phone")})


class ConfirmAppForm(FlaskForm):
    code = StringField(_l("The 6-digit code the app shows"),
                       validators=[DataRequired(_l("Type the code.")), form_check(check_code)],
                       render_kw=_CODE_ATTRS)


class ProofForm(ProofMixin, GuardedForm):
    """A confirmation that may need the step-up (remove an app, new recovery codes, forget a browser)."""
