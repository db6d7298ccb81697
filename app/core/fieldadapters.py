"""The field checks of `app.core.fields` in each entry point: a WTForms validator, a pydantic annotation, a
click parameter type, and a call for services. Each adapter only translates `FieldInvalid` into what its
framework expects; the verdict and the message are the check's.

- forms: `validators=[DataRequired(), form_check(check_reason)]`: the field's data becomes the normalised
  value; a refusal is a `ValidationError` with the check's message. DataRequired/Optional stay in front, to
  mark the field required or optional (HTML `required`, and an empty optional field is not checked);
- API models: `Reason = api_field(check_reason, maxLength=500)`, then `reason: Reason`: an `AfterValidator`
  (extra keywords only document the field in the OpenAPI schema; they validate nothing). `app.api` answers a
  body field refused by its check with the problem a service gives for it (`validation_failed`, `field`);
- commands: `@click.option("--name", type=Checked(check_tenant_name))`: a refusal is `click.BadParameter`
  (a usage error, exit status 2);
- services: `name = validated("name", check_token_name, name)`: a refusal is `ValidationFailed(detail,
  field=name)`, which every entry point already shows next to the field.

Imports: besides the frameworks, `app.core.errors` for `ValidationFailed`. `app.core.errors` is application
infrastructure that itself imports only `app.core.htmx`, `app.core.security` and `app.extensions`, so core
importing it makes no cycle (`app.core.inputs` does the same); `app.core.fields` itself stays free of it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import click
from pydantic import AfterValidator, Field
from wtforms.validators import ValidationError

from app.core.errors import ValidationFailed
from app.core.fields import FieldInvalid


def form_check(check: Callable, *args, normalise: bool = True) -> Callable:
    """A WTForms validator running `check(field.data, *args)`; the field's data becomes its result."""

    def validator(form, field) -> None:
        try:
            value = check(field.data, *args)
        except FieldInvalid as exc:
            raise ValidationError(exc.message) from None
        if normalise:
            field.data = value

    validator.check = check
    return validator


def api_field(check: Callable, type_: Any = str, **schema) -> Any:
    """`Annotated[type_, AfterValidator(check)]` for a pydantic model; `schema` keywords (`maxLength=100`)
    are added to the field's JSON schema for the OpenAPI document only."""
    if schema:
        return Annotated[type_, AfterValidator(check), Field(json_schema_extra=schema)]
    return Annotated[type_, AfterValidator(check)]


def refused_field(error: dict) -> tuple[str, str] | None:
    """(field, message) when a pydantic error dict is a field check's refusal, else None."""
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldInvalid) and error.get("loc"):
        return str(error["loc"][0]), cause.message
    return None


class Checked(click.ParamType):
    """A click parameter type running a field check; a refusal is a usage error with the check's message."""

    def __init__(self, check: Callable, name: str | None = None) -> None:
        self.check = check
        self.name = name or check.__name__.removeprefix("check_").upper()

    def convert(self, value, param, ctx):
        try:
            return self.check(value)
        except FieldInvalid as exc:
            self.fail(exc.message, param, ctx)

    def get_metavar(self, param, ctx=None) -> str | None:
        choices = getattr(self.check, "choices", None)
        return f"[{'|'.join(choices)}]" if choices else None

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        choices = getattr(self.check, "choices", ())
        return [CompletionItem(c) for c in choices if c.startswith(incomplete)]


def validated(field: str, check: Callable, value, *args, optional: bool = False):
    """`check(value, *args)` for a service: a refusal is `ValidationFailed(message, field=field)`. With
    `optional`, None (the caller gave nothing) is returned as it is."""
    if optional and value is None:
        return None
    try:
        return check(value, *args)
    except FieldInvalid as exc:
        raise ValidationFailed(exc.message, field=field) from None


class FieldErrors:
    """Every field refusal of one service call, raised together, so a form (or an API client) hears of all of
    them at once instead of one per try.

        with FieldErrors() as errors:
            name = errors.collect(validated, "name", check_token_name, name)
            rate = errors.collect(_check_rate_limit, rate)
            if not 1 <= days <= 3650:
                errors.refuse("days", _l("1 to 3650 days."))

    `collect(fn, *args)` returns `fn(*args)`, or None after keeping the `ValidationFailed` it raised (other
    refusals, a 403 or a 409 about the state of things, leave at once); `refuse(field, message)` keeps one the
    caller found itself. Leaving the block with refusals kept
    raises one `ValidationFailed`: the first field and message as its `field` and `detail`, and every one of
    them in `errors`, as the API's request validation lists them (`[{"loc": [field], "msg": ..., "type": ...}]`,
    an error's extra, so problem+json carries it too): one shape for the client whichever layer refused."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def collect(self, fn: Callable, *args, **kwargs):
        """`fn(*args, **kwargs)`, or None when it refused a field (the refusal is kept)."""
        try:
            return fn(*args, **kwargs)
        except ValidationFailed as exc:
            for field, message in errors_of(exc).items():
                self.errors.setdefault(field or "", message)
            return None

    def refuse(self, field: str, message) -> None:
        """Keep a refusal of `field` found by the caller's own test."""
        self.errors.setdefault(field, str(message))

    def __enter__(self) -> FieldErrors:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None and self.errors:
            field, message = next(iter(self.errors.items()))
            errors = [{"loc": [name] if name else [], "msg": text, "type": "value_error"}
                      for name, text in self.errors.items()]
            raise ValidationFailed(message, field=field or None, errors=errors)
        return False


def errors_of(exc: ValidationFailed | Exception) -> dict[str | None, str]:
    """Every field of a refusal with its (first) message: its `errors` list when it has one, else its one field
    (None: the form as a whole)."""
    collected = getattr(exc, "extra", {}).get("errors")
    if collected:
        found: dict[str | None, str] = {}
        for error in collected:
            loc = error.get("loc") or [None]
            found.setdefault(str(loc[0]) if loc[0] is not None else None, str(error.get("msg", "")))
        return found
    return {getattr(exc, "field", None): getattr(exc, "detail", None) or str(getattr(exc, "title", exc))}
