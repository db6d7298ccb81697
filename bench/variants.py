"""Each change of issue 10 against the app as shipped, in one run: the same `GET /api/v1/me`, in-process (as
bench/service_time.py calls it), by several copies of the app that differ in one thing each, in alternating
blocks, so the machine's moods hit them all alike.

    .venv/bin/python bench/variants.py [--database-url URL] [--tokens 10000] [--requests 3000] [--rounds 6]

Variants (those that only make sense on PostgreSQL are skipped on SQLite):

- `as shipped`: the app (no pre-ping, idle ping after 10 s, the credential read by `DirectRead`, psycopg's
  default `prepare_threshold`, the deferred usage log);
- `pool_pre_ping`: SQLAlchemy's ping on every checkout, as before issue 10 (the idle ping off);
- `credential through Core`: the same statement through a Core `Connection` (autocommit on PostgreSQL), as before
  `DirectRead`;
- `prepare at once` / `never prepare`: psycopg's `prepare_threshold` 0 / None instead of its default 5;
- `usage log off`: no usage row at all (what the deferred writer, COPY on PostgreSQL, costs the requests).

Prints the median µs a request of each, its ratio to `as shipped`, and each one's SQL statements and database
round trips per request. Without --database-url a fresh SQLite file; a PostgreSQL database given has its schema
DROPPED and re-created (give it one of its own). Measures, asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import api_me  # noqa: E402  (the seed and the bench settings)
import service_time  # noqa: E402  (the in-process call, the timed block and the round-trip counter)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3000, help="requests per variant")
    parser.add_argument("--rounds", type=int, default=6, help="alternating blocks per variant")
    return parser.parse_args()


class _CoreRead:
    """The credential statement through a Core connection, as the bearer check read it before `DirectRead`."""

    def __init__(self, direct) -> None:
        self.direct = direct

    def first(self, engine, params):
        options = {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}
        with engine.connect().execution_options(**options) as connection:
            return connection.execute(self.direct.statement, params).first()


@contextlib.contextmanager
def _patched(target, name: str, value):
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


def variants(postgres: bool) -> dict[str, tuple[dict, object]]:
    """name -> (config overrides, a context manager factory applied around its blocks)."""
    from app.tokens import auth, usage

    def none():
        return contextlib.nullcontext()

    found = {
        "as shipped": ({}, none),
        "pool_pre_ping": ({"SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
                           "DATABASE_PING_AFTER_IDLE_SECONDS": -1}, none),
        "credential through Core": ({}, lambda: _patched(auth, "_CREDENTIAL_READ", _CoreRead(auth._CREDENTIAL_READ))),
        "usage log off": ({}, lambda: _patched(usage, "record", lambda **_row: None)),
    }
    if postgres:
        found["prepare at once"] = ({"SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"prepare_threshold": 0}}}, none)
        found["never prepare"] = ({"SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"prepare_threshold": None}}},
                                  none)
    return found


def main() -> int:
    args = parse_args()
    os.environ.update(api_me.BENCH_ENV)
    with tempfile.TemporaryDirectory(prefix="hubx-bench-variants-") as tmp:
        os.environ["HUBX_INSTANCE_PATH"] = str(Path(tmp) / "instance")
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(f"seeding {args.tokens:,} tokens ...", flush=True)
        secret, facts = api_me.prepare_database(argparse.Namespace(tokens=args.tokens, members=args.members), url)
        os.environ["DATABASE_URL"] = url
        from app import create_app
        from app.extensions import db

        chosen = variants(facts["dialect"] == "postgresql")
        apps = {name: create_app(config) for name, (config, _around) in chosen.items()}
        environ = service_time.environ_for("/api/v1/me", secret)
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        blocks: dict[str, list[float]] = {name: [] for name in apps}
        counts = {}
        try:
            for name, app in apps.items():  # warm-up, and one counted request
                with chosen[name][1]():
                    for _ in range(200):
                        if service_time.call(app, environ) != 200:
                            raise RuntimeError(f"{name} did not answer 200")
                    with service_time.RoundTrips() as counted:
                        service_time.call(app, environ)
                    counts[name] = (counted.statements, counted.round_trips)
            per_block = max(1, args.requests // args.rounds)
            names = list(apps)
            for round_no in range(args.rounds):
                shift = round_no % len(names)
                for name in names[shift:] + names[:shift]:  # each variant takes each place in turn
                    with chosen[name][1]():
                        blocks[name].append(service_time.timed_block(apps[name], environ, per_block))
        finally:
            for app in apps.values():
                with app.app_context():
                    buffer = app.extensions.get("hubx_token_usage")
                    if buffer is not None:
                        buffer.stop()
                        buffer.flush()
                    db.session.remove()
                    db.engine.dispose()
            gc.unfreeze()
    base = statistics.median(blocks["as shipped"])
    print()
    print(f"database: {facts['dialect']} {facts['server_version']}; machine: {api_me.machine()}")
    print(f"{args.tokens:,} tokens; {args.requests} requests per variant in {args.rounds} rotating blocks; "
          "median block")
    print(f"{'variant':<26} {'µs/request':>11} {'÷ shipped':>10} {'statements':>11} {'round trips':>12}")
    for name in apps:
        median = statistics.median(blocks[name])
        statements, trips = counts[name]
        print(f"{name:<26} {median * 1e6:>11.0f} {median / base:>10.2f} {statements:>11} "
              f"{trips if facts['dialect'] == 'postgresql' else '-':>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
