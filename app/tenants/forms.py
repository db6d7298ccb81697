"""Tenant settings form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.core.i18n import LOCALES


class GeneralSettingsForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    timezone = SelectField(_l("Time zone"), validators=[DataRequired()])
    default_locale = SelectField(_l("Default language"),
                                 choices=[SelectChoice(code, label) for code, label in LOCALES.items()],
                                 validators=[DataRequired()])

    def __init__(self, *args, timezones: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [SelectChoice(tz) for tz in timezones]
