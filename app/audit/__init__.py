"""Audit: one tenant-scoped, hash-chained trail of security events."""

from app.audit.services import record

__all__ = ["record"]
