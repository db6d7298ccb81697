"""Form handling: the one way a page acts on a submitted form (`handle_form`), and how a refusal is shown on it.

Every POST page route that takes a Flask-WTF form goes through `handle_form`:

1. `before()`, when given: a refusal that holds whatever was typed (the token can no longer change, the role
   allows no token); its status wins (403, 409);
2. the form's own validators, every field at once (WTForms runs them all): 422;
3. the form's one-time nonce is spent (app/core/formnonce.py): a form acted on already is refused with 409
   and says so (a double click, a reload of the POST: nothing is created twice); a missing, forged or too old
   nonce gets 400 and asks for a reload;
4. `run(form)` calls the service. A `DomainError` rolls the session back (nothing half-done stays, the nonce
   stays unspent) and is shown on the form: each field's message next to its field, the others above the form,
   with the error's own status (422 invalid input, 403, 404, 409). Services that check several fields raise
   one `ValidationFailed` naming them all (`app.core.fieldadapters.FieldErrors`), so the form shows every
   failing field at once, whether the form's validators or the service found it;
5. `done(result)` answers. A `Saved` is post/redirect/get: a browser without JavaScript is redirected with a
   flash message, htmx gets the fragment the route asks for. Anything else is returned as it is (the one-time
   reveal of a new token's secret, which must not survive into another request).

`render(form)` gives the body that shows the form with its errors (an htmx fragment, or the whole page);
`handle_form` adds the status. Templates render such a form's hidden fields with the `hidden_fields(form)`
macro (macros/forms.html), which adds the nonce, and its errors with `form_errors(form)`, which sums up every
error at the top of the form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import Field

from app.core import formnonce
from app.core.errors import DomainError
from app.core.fieldadapters import errors_of
from app.core.htmx import is_htmx
from app.extensions import db

REPEATED = _l("This form was already sent and acted on; sending it again changed nothing. Reload the page to "
              "see the result.")
STALE = _l("This form is out of date. Reload the page and send it again.")


class GuardedForm(FlaskForm):
    """A form `handle_form` acts on: its hidden fields (`hidden_fields(form)` in macros/forms.html) carry a
    one-time nonce besides the CSRF token."""

    def nonce_field(self) -> Markup:
        """The hidden input with a fresh nonce (one per rendering of the form)."""
        return Markup('<input type="hidden" name="%s" value="%s">') % (formnonce.FIELD, formnonce.issue())


@dataclass(frozen=True)
class Saved:
    """What `done` returns after a save: the message, where a browser without JavaScript goes next, and the
    fragment htmx gets instead (`htmx(message)`; None: htmx is redirected too)."""

    message: str
    to: str
    htmx: Callable[[str], ResponseReturnValue] | None = None


def handle_form(form: FlaskForm, run: Callable[[FlaskForm], Any], *, render: Callable[[FlaskForm], Any],
                done: Callable[[Any], Saved | ResponseReturnValue], before: Callable[[], None] | None = None,
                hidden: Iterable[str] = ()) -> ResponseReturnValue:
    """Act on a submitted `form`: check it, spend its nonce, `run(form)` (the service), answer with `done(result)`,
    or `render(form)` with every error and the status that says why. `hidden`: fields the page does not show,
    whose errors are said above the form. The steps are in this module's docstring."""
    try:
        if before is not None:
            before()
        if not form.validate():
            return render(form), 422
        verdict = formnonce.spend(request.form.get(formnonce.FIELD))
        if verdict is not formnonce.Verdict.FRESH:
            form.form_errors.append(str(REPEATED if verdict is formnonce.Verdict.SPENT else STALE))
            return render(form), 409 if verdict is formnonce.Verdict.SPENT else 400
        result = run(form)
    except DomainError as exc:
        db.session.rollback()  # nothing half-done stays (and the nonce stays unspent: the form can be sent again)
        show_error(form, exc, hidden=hidden)
        return render(form), exc.status
    answer = done(result)
    if not isinstance(answer, Saved):
        return answer
    if answer.htmx is not None and is_htmx():
        return answer.htmx(answer.message)
    flash(answer.message, "success")
    return redirect(answer.to)


def show_error(form: FlaskForm, exc: DomainError, *, hidden: Iterable[str] = ()) -> None:
    """Show a refusal on `form`: each field's message on that field when the form has it and shows it, every
    other message above the form."""
    hidden = set(hidden)
    for name, message in errors_of(exc).items():
        field = getattr(form, name, None) if name and name not in hidden else None
        if isinstance(field, Field):
            field.errors = [*field.errors, message]  # a tuple until the field was validated
        else:
            form.form_errors.append(message)
