"""The account page (/account): one's name, language and time zone, and the password (the current one first;
optionally every other browser signed out). Views on the users blueprint."""

from __future__ import annotations

from flask import after_this_request, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.auth.reset import change_password
from app.core.forms import Saved, handle_form
from app.core.i18n import LOCALES, forget_locale, remember_locale
from app.core.mixins import utcnow
from app.core.web import request_meta
from app.sessions.web import current_session_id, renew_current_session
from app.tenants.services import valid_timezones
from app.users import bp
from app.users.forms import PasswordForm, ProfileForm
from app.users.services import update_profile

PAGE = "users/account.html"


def _page(profile_form=None, password_form=None):
    user = current_user
    profile_form = profile_form or ProfileForm(formdata=None, data={
        "name": user.name, "locale": user.profile.locale or "", "timezone": user.profile.timezone or ""})
    return render_template(PAGE, profile_form=profile_form, password_form=password_form or PasswordForm(formdata=None),
                           timezones=valid_timezones())


@bp.get("/account")
@login_required
def account():
    """My name, language, time zone and password."""
    return _page()


@bp.post("/account")
@login_required
def update_account():
    """Save my name, language and time zone."""
    form = ProfileForm()

    def run(bound):
        update_profile(current_user, name=bound.name.data, locale=bound.locale.data, timezone=bound.timezone.data)
        after_this_request(lambda response: _browser_follows(response, current_user.profile.locale))

    return handle_form(form, run, render=lambda bound: _page(profile_form=bound),
                       done=lambda _r: Saved(_("Your profile was saved."), url_for("users.account")))


def _browser_follows(response, locale: str | None):
    """The browser's remembered language follows the one just saved (or is forgotten when the person follows
    the organization's), so the next sign-in does not bring back the one chosen before."""
    if locale in LOCALES:
        remember_locale(response, locale)
    else:
        forget_locale(response)
    return response


@bp.post("/account/password")
@login_required
def update_password():
    """Change my password; this browser gets a new session id, the others end when asked."""
    form = PasswordForm()

    def run(bound):
        return change_password(current_user, current=bound.current.data, new=bound.new.data,
                               end_others=bound.end_others.data, keep_session=current_session_id(), now=utcnow(),
                               **request_meta())

    def done(ended) -> Saved:
        renew_current_session()  # a privilege change: the id this browser had before stops working
        text = _("Your password was changed.")
        if ended:
            text += " " + _("Every other browser was signed out.")
        return Saved(text, url_for("users.account"))

    return handle_form(form, run, render=lambda bound: _page(password_form=bound), done=done)
