"""Configuration: dev keys made once outside production; production refuses missing or dev keys."""

import json

import pytest
from cryptography.fernet import Fernet

from app.config import Config, ConfigError, ensure_keys


def _settings(**overrides):
    settings = {"HUBX_ENV": "development", "SECRET_KEY": "", "ENCRYPTION_KEYS": [], "TOKEN_HASH_KEY": ""}
    settings.update(overrides)
    return settings


def test_dev_keys_are_made_once_and_reused(tmp_path):
    first = _settings()
    assert ensure_keys(first, str(tmp_path)) == ["SECRET_KEY", "ENCRYPTION_KEYS", "TOKEN_HASH_KEY"]
    second = _settings()
    ensure_keys(second, str(tmp_path))
    assert first["SECRET_KEY"] == second["SECRET_KEY"] and first["ENCRYPTION_KEYS"] == second["ENCRYPTION_KEYS"]
    Fernet(first["ENCRYPTION_KEYS"][0])  # a usable key
    assert (tmp_path / "dev-keys.json").stat().st_mode & 0o777 == 0o600


def test_production_refuses_missing_keys(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        ensure_keys(_settings(HUBX_ENV="production"), str(tmp_path))


def test_production_refuses_dev_keys(tmp_path):
    dev = _settings()
    ensure_keys(dev, str(tmp_path))
    prod = _settings(HUBX_ENV="production", SECRET_KEY="s" * 40, ENCRYPTION_KEYS=dev["ENCRYPTION_KEYS"],
                     TOKEN_HASH_KEY="h" * 40)
    with pytest.raises(ConfigError, match="development keys"):
        ensure_keys(prod, str(tmp_path))


def test_production_refuses_a_bad_fernet_key(tmp_path):
    prod = _settings(HUBX_ENV="production", SECRET_KEY="s" * 40, ENCRYPTION_KEYS=["not-a-key"], TOKEN_HASH_KEY="h")
    with pytest.raises(ConfigError, match="Fernet"):
        ensure_keys(prod, str(tmp_path))


def test_production_starts_with_real_keys(tmp_path):
    prod = _settings(HUBX_ENV="production", SECRET_KEY="s" * 40, ENCRYPTION_KEYS=[Fernet.generate_key().decode()],
                     TOKEN_HASH_KEY="h" * 40)
    assert ensure_keys(prod, str(tmp_path)) == []
    assert not (tmp_path / "dev-keys.json").exists()


def test_environment_is_read(monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("ENCRYPTION_KEYS", f"{key}, ")
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "5")
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "no")
    monkeypatch.setenv("HUBX_ENV", "production")
    settings = Config.from_env()
    assert settings["ENCRYPTION_KEYS"] == [key]
    assert settings["SESSION_IDLE_MINUTES"] == 5
    assert settings["SESSION_COOKIE_SECURE"] is False  # explicit setting beats the production default


def test_a_bad_number_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SESSION_IDLE_MINUTES", "ten")
    with pytest.raises(ConfigError, match="SESSION_IDLE_MINUTES must be a whole number"):
        Config.from_env()


def test_create_app_in_production_refuses_to_start(monkeypatch, tmp_path):
    from app import create_app

    monkeypatch.setenv("HUBX_INSTANCE_PATH", str(tmp_path))
    dev = {"SECRET_KEY": "x", "ENCRYPTION_KEYS": [], "TOKEN_HASH_KEY": "y"}
    (tmp_path / "dev-keys.json").write_text(json.dumps(dev))
    with pytest.raises(ConfigError):
        create_app({"HUBX_ENV": "production", "SECRET_KEY": "", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_refuses_to_start_without_redis(monkeypatch, tmp_path):
    # Rate-limit counters must be shared by every worker: without Redis each gunicorn worker would count alone.
    from app import create_app

    monkeypatch.setenv("HUBX_INSTANCE_PATH", str(tmp_path))
    keys = {"SECRET_KEY": "s" * 40, "ENCRYPTION_KEYS": [Fernet.generate_key().decode()], "TOKEN_HASH_KEY": "h" * 40,
            "HUBX_ENV": "production", "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    with pytest.raises(ConfigError, match="REDIS_URL"):
        create_app({**keys, "REDIS_URL": ""})
    app = create_app({**keys, "REDIS_URL": "redis://127.0.0.1:6379/15"})
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/15"
