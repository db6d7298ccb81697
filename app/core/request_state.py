"""Request state: every value one request keeps in `flask.g`, declared here once with its type and meaning.

Code reads and writes these through `state` (`state.tenant`, `state.no_store = True`), never through `g` with a
string: a misspelt key fails loudly here instead of reading None forever, and this is the one list to look at
when asking "what does a request carry?". Domain types are named in comments, not imported: the kernel knows no
domain.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from flask import g

from app.core.actor import Actor


class RequestState:
    """The typed keys of `flask.g`. Unset keys read as None (False for the flags)."""

    #: the tenant of a `/t/<slug>/` page (tenants.models.Tenant), resolved before the view
    tenant: Any
    #: the signed-in person's membership in that tenant (users.models.Membership); None for an operator looking in
    membership: Any
    #: the signed-in person's compiled policy in that tenant (permissions.policy.Policy), loaded once
    policy: Any
    #: the page request's server-side session (sessions.models.UserSession), found by the session check
    user_session: Any
    #: the slug of that session's current tenant while its person is still a member there (for `/`), else None
    session_tenant_slug: str | None
    #: the authenticated bearer of an API request (app.api.auth.Bearer)
    bearer: Any
    #: who acts in this request: built once, by the sign-in check (pages) or the bearer check (API)
    actor: Actor | None
    #: the tenancy guard's token while a tenant is current (reset when the request ends)
    tenant_token: Token | None
    #: the response holds a secret: `Cache-Control: no-store`
    no_store: bool
    #: the URL of this request holds a secret: `Referrer-Policy: no-referrer` (nothing sends it on)
    no_referrer: bool
    #: this request's CSP nonce (app.core.security)
    csp_nonce: str | None
    #: this request's id (app.core.security)
    request_id: str | None

    __slots__ = ()  # nothing is kept on the object: every key is a property over `flask.g` (below)

    def pop(self, name: str):
        """Remove `name` and return what it held (None when unset)."""
        if name not in RequestState.__annotations__:
            raise AttributeError(f"request state has no key {name!r}")
        return g.pop(name, None)

    def has(self, name: str) -> bool:
        """True when `name` was set in this request (a None value included)."""
        return name in g


_FLAGS = frozenset({"no_store", "no_referrer"})


def _key(name: str, default):
    # A property per declared key: reading and writing cost one attribute access on `g`, and an undeclared key
    # is refused by the class itself (no `__getattr__` fallback, which Python reaches only after a failed lookup).
    def read(_state):
        return g.get(name, default)

    def write(_state, value) -> None:
        setattr(g, name, value)

    return property(read, write, doc=f"request state `{name}`")


for _name in RequestState.__annotations__:
    setattr(RequestState, _name, _key(_name, False if _name in _FLAGS else None))

#: the one way to reach request state
state = RequestState()
