"""Secrets at rest: MultiFernet encryption for columns, HMAC digests for codes and tokens.

The first key of ENCRYPTION_KEYS encrypts; every key decrypts, so keys rotate by putting the new key
first, re-encrypting (`flask crypto reencrypt`), then removing the old key.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app
from sqlalchemy import Text, TypeDecorator

EXTENSION_KEY = "hubx_crypto"


class Crypto:
    """The app's MultiFernet and HMAC key, built once from config."""

    def __init__(self, encryption_keys: list[str], hash_key: str) -> None:
        if not encryption_keys:
            raise ValueError("at least one encryption key is needed")
        self.fernet = MultiFernet([Fernet(k) for k in encryption_keys])
        self.primary = Fernet(encryption_keys[0])
        self._hash_key = hash_key.encode()

    def encrypt(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        return self.fernet.decrypt(ciphertext.encode()).decode()

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt `ciphertext` under the first key (MultiFernet.rotate)."""
        return self.fernet.rotate(ciphertext.encode()).decode()

    def is_current(self, ciphertext: str) -> bool:
        """True when `ciphertext` already decrypts with the first key."""
        try:
            self.primary.decrypt(ciphertext.encode())
        except InvalidToken:
            return False
        return True

    def digest(self, secret: str) -> str:
        """HMAC-SHA256 of a high-entropy secret (token, invite code) as hex."""
        return hmac.new(self._hash_key, secret.encode(), hashlib.sha256).hexdigest()


def init_crypto(app: Flask) -> None:
    """Build the app's Crypto from ENCRYPTION_KEYS and TOKEN_HASH_KEY."""
    app.extensions[EXTENSION_KEY] = Crypto(app.config["ENCRYPTION_KEYS"], app.config["TOKEN_HASH_KEY"])


def crypto() -> Crypto:
    """The current app's Crypto."""
    return current_app.extensions[EXTENSION_KEY]


class Sealed(str):
    """A value already encrypted by `crypto().encrypt`: an EncryptedText column stores it as it is.

    For batch writers that encrypt one value once for several rows (see app.tokens.usage)."""


class EncryptedText(TypeDecorator):
    """A text column stored as a Fernet token; Python sees the plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if type(value) is Sealed:
            return str(value)
        return crypto().encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else crypto().decrypt(value)
