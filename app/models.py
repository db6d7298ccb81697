"""Imports every domain's models so SQLAlchemy and Alembic see the whole schema."""


def import_models() -> None:
    """Import each models module once (idempotent)."""
    import app.audit.models  # noqa: F401
    import app.auth.models  # noqa: F401
    import app.invites.models  # noqa: F401
    import app.mail.models  # noqa: F401
    import app.permissions.models  # noqa: F401
    import app.sessions.models  # noqa: F401
    import app.tenants.models  # noqa: F401
    import app.tokens.models  # noqa: F401
    import app.twofactor.models  # noqa: F401
    import app.users.models  # noqa: F401
