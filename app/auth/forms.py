"""Sign-in form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from app.core.fieldadapters import form_check
from app.core.fields import check_email


class LoginForm(FlaskForm):
    # The one email check (app.core.fields): an address no account can have is refused before any query.
    email = EmailField(_l("Email"), validators=[DataRequired(), form_check(check_email)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
