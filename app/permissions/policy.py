"""The resolver: a compiled policy per (user, tenant), and decisions with a reason an admin understands.

Sources are the member's role defaults and the user's rules (tenant rules of this tenant, global rules).
DENY beats ALLOW wherever they meet; expired rules are ignored; a user who is not active is denied
everything. A rule limited to a resource applies only to checks of that same resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from flask_babel import lazy_gettext as _l

from app.core.mixins import utcnow
from app.permissions import catalogue
from app.permissions.models import Effect, PermissionRule
from app.users.models import Role, UserStatus


class CompiledRule(NamedTuple):
    """The parts of a PermissionRule the resolver needs, detached from the session (a named tuple: a busy user
    has hundreds, and a tuple is three times cheaper to build than a frozen dataclass)."""

    id: int
    effect: Effect
    module: str
    action: str | None
    resource: str | None  # "type:id" or None
    expires_at: datetime | None
    is_global: bool
    reason: str

    @classmethod
    def of(cls, rule: PermissionRule | Sequence) -> CompiledRule:
        """From a PermissionRule, or the values of `resolver.RULE_COLUMNS` (much cheaper to load and read)."""
        if isinstance(rule, PermissionRule):
            rule = (rule.id, rule.effect, rule.module, rule.action, rule.resource_type, rule.resource_id,
                    rule.expires_at, rule.tenant_id, rule.reason)
        id_, effect, module, action, resource_type, resource_id, expires_at, tenant_id, reason = rule
        resource = f"{resource_type}:{resource_id}" if resource_type else None
        return cls(id_, effect, module, action, resource, expires_at, tenant_id is None, reason)

    def applies(self, resource: str | None, now: datetime) -> bool:
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return self.resource is None or self.resource == resource

    def describe(self) -> str:
        scope = _l("global") if self.is_global else _l("tenant")
        target = f"{self.module}.{self.action or '*'}" + (f" [{self.resource}]" if self.resource else "")
        text = str(_l("%(effect)s rule #%(id)d (%(scope)s) on %(target)s", effect=self.effect.value.upper(),
                      id=self.id, scope=scope, target=target))
        return f"{text}: {self.reason}" if self.reason else text


@dataclass(frozen=True)
class Decision:
    """The answer to one check: allowed or not, why (in words), and the rule that decided, if any."""

    allowed: bool
    reason: str
    rule: CompiledRule | None = None
    trace: tuple[str, ...] = field(default=(), compare=False)
    #: (explained decisions) what a deny beat: every allow rule that applied and the role default, if it granted
    overrode: tuple[str, ...] = field(default=(), compare=False)

    @property
    def source(self) -> str:
        """What decided, without the verdict (shown beside an Allowed/Denied badge, which says the verdict)."""
        return self.rule.describe() if self.rule is not None else self.reason


@dataclass(frozen=True)
class Subject:
    """Who the policy is for and where, as the database said at the policy's version (a change to any of it
    bumps the version: migration 0004's triggers). The bearer check reads these instead of joining them."""

    email: str
    name: str
    locked_until: datetime | None
    #: the tenant, None when it is deleted
    tenant_slug: str | None
    tenant_name: str | None
    tenant_locale: str | None
    tenant_timezone: str | None


@dataclass
class Policy:
    """Everything needed to decide for one user in one tenant, without touching the database."""

    user_id: int
    tenant_id: int
    status: UserStatus
    role: Role | None  # None: not a member (an operator looking in)
    is_operator: bool
    version: int
    rules: dict[tuple[str, str | None], tuple[CompiledRule, ...]]
    subject: Subject | None = None
    #: the status is BLOCKED because a tenant admin suspended the membership here (not the account everywhere)
    blocked_here: bool = False

    @classmethod
    def compile(cls, *, user_id: int, tenant_id: int, status: UserStatus, role: Role | None,
                is_operator: bool, version: int, rules: list[PermissionRule] | list[Sequence],
                subject: Subject | None = None, blocked_here: bool = False) -> Policy:
        index: dict[tuple[str, str | None], list[CompiledRule]] = {}
        for rule in rules:
            compiled = CompiledRule.of(rule)
            index.setdefault((compiled.module, compiled.action), []).append(compiled)
        # Deny rules first, so the first applicable rule of a bucket is the strongest.
        ordered = {k: tuple(sorted(v, key=lambda r: (r.effect != Effect.DENY, r.id))) for k, v in index.items()}
        return cls(user_id, tenant_id, status, role, is_operator, version, ordered, subject, blocked_here)

    def decide(self, key: str, resource: str | None = None, *, now: datetime | None = None,
               explain: bool = False) -> Decision:
        """Allowed or denied, and why. `key` is `module.action`; `resource` is `type:id` or None."""
        module, _, action = key.partition(".")
        if self.blocked_here:
            return Decision(False, str(_l("An administrator of this organization suspended your access here: "
                                          "everything in it is denied. Your other organizations are not affected.")))
        if self.status != UserStatus.ACTIVE:
            return Decision(False, str(_l("The account is %(status)s: everything is denied.",
                                          status=self.status.value)))
        if self.role is None and not self.is_operator:
            # Not a member: nothing here is theirs, whatever a global rule says (the pages answer 404 and tokens
            # are refused; `flask permissions check` and the explanations must say the same).
            return Decision(False, str(_l("Not a member of this tenant: everything is denied.")))
        if catalogue.get_action(key) is None:
            # Before the rules: a module-wide allow must not grant an action the catalogue does not have.
            return Decision(False, str(_l("%(key)s is not a known permission.", key=key)))
        now = now or utcnow()
        if explain:
            return self._explain(key, resource, now)
        allow: CompiledRule | None = None
        for bucket in ((module, action), (module, None)):
            for rule in self.rules.get(bucket, ()):
                if not rule.applies(resource, now):
                    continue
                if rule.effect == Effect.DENY:
                    return Decision(False, str(_l("Denied by %(rule)s.", rule=rule.describe())), rule)
                allow = allow or rule
        if allow is not None:
            return Decision(True, str(_l("Allowed by %(rule)s.", rule=allow.describe())), allow)
        if self._role_grants(key):
            return Decision(True, self._role_reason(key))
        return Decision(False, str(_l("No role default or rule grants %(key)s.", key=key)))

    def _explain(self, key: str, resource: str | None, now: datetime) -> Decision:
        """`decide` with the trace of every source considered. A deny does not stop the trace: every rule and the
        role default are still listed, and what the deny beat (the allow rules that applied, the role default
        when it grants) is named in `overrode`, as an allow's trace names the role default it went past."""
        module, _, action = key.partition(".")
        trace: list[str] = []
        deny: CompiledRule | None = None
        allows: list[CompiledRule] = []
        for bucket in ((module, action), (module, None)):
            for rule in self.rules.get(bucket, ()):
                if not rule.applies(resource, now):
                    trace.append(str(_l("ignored: %(rule)s (expired or another resource)", rule=rule.describe())))
                    continue
                trace.append(str(_l("matches: %(rule)s", rule=rule.describe())))
                if rule.effect == Effect.DENY:
                    deny = deny or rule
                else:
                    allows.append(rule)
        role_grant = self._role_grants(key)
        trace.append(self._role_line(key, role_grant))
        if deny is not None:
            overrode = tuple(rule.describe() for rule in allows) + ((self._role_reason(key),) if role_grant else ())
            return Decision(False, str(_l("Denied by %(rule)s.", rule=deny.describe())), deny, tuple(trace), overrode)
        allow = allows[0] if allows else None
        if allow is not None:
            return Decision(True, str(_l("Allowed by %(rule)s.", rule=allow.describe())), allow, tuple(trace))
        if role_grant:
            return Decision(True, self._role_reason(key), None, tuple(trace))
        return Decision(False, str(_l("No role default or rule grants %(key)s.", key=key)), None, tuple(trace))

    def allows(self, key: str, resource: str | None = None, *, now: datetime | None = None) -> bool:
        """`decide(key, resource).allowed`, without building the reason: for callers that only need the answer
        (the bearer check on every API request). Translating the reason is most of what `decide` costs."""
        if self.status != UserStatus.ACTIVE or catalogue.get_action(key) is None:
            return False
        if self.role is None and not self.is_operator:
            return False
        module, _, action = key.partition(".")
        now = now or utcnow()
        allowed = False
        for bucket in ((module, action), (module, None)):
            for rule in self.rules.get(bucket, ()):
                if rule.applies(resource, now):
                    if rule.effect == Effect.DENY:
                        return False  # deny wins wherever it is met, as in decide()
                    allowed = True
        return allowed or self._role_grants(key)

    def _role_grants(self, key: str) -> bool:
        if self.role is not None:
            return catalogue.role_grants(self.role, key)
        # An operator who is not a member may look (every `view` action), nothing more.
        return self.is_operator and key.endswith(".view") and catalogue.get_action(key) is not None

    def _role_reason(self, key: str) -> str:
        if self.role is None:
            return str(_l("Platform operators may view every tenant."))
        return str(_l("The role %(role)s includes %(key)s by default.", role=self.role.label, key=key))

    def _role_line(self, key: str, granted: bool) -> str:
        if granted:
            return self._role_reason(key)
        who = self.role.label if self.role is not None else _l("non-member")
        return str(_l("The role %(role)s does not include %(key)s.", role=who, key=key))
