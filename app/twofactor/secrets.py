"""How authenticator secrets are kept: sealed with MultiFernet under TWOFA_FERNET_KEYS (ENCRYPTION_KEYS when
unset) while TWOFA_ENCRYPT_SECRETS is on. The first key encrypts, every key decrypts; keys rotate by putting a new
key first, running `flask twofa reencrypt`, then removing the old key.

A stored secret carries its form: `f:` and a Fernet token, or `p:` and the plain base32 (encryption off, or a row
written before it was turned on; `flask twofa reencrypt-secrets --unencrypted-only` seals those)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

SEALED = "f:"
PLAIN = "p:"
_EXTENSION_KEY = "hubx_twofa_fernet"


class SecretUnreadable(Exception):
    """A stored secret that no key opens, or that is not in a known form (tampered): the code is refused."""


def _keys() -> list[str]:
    config = current_app.config
    return list(config.get("TWOFA_FERNET_KEYS") or config["ENCRYPTION_KEYS"])


def _fernet() -> tuple[MultiFernet, Fernet]:
    # Built once per app and key list (the keys are settings; tests may change them between apps).
    keys = tuple(_keys())
    cached = current_app.extensions.get(_EXTENSION_KEY)
    if cached is None or cached[0] != keys:
        cached = (keys, MultiFernet([Fernet(k) for k in keys]), Fernet(keys[0]))
        current_app.extensions[_EXTENSION_KEY] = cached
    return cached[1], cached[2]


def seal(secret: str) -> str:
    """The stored form of a new secret under today's settings."""
    if not current_app.config["TWOFA_ENCRYPT_SECRETS"]:
        return PLAIN + secret
    return SEALED + _fernet()[0].encrypt(secret.encode()).decode()


def unseal(stored: str) -> str:
    """The secret itself; SecretUnreadable when no key opens it or it was tampered with."""
    if stored.startswith(PLAIN):
        return stored[len(PLAIN):]
    if stored.startswith(SEALED):
        try:
            return _fernet()[0].decrypt(stored[len(SEALED):].encode()).decode()
        except (InvalidToken, UnicodeDecodeError) as exc:
            raise SecretUnreadable("no key opens this secret") from exc
    raise SecretUnreadable("not a stored secret")


def is_current(stored: str) -> bool:
    """True when `stored` is sealed under the first key (nothing for `reencrypt` to do)."""
    if not stored.startswith(SEALED):
        return False
    try:
        _fernet()[1].decrypt(stored[len(SEALED):].encode())
    except InvalidToken:
        return False
    return True


def reseal(stored: str) -> str:
    """`stored` sealed under the first key (SecretUnreadable when no key opens it)."""
    return SEALED + _fernet()[0].encrypt(unseal(stored).encode()).decode()
