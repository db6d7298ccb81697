"""The step-up: a recent proof of who one is before a sensitive action (adding an authenticator app, making an
admin-scope token). The kernel holds the hook, so any domain's page may ask for a proof; the domain that checks
proofs (app.twofactor: the password, an app's code or an emailed code) registers how, at import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Prover:
    #: True when this request's session signed in or proved itself recently
    recent: Callable[[], bool]
    #: check a typed proof and note it on the session; refuses with ValidationFailed(field="proof")
    prove: Callable[[str | None], None]


_PROVERS: dict[str, Prover] = {}


def register_prover(prover: Prover) -> None:
    _PROVERS["default"] = prover


def recently_proved() -> bool:
    prover = _PROVERS.get("default")
    return prover is not None and prover.recent()


def require_proof(typed: str | None) -> None:
    """Nothing when the session proved itself recently; else check `typed` (a refusal is a field error)."""
    prover = _PROVERS.get("default")
    if prover is None:
        raise RuntimeError("no step-up prover is registered (app.twofactor registers one)")
    if not prover.recent():
        prover.prove(typed)
