"""Tenancy: the current tenant of a request or job, and the guard that backs up service filters.

Services filter by tenant explicitly. The guard is the second line: while a tenant is current,
every ORM SELECT/UPDATE/DELETE of a tenant-guarded model gets `tenant_id = <current>` added, and
soft-deleted rows are hidden unless `include_deleted=True` is passed as an execution option.
`all_tenants=True` lifts the tenant filter for the few places that must look across tenants
(the tenant switcher, operators, retention jobs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from app.core.mixins import SoftDeleteMixin, TenantGuarded
from app.extensions import db

_current_tenant_id: ContextVar[int | None] = ContextVar("hubx_current_tenant_id", default=None)


def current_tenant_id() -> int | None:
    """The id of the tenant the guard filters by, or None outside a tenant."""
    return _current_tenant_id.get()


def set_current_tenant(tenant_id: int | None):
    """Make `tenant_id` current; returns a token for `reset_current_tenant`."""
    return _current_tenant_id.set(tenant_id)


def reset_current_tenant(token) -> None:
    """Undo `set_current_tenant`."""
    _current_tenant_id.reset(token)


@contextmanager
def tenant_scope(tenant_id: int | None) -> Iterator[None]:
    """Run a block (a job, a command) with `tenant_id` current."""
    token = set_current_tenant(tenant_id)
    try:
        yield
    finally:
        reset_current_tenant(token)


_guarded_cache: tuple[int, list[type]] = (0, [])


def _guarded_models(session: Session) -> list[type]:
    """Mapped classes with a tenant guard (recomputed only when new mappers appear)."""
    global _guarded_cache

    mappers = db.Model.registry.mappers
    if _guarded_cache[0] != len(mappers):
        models = [m.class_ for m in mappers if issubclass(m.class_, TenantGuarded)]
        _guarded_cache = (len(mappers), models)
    return _guarded_cache[1]


@event.listens_for(Session, "do_orm_execute")
def _guard(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the criteria added to the parent query already propagate to these loads
    options = state.execution_options
    criteria = []
    if not options.get("include_deleted", False):
        criteria.append(
            with_loader_criteria(SoftDeleteMixin, lambda cls: cls.deleted_at.is_(None), include_aliases=True)
        )
    tenant_id = _current_tenant_id.get()
    if tenant_id is not None and not options.get("all_tenants", False):
        criteria.extend(
            with_loader_criteria(model, model.tenant_id == tenant_id, include_aliases=True)
            for model in _guarded_models(state.session)
        )
    if criteria:
        state.statement = state.statement.options(*criteria)
