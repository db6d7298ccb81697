"""What the privilege-ceiling cases share: the registry of cases (`case`), the World they act in, and helpers that
read rows back fresh. The cases live in test_privilege_ceiling.py (tokens, rules) and ceiling_people.py (sessions,
users)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select

from app.core.actor import Actor
from app.extensions import db
from app.permissions.models import PermissionRule
from app.permissions.services import create_rule
from app.tenants.models import Tenant
from app.tokens import services
from app.tokens.models import ApiToken
from app.users.models import User

SECRET = re.compile(r"hbx_p_[0-9A-Za-z]{30}")  # a whole secret (a token's short hint may be shown)
CASES: dict[str, callable] = {}


def case(name: str):
    def register(fn):
        CASES[name] = fn
        return fn

    return register


@dataclass
class World:
    """One tenant with an owner, an admin and a member, and ways to act as each of them."""

    tenant: Tenant
    owner: User
    admin: User
    member: User
    client: object
    auth: object
    secrets: dict = field(default_factory=dict)

    def token(self, user: User, scope: str, name: str = "t") -> tuple[ApiToken, str]:
        issued = services.create_token(None, self.tenant, user, name=name, scope=scope)
        db.session.commit()
        return issued.token, issued.secret

    def api(self, method: str, url: str, secret: str, body: dict | None = None):
        headers = {"Authorization": f"Bearer {secret}"}
        if method == "DELETE":
            return self.client.open("delete", url, headers=headers)
        return self.client.open(method.lower(), url, headers=headers, json=body if body is not None else {})

    def page(self, user: User, url: str, data: dict | None = None):
        self.auth.login(user)
        response = self.client.post(url, data or {})
        self.auth.logout()
        return response

    def rule(self, actor: User, subject: User, effect: str, target: str, *, scope: str = "tenant") -> int:
        rule = create_rule(Actor(actor), self.tenant, user_id=subject.id, effect=effect, target=target,
                           reason="set up", scope=scope)
        db.session.commit()
        return rule.id

    def url(self, tail: str) -> str:
        return f"/t/{self.tenant.slug}/{tail}"


def _fresh(token_id: int) -> ApiToken:
    db.session.expire_all()
    return db.session.get(ApiToken, token_id)


def _live_rule(rule_id: int) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(PermissionRule.id).where(PermissionRule.id == rule_id)
                             .execution_options(all_tenants=True)) is not None


def _tokens_named(name: str) -> int:
    db.session.expire_all()
    return len(db.session.scalars(select(ApiToken).where(ApiToken.name == name)
                                  .execution_options(all_tenants=True)).all())
