"""Token format: `hbx_` + kind letter + `_` + 30 base62 characters + a 6-character base62 CRC32 of the rest.

The checksum (GitHub's scheme) lets a malformed or mistyped token be refused before any database query,
and the fixed prefix lets secret scanners find leaked tokens.
"""

from __future__ import annotations

import re
import secrets
import string
import zlib

ALPHABET = string.digits + string.ascii_letters  # base62
BODY_LENGTH = 30
CHECKSUM_LENGTH = 6
#: kind letter -> what it is; each domain registers its own (`register_kind`), the codec knows none
KINDS: dict[str, str] = {}
_TOKEN_RE = re.compile(rf"^hbx_([a-z])_([0-9A-Za-z]{{{BODY_LENGTH + CHECKSUM_LENGTH}}})$")


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits))


def checksum(text: str) -> str:
    """6 base62 characters of the CRC32 of `text` (62**6 > 2**32, so nothing is lost)."""
    return _base62(zlib.crc32(text.encode()), CHECKSUM_LENGTH)


def register_kind(letter: str, label: str) -> None:
    """Declare a token kind (a domain's, at import time): `hbx_<letter>_...` becomes a format it may generate."""
    if not re.fullmatch(r"[a-z]", letter):
        raise ValueError(f"a token kind is one lower-case letter, not {letter!r}")
    if KINDS.get(letter, label) != label:
        raise ValueError(f"token kind {letter!r} is already {KINDS[letter]!r}")
    KINDS[letter] = label


def generate(kind: str) -> str:
    """A new random token of `kind` (178 bits of entropy in the body)."""
    if kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    head = f"hbx_{kind}_{body}"
    return head + checksum(head)


def well_formed(token: str, kind: str) -> bool:
    """True when `token` has the format, the kind and a matching checksum. No I/O."""
    match = _TOKEN_RE.match(token)
    if match is None or match.group(1) != kind:
        return False
    return checksum(token[:-CHECKSUM_LENGTH]) == token[-CHECKSUM_LENGTH:]


def hint(token: str) -> str:
    """What may be shown after creation: the prefix and the last four characters."""
    return f"{token[:6]}…{token[-4:]}"
