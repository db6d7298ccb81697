"""What the server-side session check costs a signed-in page (issue 12): the same pages, in-process, with the
real check (Flask-Login's user loader reading `user_session` by its digest) and with the loader swapped for a
stub that hands back the same person without touching the database, in alternating blocks, with 100,000
sessions in the table.

    .venv/bin/python bench/session_page.py [--database-url URL] [--sessions 100000] [--users 10000]
                                           [--requests 4000] [--rounds 10] [--paths /,/t/bench/]

Without --database-url a fresh SQLite file in a temporary directory; a PostgreSQL database given has its schema
DROPPED and re-created (give it one of its own). Prints p50/p95 of each page with and without the check and the
ratio p95(with)/p95(without) (budget 1.5x), the SQL statements of one request of each (and of a request that
is due to write `last_seen_at`), and the plan of the session read (EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN
on SQLite) run on the very statement and parameters the app sent. Exits 1 when the budget is missed.
"""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_me  # noqa: E402  (bench settings, machine facts)
import service_time  # noqa: E402  (the in-process WSGI call)

BUDGET = 1.5
USER_AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--sessions", type=int, default=100_000, help="rows in user_session (default 100000)")
    parser.add_argument("--users", type=int, default=10_000, help="people the sessions belong to")
    parser.add_argument("--members", type=int, default=200, help="of them, members of the bench tenant")
    parser.add_argument("--requests", type=int, default=4000, help="timed requests per page and variant")
    parser.add_argument("--rounds", type=int, default=10, help="alternating blocks per page and variant")
    parser.add_argument("--paths", default="/,/t/bench/", help="signed-in pages, comma-separated")
    args = parser.parse_args()
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    return args


def seed(args: argparse.Namespace) -> tuple[int, str]:
    """Users, profiles, one tenant; `sessions` rows over the users; returns (the bench user's id, its raw sid)."""
    from sqlalchemy import insert, select

    from app.core.crypto import Sealed, crypto
    from app.core.mixins import utcnow
    from app.extensions import db
    from app.sessions.devices import device_label
    from app.sessions.models import EndReason, UserSession
    from app.tenants.models import Tenant
    from app.users.models import Membership, Profile, Role, User, UserStatus

    now = utcnow()
    stamp = {"created_at": now, "updated_at": now}
    tenant = Tenant(slug="bench", name="Bench", default_locale="en", timezone="UTC")
    db.session.add(tenant)
    db.session.flush()
    for start in range(0, args.users, 5000):
        db.session.execute(insert(User), [
            {"email": f"user{i}@bench.example.com", "name": f"User {i}", "password_hash": "-",
             "is_operator": False, **stamp} for i in range(start, min(args.users, start + 5000))])
    user_ids = list(db.session.scalars(select(User.id).order_by(User.id)))
    db.session.execute(insert(Profile), [{"user_id": u, "status": UserStatus.ACTIVE, "failed_login_count": 0,
                                          **stamp} for u in user_ids])
    roles = [Role.OWNER] + [Role.MEMBER] * 6 + [Role.MANAGER] * 2 + [Role.ADMIN]
    db.session.execute(insert(Membership), [{"tenant_id": tenant.id, "user_id": u, "role": roles[i % len(roles)],
                                             **stamp} for i, u in enumerate(user_ids[:args.members])])
    # Ciphertexts made once each and stored as they are (Sealed): the rows look encrypted, the seed stays fast.
    sealed_ua = [Sealed(crypto().encrypt(ua)) for ua in USER_AGENTS]
    sealed_ip = [Sealed(crypto().encrypt(f"203.0.113.{i}")) for i in range(50)]
    bench_at, raw = args.sessions // 2, secrets.token_urlsafe(32)
    rows = []
    for i in range(args.sessions):
        kind, seen = i % 10, now - timedelta(minutes=i % 25)
        rows.append({
            "user_id": user_ids[0] if i == bench_at else user_ids[i % len(user_ids)],
            "digest": crypto().digest(raw) if i == bench_at else secrets.token_hex(32),
            "tenant_id": tenant.id if i % len(user_ids) < args.members else None,
            "ip": sealed_ip[i % len(sealed_ip)], "user_agent": sealed_ua[i % len(sealed_ua)],
            "device": device_label(USER_AGENTS[i % len(USER_AGENTS)]), "signed_in_at": seen - timedelta(hours=1),
            "last_seen_at": now if i == bench_at else seen, "expires_at": now + timedelta(hours=11),
            "ended_at": now - timedelta(hours=2) if kind == 1 and i != bench_at else None,
            "end_reason": EndReason.IDLE if kind == 1 and i != bench_at else None, **stamp})
        if len(rows) >= 5000:
            db.session.execute(insert(UserSession), rows)
            rows = []
    if rows:
        db.session.execute(insert(UserSession), rows)
    db.session.commit()
    api_me.settle_database()
    return user_ids[0], raw


def prepare(args: argparse.Namespace, url: str) -> tuple[int, str, dict]:
    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from app import create_app
    from app.extensions import db
    from app.sessions.models import UserSession

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        started = time.perf_counter()
        user_id, raw = seed(args)
        facts = {"dialect": engine.dialect.name,
                 "server_version": ".".join(map(str, engine.dialect.server_version_info or ())),
                 "sessions": db.session.scalar(select(func.count()).select_from(UserSession)),
                 "seed_seconds": round(time.perf_counter() - started, 1)}
        db.session.remove()
        engine.dispose()
    return user_id, raw, facts


def stub_loader(app, user_id: int):
    """A user loader that returns the bench user, loaded once here, merged into each request's session without
    a query (`load=False`): the page gets the same person, the database is not asked."""
    from app.extensions import db
    from app.users.models import User

    with app.app_context():
        preloaded = db.session.get(User, user_id)
        _ = preloaded.profile  # eager (joined) already; made explicit
        db.session.expunge_all()
        db.session.remove()

    def load(_user_id: str):
        return db.session.merge(preloaded, load=False)

    return load


class Statements:
    """Records (statement, parameters) sent by SQLAlchemy on this engine while active."""

    def __init__(self, engine) -> None:
        self.engine, self.seen = engine, []

    def _on(self, _conn, _cursor, statement, parameters, _context, _many):
        self.seen.append((statement, parameters))

    def __enter__(self):
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *_exc):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._on)


def signed_in_answer(app, environ: dict) -> str:
    """The Location of one answer ('' when none): a redirect to the sign-in page means the check refused."""
    from werkzeug.test import run_wsgi_app

    _body, _status, headers = run_wsgi_app(app, dict(environ), buffered=True)
    return headers.get("Location", "")


def first_words(statement: str) -> str:
    words = " ".join(statement.split())
    return words[:90] + ("…" if len(words) > 90 else "")


def explain(engine, statement: str, parameters) -> list[str]:
    prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if engine.dialect.name == "postgresql" \
        else "EXPLAIN QUERY PLAN "
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(prefix + statement, parameters)
        rows = cursor.fetchall()
        raw.rollback()
    finally:
        raw.close()
    return [str(row[-1]) for row in rows]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def main() -> int:
    args = parse_args()
    os.environ.update(api_me.BENCH_ENV)
    with tempfile.TemporaryDirectory(prefix="hubx-bench-sessions-") as tmp:
        os.environ["HUBX_INSTANCE_PATH"] = str(Path(tmp) / "instance")
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(f"seeding {args.sessions:,} sessions over {args.users:,} users ...", flush=True)
        user_id, raw, facts = prepare(args, url)
        print(f"  done in {facts['seed_seconds']} s", flush=True)
        os.environ["DATABASE_URL"] = url
        from app import create_app
        from app.extensions import db, login_manager
        from app.sessions.web import SESSION_ID_KEY

        app = create_app()
        real = login_manager._user_callback
        stub = stub_loader(app, user_id)
        variants = {"with check": real, "stub": stub}
        client = app.test_client()
        with client.session_transaction() as session:  # what sign-in leaves in the cookie
            session[SESSION_ID_KEY] = raw
            session["_user_id"] = str(user_id)
            session["_fresh"] = True
        client.get(args.paths[0])
        cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
        environs = {}
        for path in args.paths:
            environ = service_time.environ_for(path, "unused")
            environ["HTTP_COOKIE"] = f"{cookie.key}={cookie.value}"
            environ.pop("HTTP_AUTHORIZATION", None)
            environs[path] = environ
        with app.app_context():
            engine = db.engine
        results, counts, plan = {}, {}, []
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        try:
            for path, environ in environs.items():
                expected = None
                for name, loader in variants.items():  # warm-up; both must answer alike (a redirect to
                    login_manager._user_callback = loader  # the sign-in page would mean the check failed)
                    for _ in range(200):
                        status = service_time.call(app, environ)
                    if expected is None:
                        expected = status
                    location = signed_in_answer(app, environ)
                    if status != expected or status >= 400 or "/auth/login" in location:
                        raise RuntimeError(f"{path} {name}: {status} {location} (other variant: {expected})")
                    with Statements(engine) as recorded:
                        service_time.call(app, environ)
                    counts[(path, name)] = recorded.seen
                samples = {name: [] for name in variants}
                per_block = max(1, args.requests // args.rounds)
                for round_no in range(args.rounds):
                    order = list(variants) if round_no % 2 == 0 else list(reversed(variants))
                    for name in order:
                        login_manager._user_callback = variants[name]
                        block = samples[name]
                        for _ in range(per_block):
                            started = time.perf_counter_ns()
                            service_time.call(app, environ)
                            block.append((time.perf_counter_ns() - started) / 1000)
                results[path] = {name: (statistics.median(v), percentile(v, 95), len(v))
                                 for name, v in samples.items()}
            # Activity: with last_seen_at two minutes old a request writes it (one conditional UPDATE), the next
            # one does not.
            login_manager._user_callback = real
            from sqlalchemy import update

            from app.core.mixins import utcnow
            from app.sessions.models import UserSession
            for path in args.paths:
                with engine.begin() as conn:
                    conn.execute(update(UserSession).where(UserSession.user_id == user_id,
                                                           UserSession.ended_at.is_(None))
                                 .values(last_seen_at=utcnow() - timedelta(minutes=2)))
                for label in ("seen 2 min ago", "right after"):
                    with Statements(engine) as recorded:
                        service_time.call(app, environs[path])
                    counts[(path, label)] = recorded.seen
            session_read = [(s, p) for s, p in counts[(args.paths[0], "with check")] if "user_session" in s]
            if session_read:
                plan = explain(engine, *session_read[0])
        finally:
            login_manager._user_callback = real
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            gc.unfreeze()
    return report(args, facts, results, counts, plan)


def report(args, facts, results, counts, plan) -> int:
    print()
    print(f"database: {facts['dialect']} {facts['server_version']}; {facts['sessions']:,} sessions; "
          f"machine: {api_me.machine()}")
    print(f"{args.requests} requests per page and variant in {args.rounds} alternating blocks; µs per request")
    print(f"{'page':<14} {'variant':<12} {'n':>6} {'p50':>8} {'p95':>8} {'statements':>11}")
    ok = True
    for path, by_variant in results.items():
        for name, (p50, p95, n) in by_variant.items():
            print(f"{path:<14} {name:<12} {n:>6} {p50:>8.0f} {p95:>8.0f} {len(counts[(path, name)]):>11}")
    print()
    for path, by_variant in results.items():
        ratio = by_variant["with check"][1] / by_variant["stub"][1]
        extra = len(counts[(path, "with check")]) - len(counts[(path, "stub")])
        ok &= ratio <= BUDGET
        print(f"{path}: p95 with the check {ratio:.2f}x the stub's ({'within' if ratio <= BUDGET else 'OVER'} "
              f"{BUDGET}x); p50 {by_variant['with check'][0] - by_variant['stub'][0]:+.0f} µs; "
              f"statements {extra:+d}")
    print()
    for key, seen in counts.items():
        print(f"statements of {key[0]} ({key[1]}): {len(seen)}")
        for statement, _params in seen:
            print(f"    {first_words(statement)}")
    print()
    print("plan of the session read:")
    for line in plan:
        print(f"    {line}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
