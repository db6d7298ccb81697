"""Authenticator secrets at rest: sealed with MultiFernet (`f:`), plain (`p:`) only while TWOFA_ENCRYPT_SECRETS
is off; a secret no key opens refuses the app's codes, leaves an audit event and raises nothing."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update

from app.extensions import db
from app.twofactor import secrets
from app.twofactor.models import TotpDevice
from app.twofactor.services import Method, Refusal
from tests.twofactor.helpers import LATER, code_at, enroll, events, session_id, step

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def _stored(device_id: int) -> str:
    return db.session.scalar(select(TotpDevice.secret).where(TotpDevice.id == device_id))


def _store(device_id: int, value: str) -> None:
    db.session.execute(update(TotpDevice).where(TotpDevice.id == device_id).values(secret=value))
    db.session.commit()


def test_a_secret_is_stored_sealed(create_user):
    user = create_user()
    device_id, secret, _ = enroll(user)
    stored = _stored(device_id)
    assert stored.startswith("f:") and secret not in stored
    assert secrets.unseal(stored) == secret and secrets.is_current(stored)


@pytest.mark.config(TWOFA_FERNET_KEYS=[KEY_A])
def test_twofa_keys_win_over_encryption_keys(app, create_user):
    user = create_user()
    device_id, secret, _ = enroll(user)
    token = _stored(device_id)[2:].encode()
    assert Fernet(KEY_A).decrypt(token).decode() == secret
    with pytest.raises(Exception):  # noqa: B017, PT011 - InvalidToken: not sealed under ENCRYPTION_KEYS
        Fernet(app.config["ENCRYPTION_KEYS"][0]).decrypt(token)


@pytest.mark.config(TWOFA_ENCRYPT_SECRETS=False)
def test_with_encryption_off_a_secret_is_stored_plain_and_works(create_user):
    user = create_user()
    device_id, secret, _ = enroll(user)
    assert _stored(device_id) == "p:" + secret
    assert not secrets.is_current(_stored(device_id))
    assert step(user, Method.TOTP, code_at(secret, LATER), now=LATER, sid=session_id(user)).ok


def test_a_plain_secret_still_works_with_encryption_on(create_user):
    """Rows written while encryption was off keep working until `reencrypt-secrets` seals them."""
    user = create_user()
    device_id, secret, _ = enroll(user)
    _store(device_id, "p:" + secret)
    assert step(user, Method.TOTP, code_at(secret, LATER), now=LATER, sid=session_id(user)).ok


@pytest.mark.parametrize("tamper", [
    lambda stored: stored[:-6] + ("AAAAAA" if not stored.endswith("AAAAAA") else "BBBBBB"),  # ciphertext changed
    lambda stored: "f:" + Fernet(Fernet.generate_key()).encrypt(b"JBSWY3DPEHPK3PXP").decode(),  # an unknown key
    lambda stored: "f:not a fernet token",
    lambda stored: "x:" + stored[2:],  # no known form
])
def test_a_tampered_secret_refuses_the_code_and_is_audited(create_user, tamper):
    user = create_user()
    device_id, secret, _ = enroll(user)
    _store(device_id, tamper(_stored(device_id)))
    with pytest.raises(secrets.SecretUnreadable):
        secrets.unseal(_stored(device_id))
    result = step(user, Method.TOTP, code_at(secret, LATER), now=LATER, sid=session_id(user))
    assert (result.ok, result.refusal) == (False, Refusal.WRONG)
    unreadable = events("twofa.secret_unreadable")
    assert [(e.outcome, e.details, e.target_id) for e in unreadable] == [("failure", {"device": device_id},
                                                                           str(user.id))]
    assert secret not in str(unreadable[0].details)
    db.session.refresh(user.profile)
    assert user.profile.twofa_failures == 1


def test_one_unreadable_app_does_not_stop_another(create_user):
    user = create_user()
    broken, _, _ = enroll(user, name="Old phone")
    _, secret, _ = enroll(user, name="New phone")
    _store(broken, "f:gAAAAAbroken")
    assert step(user, Method.TOTP, code_at(secret, LATER), now=LATER, sid=session_id(user)).ok
    assert len(events("twofa.secret_unreadable")) == 1
