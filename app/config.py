"""Configuration: one Config read from the environment, and TestConfig for the suite.

Every variable is listed in README.md (section "Configuration") with its default.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

DEV_KEYS_FILE = "dev-keys.json"
KEY_SETTINGS = ("SECRET_KEY", "ENCRYPTION_KEYS", "TOKEN_HASH_KEY")


class ConfigError(RuntimeError):
    """The app refuses to start with this configuration."""


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _list(name: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]


class Config:
    """Settings read once from the environment when the class body runs in `from_env`."""

    @classmethod
    def from_env(cls) -> dict:
        """Return the settings as a plain dict, read from os.environ now."""
        env = os.environ.get("HUBX_ENV", "development").strip().lower()
        production = env == "production"
        return {
            "HUBX_ENV": env,
            "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
            "ENCRYPTION_KEYS": _list("ENCRYPTION_KEYS"),
            "TOKEN_HASH_KEY": os.environ.get("TOKEN_HASH_KEY", ""),
            "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL", ""),
            "REDIS_URL": os.environ.get("REDIS_URL", ""),
            # No `pool_pre_ping`: a round trip per checkout. Idle connections are checked instead (app.core.db).
            "SQLALCHEMY_ENGINE_OPTIONS": {},
            "DATABASE_PING_AFTER_IDLE_SECONDS": float(os.environ.get("DATABASE_PING_AFTER_IDLE_SECONDS") or 10),
            "SQLITE_BUSY_TIMEOUT_MS": _int("SQLITE_BUSY_TIMEOUT_MS", 5000),
            "DATABASE_RETRY_AFTER_SECONDS": _int("DATABASE_RETRY_AFTER_SECONDS", 5),
            "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
            "REMEMBER_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", production),
            "SESSION_COOKIE_HTTPONLY": True,
            # `__Host-`: the browser keeps it only when Secure, for this host, path / (no sub-domain may set it)
            "SESSION_COOKIE_NAME": "__Host-hubx" if production else "hubx_session",
            "SESSION_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "SESSION_IDLE_MINUTES": _int("SESSION_IDLE_MINUTES", 30),
            "SESSION_ABSOLUTE_HOURS": _int("SESSION_ABSOLUTE_HOURS", 12),
            "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour"),
            "LOGIN_EMAIL_RATE_LIMIT": os.environ.get("LOGIN_EMAIL_RATE_LIMIT", "5 per minute;20 per hour"),
            "LOGIN_LOCK_AFTER": _int("LOGIN_LOCK_AFTER", 5),
            "LOGIN_LOCK_BASE_SECONDS": _int("LOGIN_LOCK_BASE_SECONDS", 1),
            "LOGIN_LOCK_MAX_MINUTES": _int("LOGIN_LOCK_MAX_MINUTES", 15),
            "KNOWN_BROWSER_DAYS": _int("KNOWN_BROWSER_DAYS", 365),
            "SESSION_KEEP_ENDED_DAYS": _int("SESSION_KEEP_ENDED_DAYS", 30),
            "TOKEN_USAGE_RETENTION_DAYS": _int("TOKEN_USAGE_RETENTION_DAYS", 90),
            "PASSWORD_RESET_MINUTES": _int("PASSWORD_RESET_MINUTES", 30),
            "PASSWORD_RESET_RATE_LIMIT": os.environ.get("PASSWORD_RESET_RATE_LIMIT", "5 per hour"),
            # the join flow (/join, /join/<code>, joining): attempts per address, all its entries counted together
            "JOIN_RATE_LIMIT": os.environ.get("JOIN_RATE_LIMIT", "20 per minute;100 per hour"),
            "JOIN_CODE_MINUTES": _int("JOIN_CODE_MINUTES", 60),
            "TRUSTED_PROXY_COUNT": _int("TRUSTED_PROXY_COUNT", 0),
            "HSTS_SECONDS": _int("HSTS_SECONDS", 31536000),
            "SOFT_DELETE_RETENTION_DAYS": _int("SOFT_DELETE_RETENTION_DAYS", 90),
            "BABEL_DEFAULT_LOCALE": os.environ.get("DEFAULT_LOCALE", "pt_BR"),
            "BABEL_DEFAULT_TIMEZONE": "UTC",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO").upper(),
            "TOKEN_USAGE_FLUSH_SECONDS": float(os.environ.get("TOKEN_USAGE_FLUSH_SECONDS") or 1.0),
            "FEATURE_MODULE_DENY_403": _bool("FEATURE_MODULE_DENY_403", True),
            "FEATURE_LOG_MODULE_DENIALS": _bool("FEATURE_LOG_MODULE_DENIALS", False),
            # The second factor (app.twofactor): secrets sealed with MultiFernet, first key encrypts, all decrypt
            "TWOFA_ENCRYPT_SECRETS": _bool("TWOFA_ENCRYPT_SECRETS", True),
            "TWOFA_FERNET_KEYS": _list("TWOFA_FERNET_KEYS"),  # empty: ENCRYPTION_KEYS
            "TWOFA_ISSUER": os.environ.get("TWOFA_ISSUER", "") or "Hubx Access",
            "TWOFA_REMEMBER_DAYS": _int("TWOFA_REMEMBER_DAYS", 30),
            "TWOFA_ENROLL_MINUTES": _int("TWOFA_ENROLL_MINUTES", 10),
            "TWOFA_REAUTH_MINUTES": _int("TWOFA_REAUTH_MINUTES", 15),
            "TWOFA_LOCK_AFTER": _int("TWOFA_LOCK_AFTER", 10),
            "TWOFA_LOCK_MAX_MINUTES": _int("TWOFA_LOCK_MAX_MINUTES", 15),
            "TWOFA_DISABLE_AFTER": _int("TWOFA_DISABLE_AFTER", 100),
            "TWOFA_RATE_LIMIT": os.environ.get("TWOFA_RATE_LIMIT", "10 per minute;60 per hour"),
            # Invites (app.invites): the public POST /api/v1/invites/validate, per client address
            "INVITE_VALIDATE_RATE_LIMIT": os.environ.get("INVITE_VALIDATE_RATE_LIMIT", "30 per minute;300 per hour"),
            # The portal's address as people reach it (`https://access.example.com`), for links made outside a
            # request (`flask invites create`); empty: the request's own host, or http://localhost:5000 in a command
            "PUBLIC_URL": os.environ.get("PUBLIC_URL", "").strip().rstrip("/"),
            "TWOFA_EMAIL_CODE_DIGITS": _int("TWOFA_EMAIL_CODE_DIGITS", 8),
            "TWOFA_EMAIL_CODE_MINUTES": _int("TWOFA_EMAIL_CODE_MINUTES", 10),
            "TWOFA_EMAIL_CODE_TRIES": _int("TWOFA_EMAIL_CODE_TRIES", 5),
            # salted and slow (recovery codes carry 80 bits); werkzeug's method string
            "TWOFA_RECOVERY_HASH_METHOD": os.environ.get("TWOFA_RECOVERY_HASH_METHOD", "") or "scrypt:16384:8:1",
            **_mail_settings(),
        }


def _mail_settings() -> dict:
    """SMTP and mail settings: SMTP_URL when set (`smtp://user:pass@host:587?starttls=true`, `smtps://host`),
    else the SMTP_* variables one by one. No SMTP_HOST means no SMTP: mail lands in the development outbox."""
    settings = {
        "SMTP_HOST": os.environ.get("SMTP_HOST", "").strip(),
        "SMTP_PORT": _int("SMTP_PORT", 0),
        "SMTP_USERNAME": os.environ.get("SMTP_USERNAME", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_STARTTLS": _bool("SMTP_STARTTLS", False),
        "SMTP_SSL": _bool("SMTP_SSL", False),
        "SMTP_TIMEOUT_SECONDS": _int("SMTP_TIMEOUT_SECONDS", 30),
        "SMTP_TLS_VERIFY": _bool("SMTP_TLS_VERIFY", True),
        "SMTP_CA_FILE": os.environ.get("SMTP_CA_FILE", ""),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "") or "Hubx Access <no-reply@example.com>",
        "MAIL_RETENTION_DAYS": _int("MAIL_RETENTION_DAYS", 30),
        "MAIL_MAX_ATTEMPTS": _int("MAIL_MAX_ATTEMPTS", 20),
    }
    if os.environ.get("SMTP_URL"):
        settings.update(parse_smtp_url(os.environ["SMTP_URL"]))
    return settings


def parse_smtp_url(url: str) -> dict:
    """The SMTP_* settings an SMTP_URL names. `smtp://` is plain or STARTTLS (`?starttls=true`, port 587 then,
    else 25), `smtps://` is TLS from the first byte (port 465). User and password are percent-decoded."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        # never echo the URL: it may carry the password
        raise ConfigError("SMTP_URL must look like smtp://user:password@host:587?starttls=true or smtps://host:465")
    query = {k: v[-1].strip().lower() for k, v in parse_qs(parts.query).items()}
    ssl = parts.scheme == "smtps"
    starttls = not ssl and query.get("starttls", "false") in {"1", "true", "yes", "on"}
    try:
        port = parts.port or (465 if ssl else 587 if starttls else 25)
    except ValueError as exc:
        raise ConfigError("SMTP_URL has a port that is not a number from 1 to 65535") from exc
    settings = {"SMTP_HOST": parts.hostname, "SMTP_PORT": port, "SMTP_SSL": ssl, "SMTP_STARTTLS": starttls,
                "SMTP_USERNAME": unquote(parts.username or ""), "SMTP_PASSWORD": unquote(parts.password or "")}
    if "timeout" in query and query["timeout"].isdigit():
        settings["SMTP_TIMEOUT_SECONDS"] = int(query["timeout"])
    return settings


class TestConfig:
    """Overrides for the test suite (keys are fixed, CSRF stays on: tests send the token)."""

    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production-000000000000"  # noqa: S105 (test-only)
    ENCRYPTION_KEYS = [base64.urlsafe_b64encode(b"t" * 32).decode()]
    TOKEN_HASH_KEY = "test-token-hash-key-0000000000000000"  # noqa: S105 (test-only)
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    REDIS_URL = ""
    RATELIMIT_ENABLED = True
    SERVER_NAME = None
    SMTP_HOST = ""  # the development outbox, whatever the environment says
    TWOFA_RECOVERY_HASH_METHOD = "scrypt:1024:8:1"  # the same code path, a cheaper work factor


def as_dict(obj) -> dict:
    """Upper-case attributes of a config object or mapping as a dict."""
    if isinstance(obj, dict):
        return dict(obj)
    return {k: getattr(obj, k) for k in dir(obj) if k.isupper()}


def ensure_keys(settings: dict, instance_path: str) -> list[str]:
    """Fill missing keys from instance/dev-keys.json (made once) outside production.

    Returns the names of settings that fell back to dev keys, so the caller can warn.
    In production, missing or dev keys are a ConfigError: the app must not start.
    """
    dev_file = Path(instance_path) / DEV_KEYS_FILE
    dev_keys = json.loads(dev_file.read_text()) if dev_file.exists() else None
    missing = [k for k in KEY_SETTINGS if not settings.get(k)]

    if settings.get("HUBX_ENV") == "production":
        if missing:
            raise ConfigError(f"production needs these settings: {', '.join(missing)}")
        if dev_keys and any(_same_key(settings[k], dev_keys.get(k)) for k in KEY_SETTINGS):
            raise ConfigError("production refuses the development keys from instance/dev-keys.json")
        for key in [*settings["ENCRYPTION_KEYS"], *settings.get("TWOFA_FERNET_KEYS", [])]:
            _check_fernet_key(key)
        return []

    if not missing:
        return []
    if dev_keys is None:
        dev_keys = {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ENCRYPTION_KEYS": [Fernet.generate_key().decode()],
            "TOKEN_HASH_KEY": secrets.token_urlsafe(48),
        }
        dev_file.parent.mkdir(parents=True, exist_ok=True)
        dev_file.write_text(json.dumps(dev_keys, indent=2))
        dev_file.chmod(0o600)
    for key in missing:
        settings[key] = dev_keys[key]
    return missing


def check_shared_state(settings: dict) -> None:
    """Production runs several processes (gunicorn workers, machines): state they must share, rate-limit
    counters first of all, needs Redis. Without it each worker would count on its own, and a limit of 5 per
    minute would let 5 through per worker. So production refuses to start without REDIS_URL."""
    check_lock_settings(settings)
    if settings.get("HUBX_ENV") == "production" and not settings.get("REDIS_URL"):
        raise ConfigError("production needs REDIS_URL: rate limits must hold across every worker and machine "
                          "(README, 'Configuration')")


#: the platform's bounds on sign-in protection: settings may make it stricter, never looser than these
LOCK_AFTER_MOST = 10
LOCK_MAX_MINUTES_LEAST = 1


def check_lock_settings(settings: dict) -> None:
    """Sign-in protection cannot be configured away: a lock after at most 10 failures, lasting at least a minute
    at its longest, growing from at least one second."""
    after = settings.get("LOGIN_LOCK_AFTER", 5)
    if not 1 <= after <= LOCK_AFTER_MOST:
        raise ConfigError(f"LOGIN_LOCK_AFTER must be between 1 and {LOCK_AFTER_MOST}, got {after}")
    if settings.get("LOGIN_LOCK_MAX_MINUTES", 15) < LOCK_MAX_MINUTES_LEAST:
        raise ConfigError("LOGIN_LOCK_MAX_MINUTES must be at least 1")
    if settings.get("LOGIN_LOCK_BASE_SECONDS", 1) < 1:
        raise ConfigError("LOGIN_LOCK_BASE_SECONDS must be at least 1")


def _same_key(value, dev_value) -> bool:
    if isinstance(value, list):
        return bool(set(value) & set(dev_value or []))
    return value == dev_value


def _check_fernet_key(key: str) -> None:
    try:
        Fernet(key)
    except (ValueError, TypeError) as exc:
        raise ConfigError("ENCRYPTION_KEYS holds a value that is not a Fernet key") from exc
