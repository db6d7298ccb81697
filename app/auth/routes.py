"""Sign-in and sign-out pages."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import bp
from app.auth.browser import known_user_id, remember_browser, still_valid
from app.auth.forms import LoginForm
from app.auth.services import LockPolicy, authenticate, record_sign_out
from app.core.crypto import crypto
from app.core.errors import refused_wait, render_error
from app.core.fields import email_key
from app.core.i18n import LOCALES, chosen_locale, remember_locale
from app.core.mixins import utcnow
from app.core.net import client_ip
from app.core.ratelimit import limiter
from app.core.web import request_meta, safe_next
from app.permissions.resolver import warm_up
from app.sessions.models import SessionStage
from app.sessions.web import begin_session, end_current_session, reachable_at, stage_url
from app.twofactor.web import keep_next, stage_after_password
from app.users.services import set_preferred_locale


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_email_limit() -> str:
    return current_app.config["LOGIN_EMAIL_RATE_LIMIT"]


def _address_and_email() -> str:
    # Per (address, account typed): one address guessing one account is slowed long before the account locks.
    # The email is kept in the limiter's storage only as a keyed digest.
    return f"{client_ip()}|{crypto().digest(email_key(request.form.get('email', ''))[:254])[:32]}"


def lock_policy() -> LockPolicy:
    """The platform's lockout settings (a tenant may only make `after` stricter)."""
    config = current_app.config
    return LockPolicy(after=config["LOGIN_LOCK_AFTER"], base=timedelta(seconds=config["LOGIN_LOCK_BASE_SECONDS"]),
                      cap=timedelta(minutes=config["LOGIN_LOCK_MAX_MINUTES"]))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_email_limit, methods=["POST"], key_func=_address_and_email)
def login():
    """Sign in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("tenants.home"))
    form = LoginForm()
    if form.validate_on_submit():
        mark = known_user_id()
        result = authenticate(form.email.data, form.password.data, now=utcnow(), lock=lock_policy(),
                              known_browser=lambda user: still_valid(user, mark), **request_meta())
        if result.ok:
            next_url = safe_next(request.args.get("next"))
            stage = stage_after_password(result.user)  # the second step, enrollment, or none
            session.clear()  # nothing from before sign-in survives it
            login_user(result.user)
            begin_session(result.user, stage)  # a new session id, every sign-in
            if stage is None:
                warm_up(result.user)  # compile the user's policies now, not on their first page
                response = redirect(next_url or url_for("tenants.home"))
            else:
                keep_next(next_url)
                response = redirect(stage_url(stage))
            remember_browser(response, result.user)
            _keep_language(result.user, response)
            return response
        form.form_errors.append(_("Sign-in failed. Check your email and password."))
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form), (422 if form.is_submitted() else 200)


@bp.errorhandler(429)
def too_many_attempts(exc):
    """Sign-in throttled: the form stays, with how long to wait (the same words and Retry-After as elsewhere)."""
    retry, wait = refused_wait(exc)
    if request.endpoint == "auth.login":
        form = LoginForm()
        form.form_errors.append(_("Too many sign-in attempts from here. %(wait)s", wait=wait))
        response = current_app.make_response((render_template("auth/login.html", form=form), 429))
    else:  # the other auth pages (forgot, reset): the usual 429 page
        response = current_app.make_response(
            render_error(429, "rate_limited", _("Too many requests. Wait a moment and try again."), wait))
        response.status_code = 429
    response.headers["Retry-After"] = str(retry)
    response.hubx_retry_after = retry
    return response


@bp.post("/logout")
@reachable_at(SessionStage.SECOND_FACTOR, SessionStage.ENROLL)
@login_required
def logout():
    """Sign out: the session's row is deleted, so its cookie never works again."""
    record_sign_out(current_user._get_current_object(), **request_meta())
    end_current_session()
    logout_user()
    session.clear()
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))


def _keep_language(user, response) -> None:
    """One language across sign-in: a language chosen before it (on the sign-in page) becomes the person's;
    else the person's saved one becomes this browser's, so the sign-in page after sign-out speaks it too."""
    chosen = chosen_locale()
    if chosen:
        set_preferred_locale(user, chosen)
    elif user.profile.locale in LOCALES:
        remember_locale(response, user.profile.locale)


@bp.post("/locale")
@reachable_at(SessionStage.SECOND_FACTOR, SessionStage.ENROLL)
def set_locale():
    """Remember the chosen UI language: in this browser (a cookie, kept across sign-in), and on the profile when
    signed in."""
    chosen = request.form.get("locale", "")
    response = redirect(safe_next(request.form.get("next")) or url_for("tenants.home"))
    if chosen in LOCALES:
        remember_locale(response, chosen)
        if current_user.is_authenticated:
            set_preferred_locale(current_user, chosen)
    return response
