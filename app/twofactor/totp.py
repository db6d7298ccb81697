"""Authenticator codes (RFC 6238 through pyotp: SHA-1, 6 digits, 30-second steps, one step of drift each way),
the enrollment QR code (an SVG made here, no outside service), and the one-use rule: a code of a step at or before
the device's last accepted step is refused, also when two requests race (a conditional UPDATE of `last_step`)."""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg
from sqlalchemy import or_, update

from app.extensions import db
from app.twofactor.models import TotpDevice

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
#: 32 base32 characters: 160 bits, the RFC 4226 recommendation
SECRET_CHARS = 32


def new_secret() -> str:
    return pyotp.random_base32(length=SECRET_CHARS)


def grouped(secret: str) -> str:
    """The key for typing by hand, in groups of four ("ABCD EFGH ...")."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account,
                                                                                      issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (medium error correction, a quiet zone of 4 modules)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4,
                         image_factory=qrcode.image.svg.SvgPathImage)
    code.add_data(uri)
    code.make(fit=True)
    svg = code.make_image().to_string(encoding="unicode")
    # A fixed size in millimetres would not follow the page; the viewBox keeps the proportions, CSS the size.
    return svg.replace('width="', 'data-width="', 1).replace('height="', 'data-height="', 1)


def step_of(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The step (T-1, T or T+1) whose code `code` is, or None."""
    # ASCII digits only: str.isdigit() also accepts "１２３４５６" and "²", which compare_digest refuses to compare
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = step_of(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # every candidate is compared (constant time, no early exit): the timing does not tell which step matched
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found


def claim_step(device_id: int, step: int, now: datetime) -> bool:
    """Record `step` as the device's last used one, only if it is later than the last: the one winner of a race."""
    return db.session.execute(
        update(TotpDevice)
        .where(TotpDevice.id == device_id, or_(TotpDevice.last_step.is_(None), TotpDevice.last_step < step))
        .values(last_step=step, last_used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
