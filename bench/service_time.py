"""The in-process service time of `GET /api/v1/me` against the floor's: both WSGI callables called directly, one
after the other, in one thread, no sockets, no gunicorn. What is left is each app's own work per request (Flask,
the hooks, the token check, the driver and the database), which wrk's figures mix with the machine's.

    .venv/bin/python bench/service_time.py [--database-url URL] [--tokens 10000[,1000000]] [--requests 3000]
                                           [--rounds 5] [--profile 25]

Without --database-url it runs on a fresh SQLite file in a temporary directory; a PostgreSQL database given
with --database-url has its schema DROPPED and re-created (give it a database of its own, as for api_me.py).
With several token counts (`--tokens 10000,1000000`) the table is seeded anew for each and the cost per
request compared (the budget: flat within 10 %). The two apps run in alternating blocks (`--rounds`), and the
median block counts, so a slow moment of the machine hits both. `--profile N` prints the N functions where
the product's time goes (cProfile, by own time, then by cumulative time), after the timed runs.

For each app it also counts, in one separate pass, the SQL statements and the database round trips of one
request (on PostgreSQL: every message exchange psycopg waits for, BEGIN, COMMIT, ROLLBACK and pings included;
the usage writer's thread is not counted). Budget (issue 10): the product's service time at most 1.8x the
floor's. Exits 1 when it is missed, or when the cost per request moves by more than 10 % between token counts.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_me  # noqa: E402  (the seed and the bench settings, shared with the wrk bench)

BUDGET_RATIO = 1.8
FLAT_PCT = 10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--tokens", default="10000", help="rows in api_token; a comma-separated list compares")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3000, help="requests per app and token count")
    parser.add_argument("--rounds", type=int, default=5, help="alternating blocks per app (default 5)")
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions of the product")
    args = parser.parse_args()
    args.tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    return args


class RoundTrips:
    """Counts, on this thread only, SQL statements (SQLAlchemy's cursor events, and `DirectRead`'s) and, on
    PostgreSQL, the exchanges with the server (psycopg's execute, plus the BEGIN it sends first, and a COMMIT or
    ROLLBACK that has a transaction to end)."""

    def __init__(self) -> None:
        self.statements = 0
        self.round_trips = 0
        self.thread = threading.get_ident()
        self._undo: list = []

    def __enter__(self) -> RoundTrips:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        def on_statement(*_args, **_kwargs):
            if threading.get_ident() == self.thread:
                self.statements += 1

        event.listen(Engine, "before_cursor_execute", on_statement)
        self._undo.append(lambda: event.remove(Engine, "before_cursor_execute", on_statement))
        from app.core.db import DirectRead  # the bearer check's read, on the driver's cursor: no engine event

        DirectRead.observers.append(on_statement)
        self._undo.append(lambda: DirectRead.observers.remove(on_statement))
        try:
            import psycopg
            from psycopg.pq import TransactionStatus
        except ImportError:
            return self
        counter = self

        def wrap_execute(original):
            def execute(cursor, *args, **kwargs):
                if threading.get_ident() == counter.thread:
                    conn = cursor.connection
                    counter.round_trips += 1
                    if not conn.autocommit and conn.pgconn.transaction_status == TransactionStatus.IDLE:
                        counter.round_trips += 1  # psycopg sends BEGIN first, and waits for it
                return original(cursor, *args, **kwargs)
            return execute

        def wrap_end(original):
            def end(conn, *args, **kwargs):
                if threading.get_ident() == counter.thread and \
                        conn.pgconn.transaction_status != TransactionStatus.IDLE:
                    counter.round_trips += 1
                return original(conn, *args, **kwargs)
            return end

        for cls, name, wrap in ((psycopg.Cursor, "execute", wrap_execute), (psycopg.Connection, "commit", wrap_end),
                                (psycopg.Connection, "rollback", wrap_end)):
            original = getattr(cls, name)
            setattr(cls, name, wrap(original))
            self._undo.append(lambda cls=cls, name=name, original=original: setattr(cls, name, original))
        return self

    def __exit__(self, *_exc) -> None:
        for undo in reversed(self._undo):
            undo()


def environ_for(path: str, secret: str) -> dict:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path=path, headers={"Authorization": f"Bearer {secret}"},
                             environ_base={"REMOTE_ADDR": "127.0.0.1"})
    try:
        return builder.get_environ()
    finally:
        builder.close()


def call(app, environ: dict) -> int:
    """One request through the WSGI callable; returns the status code (the body is consumed, as a server would)."""
    status: list[str] = []

    def start_response(line, _headers, _exc_info=None):
        status.append(line)

    body = app(dict(environ), start_response)
    try:
        for _chunk in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return int(status[0].split(" ", 1)[0])


def timed_block(app, environ: dict, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call(app, environ)
    return (time.perf_counter() - started) / n


def measure(apps: dict, environs: dict, args: argparse.Namespace) -> dict:
    per_round = max(1, args.requests // args.rounds)
    for name, app in apps.items():  # warm-up: caches, prepared statements, the pool
        for _ in range(200):
            status = call(app, environs[name])
            if status != 200:
                raise RuntimeError(f"{name} answered {status}")
    blocks: dict[str, list[float]] = {name: [] for name in apps}
    for round_no in range(args.rounds):
        order = list(apps) if round_no % 2 == 0 else list(reversed(apps))  # alternate who goes first
        for name in order:
            blocks[name].append(timed_block(apps[name], environs[name], per_round))
    results = {}
    for name in apps:
        with RoundTrips() as counted:
            call(apps[name], environs[name])
        results[name] = {"us": statistics.median(blocks[name]) * 1e6,
                         "spread_us": (max(blocks[name]) - min(blocks[name])) * 1e6,
                         "statements": counted.statements, "round_trips": counted.round_trips}
    return results


def profile(app, environ: dict, n: int, top: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        call(app, environ)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def run_once(args: argparse.Namespace, url: str, tokens: int, workdir: Path) -> tuple[dict, str]:
    seed_args = argparse.Namespace(tokens=tokens, members=args.members)
    print(f"seeding {tokens:,} tokens ...", flush=True)
    secret, facts = api_me.prepare_database(seed_args, url)
    print(f"  done in {facts['seed_seconds']} s", flush=True)
    os.environ["DATABASE_URL"] = url
    from app import create_app

    product = create_app()
    import floor_app  # reads DATABASE_URL at import: imported (or reloaded) after it is set

    if getattr(floor_app, "_bench_url", None) != url:
        import importlib

        floor_app.engine.dispose()
        floor_app = importlib.reload(floor_app)
        floor_app._bench_url = url
    apps = {"floor": floor_app.app, "/me": product}
    environs = {"floor": environ_for("/floor", secret), "/me": environ_for("/api/v1/me", secret)}
    # As wsgi.py does in each worker: what exists now lives as long as the process.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    try:
        results = measure(apps, environs, args)
        report = profile(product, environs["/me"], args.requests, args.profile) if args.profile else ""
    finally:
        from app.extensions import db

        with product.app_context():
            buffer = product.extensions.get("hubx_token_usage")
            if buffer is not None:
                buffer.stop()
                buffer.flush()  # what waits, while the database file still exists
            db.session.remove()
            db.engine.dispose()
        floor_app.engine.dispose()
        gc.unfreeze()
    return {"facts": facts, "apps": results}, report


def main() -> int:
    args = parse_args()
    os.environ.update(api_me.BENCH_ENV)
    ok = True
    with tempfile.TemporaryDirectory(prefix="hubx-bench-service-") as tmp:
        workdir = Path(tmp)
        os.environ["HUBX_INSTANCE_PATH"] = str(workdir / "instance")
        runs = []
        for tokens in args.tokens:
            # PostgreSQL's schema is dropped and made anew for each count; SQLite gets a new file
            url = args.database_url or f"sqlite:///{workdir / f'bench-{tokens}.db'}"
            result, report = run_once(args, url, tokens, workdir)
            runs.append((tokens, result))
            if report:
                print(report)
    print()
    print(f"database: {runs[0][1]['facts']['dialect']} {runs[0][1]['facts']['server_version']}; "
          f"machine: {api_me.machine()}")
    print(f"{args.requests} requests per app in {args.rounds} alternating blocks; median block")
    print(f"{'tokens':>10} {'app':<7} {'µs/request':>11} {'spread µs':>10} {'statements':>11} {'round trips':>12}")
    for tokens, result in runs:
        for name, r in result["apps"].items():
            print(f"{tokens:>10,} {name:<7} {r['us']:>11.0f} {r['spread_us']:>10.0f} {r['statements']:>11} "
                  f"{r['round_trips'] if result['facts']['dialect'] == 'postgresql' else '-':>12}")
    print()
    for tokens, result in runs:
        ratio = result["apps"]["/me"]["us"] / result["apps"]["floor"]["us"]
        within = ratio <= BUDGET_RATIO
        ok &= within
        print(f"{tokens:,} tokens: /me service time is {ratio:.2f}x the floor's, "
              f"{'within' if within else 'OVER'} the budget of {BUDGET_RATIO}x")
    if len(runs) > 1:
        base = runs[0][1]["apps"]["/me"]["us"]
        for tokens, result in runs[1:]:
            change = 100 * (result["apps"]["/me"]["us"] / base - 1)
            flat = abs(change) <= FLAT_PCT
            ok &= flat
            print(f"/me at {tokens:,} tokens costs {change:+.1f} % against {runs[0][0]:,}: "
                  f"{'flat' if flat else 'NOT flat'} (budget ±{FLAT_PCT} %)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
