"""Forgot-password and reset pages. The secret of a reset link leaves the address bar at once: the first visit
keeps it in the signed session cookie and redirects to /auth/reset, so it is in no later URL, referrer or history."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, redirect, render_template, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import bp
from app.auth.forms import ForgotForm, NewPasswordForm
from app.auth.links import reset_link
from app.auth.reset import request_reset, reset_is_usable, reset_password
from app.core.errors import NotFound
from app.core.forms import Saved, handle_form
from app.core.mixins import utcnow
from app.core.ratelimit import limiter
from app.core.request_state import state
from app.core.web import request_meta

_RESET_KEY = "reset_secret"


def _reset_limit() -> str:
    return current_app.config["PASSWORD_RESET_RATE_LIMIT"]


def _lifetime() -> timedelta:
    return timedelta(minutes=current_app.config["PASSWORD_RESET_MINUTES"])


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def forgot_password():
    """Ask for a reset link; the answer is the same whether or not the address has an account."""
    form = ForgotForm()
    if not form.is_submitted():
        return render_template("auth/forgot.html", form=form)

    def run(bound):
        request_reset(bound.email.data, now=utcnow(), lifetime=_lifetime(), link=reset_link, locale=str(get_locale()),
                      **request_meta())

    return handle_form(form, run, render=lambda bound: render_template("auth/forgot.html", form=bound),
                       done=lambda _r: Saved(_("If an account uses that address, a link to choose a new password is on "
                                               "its way. It works once, for %(minutes)d minutes.",
                                               minutes=current_app.config["PASSWORD_RESET_MINUTES"]),
                                             url_for("auth.login")))


@bp.get("/reset/<secret>")
def open_reset(secret: str):
    """The link from the email: keep its secret in the session and continue at an address without it."""
    state.no_store = True
    session[_RESET_KEY] = secret[:100]
    return redirect(url_for("auth.reset_form"))


@bp.route("/reset", methods=["GET", "POST"])
@limiter.limit(_reset_limit, methods=["POST"])
def reset_form():
    """Choose a new password through a reset link (every session of the account ends)."""
    state.no_store = True
    raw = session.get(_RESET_KEY)
    if not reset_is_usable(raw, now=utcnow()):
        # no usable link (none opened, expired, used): say so and offer a new one; nothing is changed
        session.pop(_RESET_KEY, None)
        return render_template("auth/reset.html", form=None)
    form = NewPasswordForm()
    if not form.is_submitted():
        return render_template("auth/reset.html", form=form)

    def run(bound):
        user = reset_password(raw, bound.password.data, now=utcnow(), **request_meta())
        if user is None:
            raise NotFound(_("This link has expired or was used already. Ask for a new one."))
        return user

    def done(_user) -> Saved:
        session.pop(_RESET_KEY, None)
        if current_user.is_authenticated:
            flash(_("Your password was changed. Sign in with it."), "success")
        return Saved(_("Your password was changed and every session of your account ended. Sign in with the new "
                       "password."), url_for("auth.login"))

    return handle_form(form, run, render=lambda bound: render_template("auth/reset.html", form=bound), done=done)
