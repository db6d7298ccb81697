"""Bearer authentication of /api/v1 requests: the route decorator every JSON view wears, the scopes, and the
problem answers of a refusal. Which secrets are valid, and what their owners may do, is the tokens domain's
business: it registers a `Verifier` (microblog's shape: the API package asks, the domain answers).

The single commit rule: an API request commits once, at its end, like a page, with one exception written here.
What authentication itself wrote (the first device binding, the last-use time) is committed before the view
runs, so a refusal by the view (which rolls its own work back) cannot undo it: a later client could otherwise
take a device binding the first one won.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Protocol

from flask import current_app, request
from flask_babel import lazy_gettext as _l

from app.api import EXPIRATION_HEADER, check_body, expiration_value
from app.core.errors import DomainError, render_error
from app.core.net import client_ip
from app.core.request_state import state
from app.core.web import enter_tenant
from app.extensions import db

DEVICE_HEADER = "X-Hubx-Device"


class Scope(enum.StrEnum):
    """What a bearer may do through the API; each scope includes the ones below it."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def covers(self, needed: Scope) -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK = {Scope.READ: 1, Scope.WRITE: 2, Scope.ADMIN: 3}


class MissingCredentials(DomainError):
    """No bearer credentials at all (no header, or another scheme): RFC 6750 wants no error code then."""

    code, status, title = "invalid_token", 401, _l("The token is missing, malformed or unknown.")


class Bearer(Protocol):
    """An authenticated API request, as the verifier describes it to views."""

    #: the credential's own row (read by the check; `/me` answers from it without another query)
    credential: Any
    #: its owner's compiled policy in the credential's tenant
    policy: Any
    #: whether authentication wrote something that must outlive a refusal by the view
    wrote: bool
    #: the owner and tenant as ORM objects, loaded when a view needs them
    owner: Any
    tenant: Any

    def actor(self):
        """The `Actor` of this request (the owner, with the credential's scope)."""


@dataclass(frozen=True)
class Verifier:
    """What the API asks of the domain that issues credentials."""

    #: check a secret: a Bearer, or a DomainError (with `.credential` when one was found, for its usage log)
    authenticate: Callable[..., Bearer]
    #: may this bearer use a route that needs `scope` and `permission`? None, or the refusal
    authorize: Callable[[Bearer, Scope, str | None], DomainError | None]
    #: log one use (or refused use) of a credential: (credential, outcome, status, ip)
    record_use: Callable[[Any, str, int, str], None]


_VERIFIER: list[Verifier] = []


def register_verifier(verifier: Verifier) -> None:
    """Set the verifier of bearer credentials (the tokens domain's, at import time)."""
    _VERIFIER[:] = [verifier]


def bearer_secret() -> str:
    """The secret of an `Authorization: Bearer ...` header, or ''."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    return secret.strip() if scheme.lower() == "bearer" else ""


def problem_response(error: DomainError):
    """A refusal as problem+json, with the RFC 6750 challenge and Retry-After where they apply."""
    response = current_app.make_response(render_error(error.status, error.code, str(error.title), error.detail))
    if isinstance(error, MissingCredentials):
        response.headers["WWW-Authenticate"] = 'Bearer realm="hubx"'
    elif error.status == 401:
        response.headers["WWW-Authenticate"] = (
            f'Bearer realm="hubx", error="invalid_token", error_description="{error.code}"')
    elif error.code == "insufficient_scope":
        response.headers["WWW-Authenticate"] = 'Bearer realm="hubx", error="insufficient_scope"'
    if getattr(error, "retry_after", None):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def api_auth(scope: Scope, permission: str | None = None):
    """Route decorator: a valid bearer credential whose scope covers `scope`, and whose owner may do `permission`
    (and use `scope`) in the credential's tenant. Sets `state.bearer` and makes that tenant current."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            verifier = _VERIFIER[0]
            ip = client_ip()
            secret = bearer_secret()
            try:
                if not secret:
                    raise MissingCredentials()
                bearer = verifier.authenticate(secret, ip=ip, device_id=request.headers.get(DEVICE_HEADER, ""))
            except DomainError as error:
                credential = getattr(error, "credential", None)
                response = problem_response(error)
                if credential is not None:
                    verifier.record_use(credential, error.code, error.status, ip)
                    value = expiration_value(credential)
                    if value is not None:
                        response.headers[EXPIRATION_HEADER] = value
                return response
            state.bearer = bearer
            enter_tenant(bearer.credential.tenant_id)
            refusal = verifier.authorize(bearer, scope, permission)
            if refusal is not None:
                verifier.record_use(bearer.credential, refusal.code, refusal.status, ip)
                return problem_response(refusal)
            bad_body = check_body()
            if bad_body is not None:
                return bad_body
            if bearer.wrote:
                db.session.commit()  # the one exception to the single commit: see the module's docstring
            try:
                response = current_app.make_response(view(*args, **kwargs))
            except DomainError as error:
                verifier.record_use(bearer.credential, error.code, error.status, ip)
                raise
            verifier.record_use(bearer.credential, "ok", response.status_code, ip)
            return response

        wrapped.api_scope = scope
        wrapped.permission = permission
        return wrapped

    return decorator
