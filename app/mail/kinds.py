"""The kinds of email: each a pair of templates (app/templates/mail/<kind>.txt and .html), a subject and the
context values its templates need. A domain that sends a new kind registers it here, beside these three:

    register_kind("invite", _l("You are invited to %(tenant)s"), needs=("name", "tenant", "link", "days"))

The subject is a lazy string rendered with the context, in the message's language.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Kind:
    """One kind of email."""

    name: str
    subject: object  # a lazy string; `%(key)s` placeholders are filled from the context
    needs: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {}


def register_kind(name: str, subject, needs: tuple[str, ...] = ()) -> Kind:
    """Declare a kind of email (once; declaring it again differently raises)."""
    kind = Kind(name, subject, tuple(needs))
    known = KINDS.setdefault(name, kind)
    if known != kind:
        raise ValueError(f"mail kind {name!r} is registered twice, differently")
    return known


register_kind("password_reset", _l("Reset your Hubx Access password"), needs=("name", "link", "minutes"))
register_kind("password_changed", _l("Your Hubx Access password was changed"), needs=("name", "when"))
register_kind("invite", _l("You are invited to %(tenant)s"),
              needs=("inviter", "tenant", "link", "role", "expires_at", "hours"))
register_kind("test", _l("Hubx Access test message"))
