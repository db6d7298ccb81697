"""The join flow: `/join` (type or paste a code), `/join/<code>` (the link from an email), `/join/continue` (what
the invite gives, and the way in), `/join/signup` (a new person) and `/join/accept` (a signed-in person).

The code is a secret and leaves the address bar at once: the link's first request checks it (one indexed read,
`services.validate_summary`, the public check's) and keeps a usable one, encrypted and time-limited (Fernet,
`app.core.crypto`), in a cookie of its own (HttpOnly, SameSite=Lax, path /join) — an unusable one is dropped, the
cookie marking only that (`DROPPED`) — and redirects (303) to `/join/continue`, with `Referrer-Policy:
no-referrer` so the next request does not carry it either. A cookie of its own, not the Flask session: signing in
clears the session (nothing from before sign-in survives it), and a person who signs in to accept must come back
to the same invite. The continue page reads the invite again: it may be shown (reloaded) long after.

Opening the link (a GET) never changes the invite: mail scanners and link previews open links before people do.
Every invalid code (malformed, unknown, expired, revoked, used) gets the one neutral answer
(`InviteInvalid`: the same status and words); a mistyped code (wrong checksum) costs no query. Every entry is
rate-limited per address (`JOIN_RATE_LIMIT`, one budget for all of them). A session short of signed in (the second
step pending) reaches none of these pages (the session stage gate), so only a signed-in person joins."""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from app.core.crypto import crypto
from app.core.fieldadapters import form_check
from app.core.fields import check_display_name, check_email, check_password
from app.core.forms import GuardedForm, handle_form
from app.core.mixins import utcnow
from app.core.ratelimit import counted
from app.core.request_state import state
from app.core.web import request_meta
from app.invites import bp
from app.invites.joining import Joined, join_as, refusal_for, sign_up, usable_invite
from app.invites.services import InviteInvalid, validate, validate_summary
from app.sessions.models import SessionStage
from app.sessions.web import advance_current_session, begin_session, renew_current_session, stage_url
from app.twofactor import services as twofactor
from app.twofactor.web import keep_next, stage_after_password
from app.users.models import User

#: the longest text kept from a path or a form as a code (a code has 42 characters; anything longer is not one)
CODE_MAX = 64
#: what the cookie holds after a link whose code is not usable: the continue page answers neutrally, unread
DROPPED = ""


def join_limit(*methods: str):
    """One budget per address (`JOIN_RATE_LIMIT`) for every attempt in the join flow: typing codes, opening
    links, joining. Counted by `app.core.ratelimit.counted`: the link is on a measured path."""
    return counted("JOIN_RATE_LIMIT", "join", *methods)


# ---------------------------------------------------------------- forms


class CodeForm(GuardedForm):
    """Type or paste an invite code."""

    code = StringField(_l("Invite code"), validators=[DataRequired(), Length(max=200)],
                       render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"})


class SignUpForm(GuardedForm):
    """A new person: name, email (fixed when the invite names one), a password twice."""

    name = StringField(_l("Your name"), validators=[DataRequired(), form_check(check_display_name)],
                       render_kw={"autocomplete": "name"})
    email = EmailField(_l("Email"), validators=[DataRequired(), form_check(check_email)],
                       render_kw={"autocomplete": "email"})
    password = PasswordField(_l("Password"), validators=[DataRequired(), form_check(check_password,
                                                                                      normalise=False)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("Password again"),
                            validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


class JoinForm(GuardedForm):
    """A signed-in person joins: the button is the confirmation (it names the organization and the role)."""


# ---------------------------------------------------------------- the code, kept out of URLs


def _cookie_name() -> str:
    return "__Secure-hubx_join" if current_app.config.get("SESSION_COOKIE_SECURE") else "hubx_join"


def _lifetime_seconds() -> int:
    return current_app.config["JOIN_CODE_MINUTES"] * 60


def _keep_code(response, raw: str) -> None:
    response.set_cookie(_cookie_name(), crypto().encrypt(raw[:CODE_MAX]), max_age=_lifetime_seconds(),
                        path="/join", httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))


def _forget_code(response) -> None:
    response.delete_cookie(_cookie_name(), path="/join", httponly=True, samesite="Lax",
                           secure=current_app.config.get("SESSION_COOKIE_SECURE", False))


def _held_code() -> str | None:
    """The code this browser opened or typed, while it is recent; None otherwise."""
    sealed = request.cookies.get(_cookie_name())
    if not sealed or len(sealed) > 1000:
        return None
    try:
        return crypto().fernet.decrypt(sealed.encode(), ttl=_lifetime_seconds()).decode()
    except (InvalidToken, TypeError, ValueError):
        return None


def _to_continue(raw: str):
    response = redirect(url_for("invites.join_continue"), 303)
    _keep_code(response, raw)
    return response


def _start_over():
    """No code held (none opened, or opened too long ago): the page to type one."""
    response = redirect(url_for("invites.join"), 303)
    _forget_code(response)
    return response


# ---------------------------------------------------------------- pages


@bp.route("/join", methods=["GET", "POST"], endpoint="join")
@join_limit("POST")
def join_page():
    """Type or paste an invite code; a valid one continues like the link."""
    state.no_store = True
    form = CodeForm()
    if not form.is_submitted():
        return render_template("invites/join_code.html", form=form)
    return handle_form(form, lambda bound: usable_invite(bound.code.data, utcnow()),
                       render=lambda bound: render_template("invites/join_code.html", form=bound),
                       done=lambda _invite: _to_continue(form.code.data.strip()))


@bp.get("/join/<code>")
@join_limit("GET")
def join_link(code: str):
    """The link from an email: check the code (one indexed read; it changes nothing) and continue at an address
    without it, a usable code kept (encrypted, in this browser only), an unusable one dropped: the next page says
    so, neutrally, without reading again."""
    state.no_store = True
    state.no_referrer = True
    usable = validate_summary(code, utcnow()) is not None
    return _to_continue(code if usable else DROPPED)


@bp.get("/join/continue")
def join_continue():
    """What the invite gives (organization, role) and the way in: a new account or a sign-in for an anonymous
    person, one button for a signed-in one."""
    state.no_store = True
    raw = _held_code()
    if raw is None:
        return _start_over()
    page = _page(raw) if raw != DROPPED else None
    if page is None:
        response = current_app.make_response((_invalid_page(), InviteInvalid.status))
        _forget_code(response)
        return response
    return page


@bp.post("/join/signup")
@join_limit("POST")
def join_signup():
    """A new person: the account, the membership, and a signed-in session, in one go."""
    state.no_store = True
    raw = _held_code()
    if raw is None:
        return _start_over()
    if current_user.is_authenticated:
        return redirect(url_for("invites.join_continue"), 303)
    form = SignUpForm()

    def run(bound) -> Joined:
        return sign_up(raw, email=bound.email.data, name=bound.name.data, password=bound.password.data,
                       locale=str(get_locale()), now=utcnow(), meta=request_meta())

    def done(joined: Joined):
        stage = stage_after_password(joined.user)  # as sign-in decides: straight in, the second step, enrollment
        session.clear()  # nothing from before sign-in survives it
        login_user(joined.user)
        begin_session(joined.user, stage)
        return _joined(joined, stage)

    return handle_form(form, run, render=lambda bound: _page(raw, signup=bound) or _invalid_page(bound), done=done)


@bp.post("/join/accept")
@join_limit("POST")
def join_accept():
    """A signed-in person joins the organization the held code invites to."""
    state.no_store = True
    raw = _held_code()
    if raw is None:
        return _start_over()
    if not current_user.is_authenticated:
        return redirect(url_for("invites.join_continue"), 303)
    form = JoinForm()
    user: User = current_user._get_current_object()

    def done(joined: Joined):
        stage = _enrollment_stage(joined.user)
        if stage is None:
            renew_current_session()  # new rights: a new session id
        else:
            advance_current_session(stage)  # the tenant requires an app of this role: enroll one first
        return _joined(joined, stage)

    return handle_form(form, lambda _bound: join_as(raw, user, now=utcnow(), meta=request_meta()),
                       render=lambda bound: _page(raw, joining=bound) or _invalid_page(bound), done=done)


# ---------------------------------------------------------------- helpers


def _page(raw: str, *, signup: SignUpForm | None = None, joining: JoinForm | None = None):
    """The continue page for a held code, or None when the code is not usable (the caller answers neutrally)."""
    invite = validate(raw, utcnow())
    if invite is None:
        return None
    refusal = None
    if current_user.is_authenticated:
        joining = joining or JoinForm()
        refusal = None if joining.form_errors else refusal_for(invite, current_user)
    else:
        signup = signup or SignUpForm(formdata=None, data={"email": invite.email or ""})
        if invite.email:
            signup.email.render_kw = {**(signup.email.render_kw or {}), "readonly": True}
    return render_template("invites/join.html", invite=invite, tenant=invite.tenant, signup=signup, joining=joining,
                           refusal=refusal, sign_in_url=url_for("auth.login", next=url_for("invites.join_continue")))


def _invalid_page(form: GuardedForm | None = None) -> str:
    """The one neutral answer; after a form was sent, what refused it (the same neutral words when the code is no
    longer usable, or "already sent" for a second click whose first one joined)."""
    neutral = str(InviteInvalid.title)
    messages = list(form.form_errors) if form is not None and form.form_errors else [neutral]
    return render_template("invites/join_invalid.html", messages=messages, neutral=messages == [neutral])


def _enrollment_stage(user: User) -> str | None:
    """A signed-in person who joined: enrollment when an organization of theirs now requires an authenticator app
    of their role and they have none (codes by email, where a tenant allows them, are asked at the next sign-in)."""
    if user.profile.twofa_enabled_at is not None:
        return None
    need = twofactor.requirement(user.id)
    return SessionStage.ENROLL if need.required and not need.email_codes else None


def _joined(joined: Joined, stage: str | None):
    """After joining: the organization (or, first, the second step or enrollment; after it, the organization)."""
    if joined.membership is None:
        flash(_("Your request to join %(tenant)s waits for an admin's approval; you will have access once they "
                "approve.", tenant=joined.tenant.name), "info")
        target = url_for("tenants.home")
    else:
        flash(_("You joined %(tenant)s as %(role)s. Welcome!", tenant=joined.tenant.name,
                role=joined.membership.role.label), "success")
        target = url_for("tenants.dashboard", slug=joined.tenant.slug)
    if stage is not None:
        keep_next(target)
        target = stage_url(stage)
    response = redirect(target, 303)
    _forget_code(response)
    return response
