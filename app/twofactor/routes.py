"""The person's own second factor: the second step at sign-in (/auth/2fa) and /account/security (authenticator
apps enrolled from a QR code, recovery codes, remembered browsers). Thin views: parse, one service, respond."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import format_datetime, get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.core.crypto import crypto
from app.core.errors import DomainError, ValidationFailed, refused_wait, render_error
from app.core.forms import Saved, handle_form
from app.core.mixins import utcnow
from app.core.ratelimit import limiter
from app.core.request_state import state
from app.core.stepup import Prover, register_prover, require_proof
from app.core.web import current_actor, request_meta, safe_next
from app.extensions import db
from app.permissions.resolver import warm_up
from app.sessions.models import SessionStage
from app.sessions.web import advance_current_session, reachable_at, register_stage_page
from app.twofactor import bp, browsers, codes, recovery, services, totp
from app.twofactor.forms import AddAppForm, ConfirmAppForm, ProofForm, SecondStepForm
from app.twofactor.services import Method, Refusal
from app.twofactor.web import (
    enroll_minutes,
    limits,
    note_step_up,
    recently_proved,
    remember_this_browser,
    remembered_raw,
    take_next,
)

register_stage_page(SessionStage.SECOND_FACTOR, "twofactor.second_step")
register_stage_page(SessionStage.ENROLL, "twofactor.security")

BOTH_STAGES = (SessionStage.SECOND_FACTOR, SessionStage.ENROLL)
#: the new recovery codes, encrypted, kept in the session for their one showing after the POST that made them
CODES_KEY = "twofa_new_codes"
CODES_TTL_SECONDS = 600


def _rate_limit() -> str:
    return current_app.config["TWOFA_RATE_LIMIT"]


def _user():
    return current_user._get_current_object()


# -- the second step -------------------------------------------------------------------------------------------------

def _methods(user) -> list[Method]:
    if user.profile.twofa_enabled_at is not None:
        return [Method.TOTP, Method.RECOVERY]
    return [Method.EMAIL]


def _chosen_method(user) -> tuple[list[Method], Method]:
    """The person's ways past the second step, and the one this request asks for (the first by default)."""
    methods = _methods(user)
    asked = request.values.get("method", "")
    return methods, (Method(asked) if asked in {str(m) for m in methods} else methods[0])


def _refused(result) -> str:
    if result.refusal == Refusal.REPLAYED:
        return _("That code was used already. Wait for the app to show the next one.")
    if result.refusal == Refusal.LOCKED:
        minutes = max(1, int((result.until - utcnow()).total_seconds() + 59) // 60) if result.until else 1
        return ngettext("Too many wrong codes. Try again in %(num)d minute, or use a recovery code.",
                        "Too many wrong codes. Try again in %(num)d minutes, or use a recovery code.", minutes)
    if result.refusal == Refusal.DISABLED:
        return _("Codes from your authenticator app are turned off after too many wrong ones. Use a recovery "
                 "code, or ask an administrator to reset your two-step sign-in.")
    return _("That code is not right. Check it and try again.")


def _second_step_page(form, method: Method, methods: list[Method]):
    user = _user()
    if method == Method.RECOVERY:  # letters and digits: a full keyboard, no one-time-code autofill
        form.code.render_kw = {**form.code.render_kw, "inputmode": "text", "autocomplete": "off",
                               "autocapitalize": "characters"}
    return render_template("twofactor/second_step.html", form=form, method=method, methods=methods,
                           code_sent=codes.has_live(state.user_session.id, codes.SIGN_IN, utcnow())
                           if method == Method.EMAIL else False,
                           email=user.email, remember_days=current_app.config["TWOFA_REMEMBER_DAYS"])


@bp.route("/auth/2fa", methods=["GET", "POST"])
@reachable_at(SessionStage.SECOND_FACTOR)
@login_required
@limiter.limit(_rate_limit, methods=["POST"])
def second_step():
    """The second step of sign-in: until it passes, this session reaches nothing else."""
    row = state.user_session
    if row is None or row.stage != SessionStage.SECOND_FACTOR:
        return redirect(url_for("tenants.home"))
    user = _user()
    methods, method = _chosen_method(user)
    form = SecondStepForm(data={"method": str(method)})
    if not form.validate_on_submit():
        return _second_step_page(form, method, methods), (422 if form.is_submitted() else 200)
    misshaped = services.shape_problem(method, form.code.data)
    if misshaped is not None:  # not a code of this kind at all: said so, not counted as a guess
        form.code.errors = [misshaped]
        return _second_step_page(form, method, methods), 422
    result = services.check_step(user, method, form.code.data, session_id=row.id, purpose=codes.SIGN_IN,
                                 now=utcnow(), limits=limits(), meta=request_meta())
    if not result.ok:
        form.code.errors = [_refused(result)]
        return _second_step_page(form, method, methods), 401
    device = row.device
    advance_current_session(None)  # a new session id now that sign-in is complete
    warm_up(user)
    response = redirect(take_next() or url_for("tenants.home"))
    if form.remember.data:
        remember_this_browser(response, user, device)
    if method == Method.RECOVERY:
        _warn_if_few_codes(user.id)
    return response


def _warn_if_few_codes(user_id: int) -> None:
    left = recovery.remaining(user_id)
    if left <= recovery.LOW:
        flash(ngettext("You have %(num)d recovery code left. Make a new set under Two-step sign-in.",
                       "You have %(num)d recovery codes left. Make a new set under Two-step sign-in.", left),
              "warning")
    else:
        flash(ngettext("You used a recovery code; %(num)d is left.", "You used a recovery code; %(num)d are left.",
                       left), "info")


@bp.post("/auth/2fa/send")
@reachable_at(SessionStage.SECOND_FACTOR)
@login_required
@limiter.limit(_rate_limit)
def send_sign_in_code():
    """Email a one-time code for this sign-in (where the person's organization allows codes by email)."""
    row = state.user_session
    if row is None or row.stage != SessionStage.SECOND_FACTOR or Method.EMAIL not in _methods(_user()):
        return redirect(url_for("twofactor.second_step"))
    minutes = services.send_code(_user(), session_id=row.id, purpose=codes.SIGN_IN, now=utcnow(),
                                 locale=str(get_locale()))
    flash(_("We sent a code to %(email)s. It works for %(minutes)d minutes.", email=_user().email,
            minutes=minutes), "success")
    return redirect(url_for("twofactor.second_step", method="email"))


@bp.errorhandler(429)
def too_many_codes(exc):
    """Throttled: counted on the person's profile, said with the wait, with Retry-After. The second step keeps
    its form."""
    retry, wait = refused_wait(exc)
    if current_user.is_authenticated:
        services.count_rate_limited(current_user.id)
    message = _("Too many attempts from here. %(wait)s", wait=wait)
    row = state.user_session
    if request.endpoint == "twofactor.second_step" and row is not None and row.stage == SessionStage.SECOND_FACTOR:
        methods, method = _chosen_method(_user())
        form = SecondStepForm(data={"method": str(method)})
        form.form_errors.append(message)
        response = current_app.make_response((_second_step_page(form, method, methods), 429))
    else:
        response = current_app.make_response(render_error(429, "rate_limited", message, wait))
        response.status_code = 429
    response.headers["Retry-After"] = str(retry)
    response.hubx_retry_after = retry
    return response


# -- /account/security -----------------------------------------------------------------------------------------------

def _security_page(add_form=None, codes_form=None, status: int = 200):
    user = _user()
    now = utcnow()
    raw = remembered_raw()
    remembered = browsers.listed(user.id, now)
    need = services.requirement(user.id)
    return render_template(
        "twofactor/security.html", devices=services.devices(user.id), enabled=user.profile.twofa_enabled_at,
        codes_left=recovery.remaining(user.id), low=recovery.LOW, need=need,
        enrolling=state.user_session.stage == SessionStage.ENROLL,
        remembered=[(b, browsers.is_this_one(b, raw)) for b in remembered],
        add_form=_proof_id(add_form or AddAppForm(formdata=None), "add-proof"),
        codes_form=_proof_id(codes_form or ProofForm(formdata=None), "codes-proof"),
        proved=recently_proved()), status


def _proof_id(form, field_id: str):
    """Two forms on one page each ask for a proof: give each field its own id (labels and hints follow)."""
    form.proof.id = form.proof.label.field_id = field_id
    return form


def _prove(form) -> None:
    """The step-up a sensitive form asks for when the last proof is old (typed in the form's `proof` field)."""
    require_proof(form.proof.data)


def _check_proof(typed: str | None) -> None:
    """Check a typed proof: the password, an app's code or an emailed step-up code; noted on the session."""
    typed = (typed or "").strip()
    if not typed:
        raise ValidationFailed(_("Confirm it's you: type your password or a code."), field="proof")
    user = _user()
    row = state.user_session
    if typed.isdigit() and len(typed) == totp.DIGITS and user.profile.twofa_enabled_at is not None:
        method = Method.TOTP
    elif typed.isdigit() and codes.has_live(row.id, codes.STEP_UP, utcnow()):
        method = Method.EMAIL
    else:
        method = Method.PASSWORD
    result = services.step_up(user, method, typed, session_id=row.id, now=utcnow(), limits=limits(),
                              meta=request_meta())
    if not result.ok:
        message = (_("That password or code is not right.") if result.refusal in {Refusal.WRONG, None}
                   else _refused(result))
        db.session.commit()  # the failure counts although the form's refusal rolls the rest back
        raise ValidationFailed(message, field="proof")
    note_step_up()


register_prover(Prover(recent=recently_proved, prove=_check_proof))


@bp.get("/account/security")
@reachable_at(SessionStage.ENROLL)
@login_required
def security():
    """Two-step sign-in: my authenticator apps, recovery codes and remembered browsers."""
    return _security_page()


@bp.post("/account/security/apps")
@reachable_at(SessionStage.ENROLL)
@login_required
@limiter.limit(_rate_limit)
def start_enrollment():
    """Add an authenticator app: a new secret, then the page with its QR code."""
    form = AddAppForm()

    def run(bound):
        _prove(bound)
        device, _secret = services.begin_enrollment(current_actor(), bound.name.data, now=utcnow(),
                                                    enroll_minutes=enroll_minutes())
        return device

    return handle_form(form, run, render=lambda bound: _security_page(add_form=bound)[0],
                       done=lambda device: redirect(url_for("twofactor.enroll", device_id=device.id)))


def _enroll_page(device, form, status: int = 200):
    secret = services.enrollment_secret(device)
    uri = totp.provisioning_uri(secret, account=_user().email, issuer=current_app.config["TWOFA_ISSUER"])
    state.no_store = True  # the secret is in this page
    return render_template("twofactor/enroll.html", device=device, form=form, qr=totp.qr_svg(uri),
                           key=totp.grouped(secret), minutes=enroll_minutes()), status


@bp.get("/account/security/apps/<id:device_id>/enroll")
@reachable_at(SessionStage.ENROLL)
@login_required
def enroll(device_id: int):
    """Scan the QR code (or type the key), then type the code the app shows."""
    try:
        device = services.pending(current_user.id, device_id, now=utcnow(), enroll_minutes=enroll_minutes())
        return _enroll_page(device, ConfirmAppForm(formdata=None))
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("twofactor.security"))


@bp.post("/account/security/apps/<id:device_id>/enroll")
@reachable_at(SessionStage.ENROLL)
@login_required
@limiter.limit(_rate_limit)
def confirm_enrollment(device_id: int):
    """The first code from the app makes it active; the first app brings ten recovery codes."""
    try:
        device = services.pending(current_user.id, device_id, now=utcnow(), enroll_minutes=enroll_minutes())
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for("twofactor.security"))
    form = ConfirmAppForm()
    if not form.validate_on_submit():
        try:
            return _enroll_page(device, form, 422)
        except DomainError as exc:
            flash(str(exc), "error")
            return redirect(url_for("twofactor.security"))
    try:
        new_codes = services.confirm_enrollment(current_actor(), device.id, form.code.data, now=utcnow(),
                                                enroll_minutes=enroll_minutes())
    except ValidationFailed as exc:
        form.code.errors = [str(exc)]
        return _enroll_page(device, form, 422)
    except DomainError as exc:  # the enrollment ended meanwhile, or its secret can no longer be read
        flash(str(exc), "error")
        return redirect(url_for("twofactor.security"))
    if state.user_session.stage == SessionStage.ENROLL:
        advance_current_session(None)  # the requirement is met: signed in, under a new id
        warm_up(_user())
    flash(_("The app “%(name)s” is active. Sign-in now asks for its code.", name=device.name), "success")
    if new_codes:
        _keep_codes(new_codes)
        return redirect(url_for("twofactor.new_codes"))
    return redirect(take_next() or url_for("twofactor.security"))


def _keep_codes(new_codes: list[str]) -> None:
    session[CODES_KEY] = crypto().encrypt("\n".join(new_codes))


@bp.get("/account/security/recovery-codes")
@login_required
def new_codes():
    """The new recovery codes, shown this once (and offered as a text file)."""
    sealed = session.pop(CODES_KEY, None)
    try:
        shown = crypto().fernet.decrypt(str(sealed).encode(), ttl=CODES_TTL_SECONDS).decode().split("\n")
    except Exception:  # noqa: BLE001 (none kept, too old or tampered: nothing to show)
        flash(_("Recovery codes are shown only once. Make a new set if you did not keep them."), "info")
        return redirect(url_for("twofactor.security"))
    state.no_store = True
    heading = _("Hubx Access recovery codes for %(email)s, made %(when)s. Each works once.",
                email=current_user.email, when=format_datetime(utcnow(), "short"))
    return render_template("twofactor/codes.html", codes=shown, text="\n".join([heading, "", *shown]) + "\n")


@bp.post("/account/security/recovery-codes")
@login_required
@limiter.limit(_rate_limit)
def regenerate_codes():
    """A new set of ten replaces every old code (confirmed, with a recent proof)."""
    form = ProofForm()

    def run(bound):
        _prove(bound)
        return services.regenerate_recovery_codes(current_actor())

    def done(new):
        _keep_codes(new)
        return redirect(url_for("twofactor.new_codes"))

    return handle_form(form, run, render=lambda bound: _security_page(codes_form=bound)[0], done=done)


@bp.post("/account/security/send-code")
@login_required
@limiter.limit(_rate_limit)
def send_step_up_code():
    """Email a code to confirm a sensitive action (for people who would rather not type their password)."""
    minutes = services.send_code(_user(), session_id=state.user_session.id, purpose=codes.STEP_UP, now=utcnow(),
                                 locale=str(get_locale()))
    flash(_("We sent a code to %(email)s. It works for %(minutes)d minutes.", email=_user().email,
            minutes=minutes), "success")
    return redirect(safe_next(request.form.get("next")) or url_for("twofactor.security"))


# -- confirmations: remove an app, forget a browser -------------------------------------------------------------------

def _confirm_page(what: str, form, target, url: str, status: int = 200, this_one: bool = False):
    last = what == "remove" and len(services.devices(current_user.id)) == 1
    return render_template("twofactor/confirm.html", what=what, form=form, target=target, url=url,
                           proved=recently_proved(), last=last, this_one=this_one), status


def _own_app(device_id: int):
    for device in services.devices(current_user.id):
        if device.id == device_id:
            return device
    return None


@bp.get("/account/security/apps/<id:device_id>/remove")
@login_required
def confirm_remove(device_id: int):
    device = _own_app(device_id)
    if device is None:
        flash(_("No such authenticator app."), "error")
        return redirect(url_for("twofactor.security"))
    return _confirm_page("remove", ProofForm(formdata=None), device,
                         url_for("twofactor.remove_app", device_id=device_id))


@bp.post("/account/security/apps/<id:device_id>/remove")
@login_required
@limiter.limit(_rate_limit)
def remove_app(device_id: int):
    """Remove an authenticator app (the last one turns two-step sign-in off)."""
    form = ProofForm()
    device = _own_app(device_id)
    if device is None:
        flash(_("No such authenticator app."), "error")
        return redirect(url_for("twofactor.security"), 303)

    def run(bound):
        _prove(bound)
        return services.remove_device(current_actor(), device_id)

    def done(last):
        message = (_("The app was removed. Two-step sign-in is off: add an app to turn it on again.") if last
                   else _("The app was removed."))
        return Saved(message, url_for("twofactor.security"))

    return handle_form(form, run, done=done,
                       render=lambda bound: _confirm_page("remove", bound, device,
                                                          url_for("twofactor.remove_app", device_id=device_id))[0])


@bp.get("/account/security/browsers/<id:browser_id>/forget")
@login_required
def confirm_forget(browser_id: int):
    found = next((b for b in browsers.listed(current_user.id, utcnow()) if b.id == browser_id), None)
    if found is None:
        flash(_("That browser is not remembered any more."), "info")
        return redirect(url_for("twofactor.security"))
    return _confirm_page("forget", ProofForm(formdata=None), found,
                         url_for("twofactor.forget_browser", browser_id=browser_id),
                         this_one=browsers.is_this_one(found, remembered_raw()))


@bp.post("/account/security/browsers/<id:browser_id>/forget")
@login_required
def forget_browser(browser_id: int):
    """Forget a remembered browser: its next sign-in asks for the second step again."""
    form = ProofForm()

    def run(bound):
        return services.forget_browser(current_actor(), browser_id)

    return handle_form(form, run, render=lambda bound: _security_page()[0],
                       done=lambda _r: Saved(_("That browser will be asked for a code at its next sign-in."),
                                             url_for("twofactor.security")))
