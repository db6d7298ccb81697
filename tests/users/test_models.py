"""Users' tables and enums: roles and their ranks."""

from app.users.models import Role


def test_role_ranks():
    assert Role.OWNER.at_least(Role.ADMIN) and Role.ADMIN.at_least(Role.ADMIN)
    assert not Role.MANAGER.at_least(Role.ADMIN) and Role.MEMBER.rank < Role.MANAGER.rank
