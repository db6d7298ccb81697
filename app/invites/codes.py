"""Invite codes in the token format (DESIGN.md): `hbx_i_` + 30 base62 characters (178 bits) + a 6-character
CRC32 checksum, so a mistyped code is refused before any query. Only the keyed digest and a hint are stored."""

from __future__ import annotations

from app.core import tokencodec
from app.core.crypto import crypto

KIND = "i"
tokencodec.register_kind(KIND, "invite")


def new_code() -> tuple[str, str, str]:
    """A fresh code, its digest (what is stored) and its display hint."""
    code = tokencodec.generate(KIND)
    return code, crypto().digest(code), tokencodec.hint(code)


def well_formed(raw) -> bool:
    """True when `raw` is an invite code with a matching checksum. No I/O."""
    return isinstance(raw, str) and tokencodec.well_formed(raw.strip(), KIND)


def digest_of(raw: str) -> str:
    return crypto().digest(raw.strip())
