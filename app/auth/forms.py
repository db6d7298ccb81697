"""Sign-in form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from app.core.fieldadapters import form_check
from app.core.fields import check_email, check_password
from app.core.forms import GuardedForm


class LoginForm(FlaskForm):
    # The one email check (app.core.fields): an address no account can have is refused before any query.
    email = EmailField(_l("Email"), validators=[DataRequired(), form_check(check_email)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})


class ForgotForm(GuardedForm):
    """Ask for a password-reset link."""

    email = EmailField(_l("Email"), validators=[DataRequired(), form_check(check_email)],
                       render_kw={"autocomplete": "username"})


class NewPasswordForm(GuardedForm):
    """Choose a new password (twice), through a reset link."""

    password = PasswordField(_l("New password"), validators=[DataRequired(), form_check(check_password,
                                                                                          normalise=False)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})
