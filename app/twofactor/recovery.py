"""Recovery codes: ten single-use codes of 16 Crockford base32 characters (80 bits), shown once, kept as salted
slow hashes (below 112 bits of entropy a fast hash could be searched); a new set replaces the whole old set; two
uses of one code at once give one success (a conditional UPDATE of `used_at`)."""

from __future__ import annotations

import secrets
from datetime import datetime

from flask import current_app
from sqlalchemy import delete, func, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import db
from app.twofactor.models import RecoveryCode

COUNT = 10
LENGTH = 16
#: Crockford's base32: no I, L, O, U (read back as 1, 1, 0 and not at all)
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
#: warn when this many or fewer are left
LOW = 3


def normalise(typed: str) -> str:
    """What a typed code means: case, spaces and dashes do not matter; I, L and O read as 1, 1 and 0."""
    return "".join(ch for ch in typed.upper() if ch not in " -\t").translate(_READ_AS)


def grouped(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def is_shaped(code: str) -> bool:
    return len(code) == LENGTH and all(ch in ALPHABET for ch in code)


def new_set(user_id: int) -> list[str]:
    """Replace the person's codes with ten new ones; returns them (grouped) to show once."""
    method = current_app.config["TWOFA_RECOVERY_HASH_METHOD"]
    codes = ["".join(secrets.choice(ALPHABET) for _ in range(LENGTH)) for _ in range(COUNT)]
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    db.session.add_all(RecoveryCode(user_id=user_id, code_hash=generate_password_hash(code, method=method))
                       for code in codes)
    db.session.flush()
    return [grouped(code) for code in codes]


def remaining(user_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode)
                             .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))) or 0


def use(user_id: int, typed: str, now: datetime) -> bool:
    """True when `typed` is one of the person's unused codes, now used (exactly one of racing uses wins)."""
    code = normalise(typed)
    if not is_shaped(code):
        return False
    unused = db.session.execute(select(RecoveryCode.id, RecoveryCode.code_hash)
                                .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))).all()
    for row_id, code_hash in unused:
        if check_password_hash(code_hash, code):
            return db.session.execute(
                update(RecoveryCode).where(RecoveryCode.id == row_id, RecoveryCode.used_at.is_(None))
                .values(used_at=now).execution_options(synchronize_session=False)).rowcount == 1
    return False


def forget(user_id: int) -> None:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
