"""Tenant settings form."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired

from app.core.fieldadapters import form_check
from app.core.fields import check_locale, check_tenant_name, check_time_zone
from app.core.forms import GuardedForm
from app.core.i18n import LOCALES

#: the id of the time zones' <datalist> (templates/tenants/_settings_general.html)
TIME_ZONE_LIST = "timezone-options"


class GeneralSettingsForm(GuardedForm):
    # One check per field (app.core.fields), the same the service and `flask tenants create` run.
    name = StringField(_l("Name"), validators=[DataRequired(), form_check(check_tenant_name)],
                       render_kw={"maxlength": 120})
    # Some 600 zones: a text input the browser completes from a <datalist> (type "Lisbon" or "Sao_Paulo"), with
    # or without JavaScript; the one time-zone check decides what is accepted.
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), form_check(check_time_zone)],
                           render_kw={"list": TIME_ZONE_LIST, "autocomplete": "off", "spellcheck": "false",
                                      "autocapitalize": "none", "maxlength": 64})
    default_locale = SelectField(_l("Default language"),
                                 choices=[SelectChoice(code, label) for code, label in LOCALES.items()],
                                 validators=[DataRequired(), form_check(check_locale)], validate_choice=False)

    def __init__(self, *args, timezones: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        #: the zones offered as the time zone's suggestions
        self.timezones = timezones
