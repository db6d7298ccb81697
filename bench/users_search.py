"""The users list of a large tenant (issue 12): `member_list` with several searches, filters and orders, on one
tenant of 100,000 members, with the share of the count query and of the page query, and each one's plan.

    .venv/bin/python bench/users_search.py [--database-url URL] [--members 100000] [--runs 60] [--no-explain]

Without --database-url a fresh SQLite file in a temporary directory (for reference); a PostgreSQL database
given has its schema DROPPED and re-created (give it one of its own). The cases run in rotating order, one call
each per round, `--runs` rounds; p50/p95 of the whole call (`page_of`: the count, then the page) and the median
of each of its two statements (timed between SQLAlchemy's before/after cursor events); the count stops at
COUNT_UP_TO rows as the users page's does ("more than 1,000 members"). Then EXPLAIN ANALYZE
(PostgreSQL) or EXPLAIN QUERY PLAN (SQLite) of both statements of each case, on the very SQL and parameters the
app sent. Budget (issue 12): every search under 100 ms at p95 on PostgreSQL; exits 1 when one misses it.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_me  # noqa: E402  (bench settings, machine facts)
import session_page  # noqa: E402  (statement recorder, EXPLAIN, percentile)

BUDGET_MS = 100
TRGM_INDEXES = ("ix_user_account_email_trgm", "ix_user_account_name_trgm",  # migration 0008
                "ix_user_account_email_prefix", "ix_user_account_name_prefix")  # migration 0009
FIRST = ["anna", "maria", "joão", "ana", "lucas", "pedro", "sofia", "miguel", "julia", "rafael", "laura", "daniel",
         "beatriz", "gabriel", "helena", "tiago", "carla", "bruno", "marta", "diego", "emma", "noah", "olivia",
         "liam", "hannah", "jonas", "lea", "paul", "clara", "felix"]
LAST = ["silva", "santos", "oliveira", "souza", "pereira", "costa", "rodrigues", "almeida", "nascimento", "lima",
        "araujo", "fernandes", "carvalho", "gomes", "martins", "rocha", "ribeiro", "alves", "monteiro", "mendes",
        "müller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "hoffmann", "koch"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "hubx.example"]
RARE = "oyelaran"  # the surname of 12 members only


def cases():
    from app.users.admin import MemberQuery, MemberState, Sort
    from app.users.models import Role

    return {
        "rare substring": MemberQuery(q=RARE),
        "common substring": MemberQuery(q="ana"),
        "email prefix": MemberQuery(q="maria.silva"),
        "one letter (start)": MemberQuery(q="e"),
        "two letters (start)": MemberQuery(q="ma"),
        "two letters, rare (start)": MemberQuery(q="qz"),
        "no search, state=blocked": MemberQuery(state=MemberState.BLOCKED),
        "no search, role=admin": MemberQuery(role=Role.ADMIN),
        "no search, sort last sign-in": MemberQuery(sort=Sort.LAST_SIGN_IN),
        "no search (default order)": MemberQuery(),
    }


def seed(members: int) -> int:
    """One tenant of `members` members (users, profiles, memberships) plus a small second tenant; its id."""
    from sqlalchemy import insert, select

    from app.core.mixins import utcnow
    from app.extensions import db
    from app.tenants.models import Tenant
    from app.users.models import Membership, Profile, Role, User, UserStatus

    rng = random.Random(12)
    now = utcnow()
    tenant = Tenant(slug="big", name="Big", default_locale="en", timezone="UTC")
    other = Tenant(slug="small", name="Small", default_locale="en", timezone="UTC")
    db.session.add_all([tenant, other])
    db.session.flush()
    roles = [Role.MEMBER] * 90 + [Role.MANAGER] * 7 + [Role.ADMIN] * 2 + [Role.OWNER]
    for start in range(0, members, 5000):
        users = []
        for i in range(start, min(members, start + 5000)):
            first, last = rng.choice(FIRST), RARE if i % (members // 12 or 1) == 7 else rng.choice(LAST)
            users.append({"email": f"{first}.{last}{i}@{rng.choice(DOMAINS)}", "name": f"{first} {last}".title(),
                          "password_hash": "-", "is_operator": False, "created_at": now, "updated_at": now})
        db.session.execute(insert(User), users)
    ids = list(db.session.scalars(select(User.id).order_by(User.id)))
    for start in range(0, len(ids), 5000):
        chunk = ids[start:start + 5000]
        db.session.execute(insert(Profile), [{
            "user_id": u, "status": UserStatus.BLOCKED if u % 50 == 0 else UserStatus.ACTIVE,
            "failed_login_count": 0, "locked_until": now + timedelta(minutes=10) if u % 200 == 1 else None,
            "last_login_at": None if u % 5 == 0 else now - timedelta(minutes=rng.randrange(200_000)),
            "created_at": now, "updated_at": now} for u in chunk])
        db.session.execute(insert(Membership), [{
            "tenant_id": tenant.id, "user_id": u, "role": roles[rng.randrange(len(roles))],
            "blocked_at": now if u % 97 == 0 else None, "deleted_at": now if u % 100 == 3 else None,
            "created_at": now - timedelta(days=rng.randrange(700)), "updated_at": now} for u in chunk])
    db.session.execute(insert(Membership), [{"tenant_id": other.id, "user_id": u, "role": Role.MEMBER,
                                             "created_at": now, "updated_at": now} for u in ids[:500]])
    db.session.commit()
    api_me.settle_database()
    return tenant.id


class Timed(session_page.Statements):
    """Also times each statement between before_ and after_cursor_execute."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.ms: list[float] = []

    def _on(self, *args):
        super()._on(*args)
        self._started = time.perf_counter()

    def _after(self, *_args):
        self.ms.append((time.perf_counter() - self._started) * 1000)

    def __enter__(self):
        from sqlalchemy import event

        super().__enter__()
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine, "after_cursor_execute", self._after)
        super().__exit__(*exc)


def measure(engine, tenant, chosen: dict, args) -> dict:
    """Every case `args.runs` times in rotating order: totals, per-statement times, rows found, plans."""
    from app.core.mixins import utcnow
    from app.extensions import db
    from app.users.admin import COUNT_UP_TO, member_list

    now = utcnow()
    totals = {name: [] for name in chosen}
    parts = {name: [] for name in chosen}
    found, sent = {}, {}
    for name, query in chosen.items():  # warm-up, and what each finds
        for _ in range(3):
            page = member_list(tenant, query, now=now, page=1, count_up_to=COUNT_UP_TO)
        found[name] = (page.total if page.exact else f"{page.total}+", len(page.items))
        db.session.rollback()
    gc.collect()
    gc.freeze()
    names = list(chosen)
    for run in range(args.runs):
        shift = run % len(names)
        for name in names[shift:] + names[:shift]:
            with Timed(engine) as timed:
                started = time.perf_counter()
                member_list(tenant, chosen[name], now=now, page=1, count_up_to=COUNT_UP_TO)
                totals[name].append((time.perf_counter() - started) * 1000)
            parts[name].append(timed.ms[-2:])  # page_of's two statements: the count, then the page
            sent[name] = timed.seen[-2:]
            db.session.rollback()  # a request's session ends; nothing is cached between calls
    gc.unfreeze()
    plans = {}
    if not args.no_explain:
        plans = {name: [session_page.explain(engine, statement, params) for statement, params in statements]
                 for name, statements in sent.items()}
    return {"totals": totals, "parts": parts, "found": found, "plans": plans}


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    args.add_argument("--members", type=int, default=100_000)
    args.add_argument("--runs", type=int, default=60, help="rounds; each case runs once a round (default 60)")
    args.add_argument("--no-explain", action="store_true")
    args.add_argument("--compare-without-index", action="store_true",
                      help="PostgreSQL: then drop migration 0008's trigram indexes and measure again")
    args = args.parse_args()
    os.environ.update(api_me.BENCH_ENV)
    with tempfile.TemporaryDirectory(prefix="hubx-bench-users-") as tmp:
        os.environ["HUBX_INSTANCE_PATH"] = str(Path(tmp) / "instance")
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        from flask_migrate import upgrade
        from sqlalchemy import text

        from app import create_app
        from app.extensions import db
        from app.tenants.models import Tenant

        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.test_request_context("/"):
            engine = db.engine
            dialect = engine.dialect.name
            if dialect == "postgresql":
                with engine.begin() as conn:
                    conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            upgrade()
            print(f"seeding {args.members:,} members ...", flush=True)
            started = time.perf_counter()
            tenant_id = seed(args.members)
            print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
            version = ".".join(map(str, engine.dialect.server_version_info or ()))
            heads = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
            tenant = db.session.get(Tenant, tenant_id)
            db.session.expunge(tenant)  # detached: reading tenant.id sends no query after each rollback
            chosen = cases()
            phases = {"as migrated": measure(engine, tenant, chosen, args)}
            if dialect == "postgresql" and args.compare_without_index:
                with engine.begin() as conn:
                    for name in TRGM_INDEXES:
                        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
                phases["trigram indexes dropped"] = measure(engine, tenant, chosen, args)
            db.session.remove()
            engine.dispose()
    print()
    print(f"database: {dialect} {version} (schema at {heads}); {args.members:,} members in one tenant; "
          f"machine: {api_me.machine()}")
    ok = True
    for phase, result in phases.items():
        print(f"\n{phase}: {args.runs} runs a case, rotating order; ms per member_list call (count + page)")
        print(f"{'case':<30} {'total':>7} {'rows':>5} {'p50':>8} {'p95':>8} {'count p50':>10} {'page p50':>9}")
        for name, query in chosen.items():
            totals, found = result["totals"][name], result["found"][name]
            p95 = session_page.percentile(totals, 95)
            over = dialect == "postgresql" and bool(query.q) and p95 >= BUDGET_MS
            if phase == "as migrated":
                ok &= not over
            print(f"{name:<30} {found[0]:>7} {found[1]:>5} {statistics.median(totals):>8.1f} {p95:>8.1f} "
                  f"{statistics.median(p[0] for p in result['parts'][name]):>10.1f} "
                  f"{statistics.median(p[-1] for p in result['parts'][name]):>9.1f}{'  OVER' if over else ''}")
    if dialect == "postgresql":
        print(f"\nbudget: searches under {BUDGET_MS} ms at p95 (as migrated): {'met' if ok else 'MISSED'}")
    for phase, result in phases.items():
        for name, statement_plans in result["plans"].items():
            print(f"\n== {phase}: {name}")
            for label, plan in zip(("count", "page"), statement_plans, strict=False):
                print(f"  -- {label}")
                for line in plan:
                    print(f"     {line}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
