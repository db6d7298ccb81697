"""The tenant guard and soft delete, below the services."""

from sqlalchemy import select

from app.core.tenancy import current_tenant_id, tenant_scope
from app.extensions import db
from app.tenants.models import Tenant
from app.users.models import Membership, Role


def test_guard_hides_other_tenants_rows(member_of, create_tenant):
    a, b = create_tenant(), create_tenant()
    member_of(tenant=a)
    member_of(tenant=b)
    with tenant_scope(a.id):
        assert current_tenant_id() == a.id
        assert {m.tenant_id for m in db.session.scalars(select(Membership))} == {a.id}
        everywhere = db.session.scalars(select(Membership).execution_options(all_tenants=True)).all()
        assert {m.tenant_id for m in everywhere} == {a.id, b.id}
        # get() by a foreign id finds nothing either
        foreign = db.session.scalar(select(Membership.id).where(Membership.tenant_id == b.id)
                                    .execution_options(all_tenants=True))
        db.session.expunge_all()
        assert db.session.get(Membership, foreign) is None
    assert current_tenant_id() is None


def test_guard_applies_to_bulk_updates(member_of, create_tenant):
    from sqlalchemy import update

    a, b = create_tenant(), create_tenant()
    member_of(tenant=a)
    member_of(tenant=b)
    with tenant_scope(a.id):
        db.session.execute(update(Membership).values(role=Role.ADMIN))
    db.session.commit()
    roles = dict(db.session.execute(select(Membership.tenant_id, Membership.role)).all())
    assert roles == {a.id: Role.ADMIN, b.id: Role.MEMBER}


def test_soft_delete_hides_and_restore_brings_back(create_tenant):
    tenant = create_tenant(slug="gone")
    tenant.soft_delete()
    db.session.commit()
    db.session.expunge_all()
    assert db.session.scalar(select(Tenant).where(Tenant.slug == "gone")) is None
    hidden = db.session.scalar(select(Tenant).where(Tenant.slug == "gone").execution_options(include_deleted=True))
    assert hidden is not None and hidden.is_deleted
    hidden.restore()
    db.session.commit()
    db.session.expunge_all()
    assert db.session.scalar(select(Tenant).where(Tenant.slug == "gone")).is_deleted is False


def test_timestamps_are_utc_aware(create_tenant):
    tenant_id = create_tenant().id
    db.session.expunge_all()
    tenant = db.session.get(Tenant, tenant_id)
    assert tenant.created_at.tzinfo is not None and tenant.updated_at >= tenant.created_at
