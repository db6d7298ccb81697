"""Token-authenticated GET /api/v1/me under gunicorn, against a floor (a plain Flask endpoint doing one
indexed SELECT), with 100,000 tokens in the table. Load from wrk on loopback.

    .venv/bin/python bench/api_me.py [--database-url URL] [--tokens 100000] [--duration 15]
                                     [--connections 16,64] [--compare-usage] [--compare-root DIR]

Without --database-url it runs on a fresh SQLite file in a temporary directory. With a PostgreSQL URL the
schema of that database is DROPPED and re-created: give it a database of its own. Needs `wrk` on PATH
(Debian: `apt-get install wrk`). Every server it starts listens on 127.0.0.1 only and is stopped at the end,
also on errors. Exits 1 when the budget is missed (p95 of /me at 16 connections over 1.5x the floor's, or
/me's requests per second under 70 % of the floor's at any connection count), 2 when a run is invalid
(a non-2xx answer, a socket error or timeout). See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.core import tokencodec  # noqa: E402
from app.core.crypto import crypto  # noqa: E402
from app.core.mixins import utcnow  # noqa: E402
from app.extensions import db  # noqa: E402
from app.tenants.models import Tenant  # noqa: E402
from app.tokens.models import ApiToken, Scope, TokenUsageLog  # noqa: E402
from app.users.models import Membership, Profile, Role, User, UserStatus  # noqa: E402

BUDGET_P95_RATIO = 1.5  # /me p95 at most 1.5x the floor's, at 16 connections
BUDGET_RPS_RATIO = 0.70  # /me requests per second at least 70 % of the floor's
P95_AT = 16
NOISY_PCT = 5  # a run during which other processes took more CPU than this is flagged
GUNICORN = str(Path(sys.executable).parent / "gunicorn")

# Fixed for the run (bench keys, not for production); the app and the floor read the same environment.
BENCH_ENV = {
    "HUBX_ENV": "development",
    "SECRET_KEY": "bench-secret-key-not-for-production-0000000000",
    "ENCRYPTION_KEYS": base64.urlsafe_b64encode(b"b" * 32).decode(),
    "TOKEN_HASH_KEY": "bench-token-hash-key-00000000000000",
    "LOG_LEVEL": "WARNING",
    "TOKEN_USAGE_FLUSH_SECONDS": "1",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--tokens", type=int, default=100_000, help="rows in api_token (default 100000)")
    parser.add_argument("--members", type=int, default=200, help="members of the tenant owning them")
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured run (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each run (default 3)")
    parser.add_argument("--connections", default="16,64", help="comma-separated wrk connection counts")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server (default 2)")
    parser.add_argument("--compare-usage", action="store_true",
                        help="also run /me at 16 connections with the usage log off and written inline")
    parser.add_argument("--no-healthz", action="store_true",
                        help="skip the app's /healthz runs (the app's per-request plumbing without the database)")
    parser.add_argument("--app-root", type=Path, default=ROOT,
                        help="serve wsgi:app from this checkout (e.g. `git archive` of an older commit, to compare)")
    parser.add_argument("--compare-root", type=Path, default=None,
                        help="also serve wsgi:app from this other checkout, with its /me runs right after ours")
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args()
    args.app_root = args.app_root.resolve()
    args.compare_root = args.compare_root.resolve() if args.compare_root else None
    args.connections = [int(c) for c in args.connections.split(",") if c.strip()]
    if args.duration > 120 or args.warmup > 30:
        parser.error("keep runs bounded: --duration at most 120 s, --warmup at most 30 s")
    return args


# --- the database -------------------------------------------------------------------------------------


def prepare_database(args: argparse.Namespace, url: str) -> tuple[str, dict]:
    """Reset the schema, migrate, seed; returns the benchmarked token's secret (the only one kept) and facts."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()  # the migrations, so indexes are the ones production has
        started = time.perf_counter()
        secret = seed(args)
        facts = {
            "dialect": engine.dialect.name,
            "server_version": ".".join(map(str, engine.dialect.server_version_info or ())),
            "tokens": db.session.scalar(select(func.count()).select_from(ApiToken)),
            "seed_seconds": round(time.perf_counter() - started, 1),
        }
        db.session.remove()
        engine.dispose()
    return secret, facts


def seed(args: argparse.Namespace) -> str:
    """One tenant, `members` active members, `tokens` tokens spread over them; returns the benchmarked secret.

    Only the benchmarked token has a real secret. The others get random digests: they only need to occupy the
    unique index (and the table's pages) as real ones would. A tenth are revoked and a tenth expired, as in a
    tenant that has used tokens for a while."""
    now = utcnow()
    stamp = {"created_at": now, "updated_at": now}
    tenant = Tenant(slug="bench", name="Bench", default_locale="en", timezone="UTC")
    db.session.add(tenant)
    db.session.flush()
    db.session.execute(insert(User), [
        {"email": f"user{i}@bench.example.com", "name": f"User {i}", "password_hash": "-", "is_operator": False,
         **stamp} for i in range(args.members)])
    user_ids = list(db.session.scalars(select(User.id).order_by(User.id)))
    db.session.execute(insert(Profile), [{"user_id": u, "status": UserStatus.ACTIVE, "failed_login_count": 0,
                                          **stamp} for u in user_ids])
    roles = [Role.MEMBER] * 6 + [Role.MANAGER] * 2 + [Role.ADMIN, Role.OWNER]
    db.session.execute(insert(Membership), [
        {"tenant_id": tenant.id, "user_id": u, "role": roles[i % len(roles)], **stamp}
        for i, u in enumerate(user_ids)])

    secret = tokencodec.generate("p")
    bench_at = args.tokens // 2  # in the middle of the table, not its first or last row
    scopes = [Scope.READ, Scope.READ, Scope.WRITE, Scope.ADMIN]
    rows = []
    for i in range(args.tokens):
        if i == bench_at:
            rows.append({
                "tenant_id": tenant.id, "user_id": user_ids[0], "name": "bench", "scope": Scope.READ,
                "digest": crypto().digest(secret), "hint": tokencodec.hint(secret),
                "expires_at": now + timedelta(days=90), "revoked_at": None, "revoke_reason": None,
                "rate_limit": None, "ip_allow": [], "ip_deny": [], "device_binding": False, **stamp})
            continue
        kind = i % 10
        rows.append({
            "tenant_id": tenant.id, "user_id": user_ids[i % len(user_ids)], "name": f"token {i}",
            "scope": scopes[i % len(scopes)], "digest": secrets.token_hex(32),
            "hint": "hbx_p_…" + secrets.token_hex(2),
            "expires_at": now - timedelta(days=1) if kind == 1 else now + timedelta(days=1 + i % 365),
            "revoked_at": now - timedelta(days=2) if kind == 2 else None,
            "revoke_reason": "manual" if kind == 2 else None,
            "rate_limit": 600 if kind == 3 else None, "ip_allow": [], "ip_deny": [], "device_binding": False,
            **stamp})
        if len(rows) >= 5_000:
            db.session.execute(insert(ApiToken), rows)
            rows = []
    if rows:
        db.session.execute(insert(ApiToken), rows)
    db.session.execute(text("UPDATE api_token SET chain_id = id"))
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # Planner statistics and a vacuumed table, as autovacuum would leave them; then a checkpoint, so writing
        # out the 100,000 new rows does not happen during the first measured run.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return secret


def usage_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(TokenUsageLog))


# --- servers and load ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One gunicorn master (its own process group), bound to 127.0.0.1, logging to a file."""

    def __init__(self, name: str, target: str, env: dict, workdir: Path, workers: int,
                 pythonpath: Path | None = None, cwd: Path = ROOT) -> None:
        self.name, self.port = name, free_port()
        self.log = workdir / f"{name}.log"
        command = [GUNICORN, "-w", str(workers), "-b", f"127.0.0.1:{self.port}", target]
        if pythonpath is not None:
            command[1:1] = ["--pythonpath", str(pythonpath)]
        self.command = command
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url(path), timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM to the master (workers flush their usage buffer at exit), SIGKILL to the group if stuck."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def get(url: str, secret: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def cpu_times() -> list[int]:
    """The machine's aggregate CPU counters (user nice system idle iowait irq softirq steal ...), Linux only."""
    try:
        return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return []


OURS = {"gunicorn", "wrk", "postgres"}  # the system under test (PostgreSQL may also serve others: see README)


def foreign_ticks() -> dict[int, int]:
    """CPU ticks used so far by each live process other than this script, gunicorn, wrk and PostgreSQL."""
    ticks = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        pid, _, rest = text.partition(" (")
        comm, _, fields = rest.rpartition(") ")
        if int(pid) == os.getpid() or comm in OURS:
            continue
        values = fields.split()
        ticks[int(pid)] = int(values[11]) + int(values[12])  # utime, stime
    return ticks


def foreign_delta(before: dict[int, int], after: dict[int, int]) -> int:
    """Ticks used between two foreign_ticks() (a process that ended in between is not counted: a lower bound)."""
    return sum(t - before.get(pid, 0) for pid, t in after.items() if t >= before.get(pid, 0))


def wrk(url: str, secret: str, connections: int, seconds: int, threads: int) -> dict:
    """One wrk run; the JSON line printed by bench/wrk_report.lua, plus validity."""
    command = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(BENCH / "wrk_report.lua"), "-H", f"Authorization: Bearer {secret}", url]
    load, before, others = os.getloadavg()[0], cpu_times(), foreign_ticks()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    after, others = cpu_times(), foreign_delta(others, foreign_ticks())
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["errors"] = sum(result[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors",
                                               "timeouts"))
    result["load_before"] = round(load, 2)
    if before and after:
        delta = [b - a for a, b in zip(before, after, strict=False)]
        total = sum(delta[:8]) or 1
        result["idle_pct"] = round(100 * (delta[3] + delta[4]) / total, 1)  # CPU left idle during the run
        result["steal_pct"] = round(100 * delta[7] / total, 1) if len(delta) > 7 else 0.0  # taken by the host
        result["others_pct"] = round(100 * max(0, others) / total, 1)  # taken by processes outside the bench
    return result


def measure(label: str, url: str, secret: str, connections: int, args: argparse.Namespace) -> dict:
    print(f"  {label} at {connections} connections: {args.warmup} s warm-up, {args.duration} s run ...",
          flush=True)
    warm = wrk(url, secret, connections, args.warmup, args.threads)
    result = wrk(url, secret, connections, args.duration, args.threads)
    result["warmup_errors"] = warm["errors"]
    result["warmup_requests"] = warm["requests"]
    return result


def run(args: argparse.Namespace, url: str, secret: str, workdir: Path) -> dict:
    """Start the app and the floor, check one request of each, then the wrk runs; servers always stopped."""
    env = {**os.environ, **BENCH_ENV, "DATABASE_URL": url, "HUBX_INSTANCE_PATH": str(workdir / "instance")}
    results: dict = {"runs": {}, "usage": {}}
    servers: list[Server] = []
    try:
        app_server = Server("app", "wsgi:app", env, workdir, args.workers, cwd=args.app_root)
        servers.append(app_server)
        floor = Server("floor", "floor_app:app", env, workdir, args.workers, pythonpath=BENCH)
        servers.append(floor)
        app_server.wait_ready("/healthz")
        floor.wait_ready("/healthz")
        other = None
        if args.compare_root is not None:
            other = Server("app-other", "wsgi:app", env, workdir, args.workers, cwd=args.compare_root)
            servers.append(other)
            other.wait_ready("/healthz")
        me_url, floor_url = app_server.url("/api/v1/me"), floor.url("/floor")
        checks = [("/me", me_url), ("floor", floor_url)] + ([("other /me", other.url("/api/v1/me"))] if other else [])
        for name, target in checks:
            status, body = get(target, secret)
            if status != 200:
                raise RuntimeError(f"{name} answered {status}: {body[:500]!r}")
        results["commands"] = {"app": app_server.command, "floor": floor.command}
        for connections in args.connections:
            results["runs"][("floor", connections)] = measure("floor", floor_url, secret, connections, args)
            if not args.no_healthz:
                results["runs"][("app /healthz", connections)] = measure(
                    "app /healthz", app_server.url("/healthz"), secret, connections, args)
            results["runs"][("/me", connections)] = measure("/me", me_url, secret, connections, args)
            if other is not None:
                results["runs"][("/me other tree", connections)] = measure(
                    f"/me served from {args.compare_root}", other.url("/api/v1/me"), secret, connections, args)
        if other is not None:
            other.stop()
        app_server.stop()
        if args.compare_usage:
            for mode in ("off", "inline"):
                variant = Server(f"usage-{mode}", "usage_variants:app", {**env, "BENCH_USAGE_MODE": mode},
                                 workdir, args.workers, pythonpath=BENCH)
                servers.append(variant)
                variant.wait_ready("/healthz")
                results["runs"][(f"/me usage {mode}", P95_AT)] = measure(
                    f"/me with usage log {mode}", variant.url("/api/v1/me"), secret, P95_AT, args)
                variant.stop()
    finally:
        for server in reversed(servers):
            server.stop()
    return results


# --- report -------------------------------------------------------------------------------------------


def machine() -> str:
    import sqlalchemy

    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")

    return (f"{os.cpu_count()} cores ({model or platform.processor()}), {platform.machine()}, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"SQLAlchemy {sqlalchemy.__version__}")


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the servers on a plain kill
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    os.environ.update(BENCH_ENV)
    with tempfile.TemporaryDirectory(prefix="hubx-bench-api-") as tmp:
        workdir = Path(tmp)
        os.environ["HUBX_INSTANCE_PATH"] = str(workdir / "instance")
        url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
        print(f"seeding {args.tokens:,} tokens ...", flush=True)
        secret, facts = prepare_database(args, url)
        print(f"  done in {facts['seed_seconds']} s; load average {os.getloadavg()[0]:.2f}", flush=True)
        results = run(args, url, secret, workdir)
        check = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with check.app_context():
            results["usage"]["rows"] = usage_rows()
            db.session.remove()
            db.engine.dispose()
    runs = results["runs"]
    nan = float("nan")

    print()
    print(f"database: {facts['dialect']} {facts['server_version']} ({args.database_url or 'temporary SQLite file'})")
    print(f"machine: {machine()}")
    print(f"tokens in the table: {facts['tokens']:,}; gunicorn: {args.workers} sync workers each; "
          f"wrk: {args.threads} threads, {args.warmup} s warm-up + {args.duration} s per run")
    if args.app_root != ROOT:
        print(f"app served from {args.app_root}")
    if args.compare_root:
        print(f"'/me other tree': the same app served from {args.compare_root}")
    print()
    print(f"{'endpoint':<22} {'conns':>5} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'idle%':>6} {'steal%':>6} {'other%':>6}")
    for (name, connections), r in runs.items():
        print(f"{name:<22} {connections:>5} {r['requests']:>9} {r['rps']:>9.1f} {r['p50_us'] / 1e3:>8.2f} "
              f"{r['p95_us'] / 1e3:>8.2f} {r['p99_us'] / 1e3:>8.2f} {r['errors']:>6} "
              f"{r.get('idle_pct', nan):>6.1f} {r.get('steal_pct', nan):>6.1f} {r.get('others_pct', nan):>6.1f}")
    noisy = [f"{n} at {c} ({r['others_pct']}%)" for (n, c), r in runs.items() if r.get("others_pct", 0) > NOISY_PCT]
    if noisy:
        print(f"WARNING: other processes used more than {NOISY_PCT}% of the CPU during {', '.join(noisy)}: "
              "those figures are not clean; run again on a quiet machine")
    # Every /me request that logs (warm-ups too, the inline variant too, the "off" one not), plus the first check.
    logged = 1 + sum(r["requests"] + r["warmup_requests"] for (name, _), r in runs.items()
                     if name.startswith("/me") and not name.endswith(" off"))
    print()
    print(f"usage rows in token_usage_log after the servers stopped: {results['usage']['rows']:,}; "
          f"/me requests wrk counted as answered: {logged:,} (wrk does not count the few in flight when it stops)")

    invalid = [f"{name} at {c}" for (name, c), r in runs.items() if r["errors"] or r["warmup_errors"]]
    ok = True
    print()
    for connections in args.connections:
        me, floor = runs[("/me", connections)], runs[("floor", connections)]
        p95 = me["p95_us"] / floor["p95_us"]
        rps = me["rps"] / floor["rps"]
        p95_ok = p95 <= BUDGET_P95_RATIO if connections == P95_AT else True
        rps_ok = rps >= BUDGET_RPS_RATIO
        ok &= p95_ok and rps_ok
        p95_note = (("within" if p95_ok else "OVER") + f" the budget of {BUDGET_P95_RATIO}x"
                    if connections == P95_AT else "(no budget)")
        print(f"{connections} connections: /me p95 is {p95:.2f}x the floor's {p95_note}; "
              f"/me req/s is {rps:.0%} of the floor's, {'within' if rps_ok else 'UNDER'} the budget of "
              f"{BUDGET_RPS_RATIO:.0%}")
        health = runs.get(("app /healthz", connections))
        if health:
            print(f"{'':>{len(str(connections)) + 14}}for reference, the app's /healthz (no query, every hook): "
                  f"p95 {health['p95_us'] / floor['p95_us']:.2f}x the floor's, "
                  f"req/s {health['rps'] / floor['rps']:.0%}")
    if args.json:
        options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "json"}
        Path(args.json).write_text(json.dumps({
            "facts": facts, "machine": machine(), "args": options,
            "runs": [{"endpoint": n, "connections": c, **r} for (n, c), r in runs.items()],
            "usage_rows": results["usage"]["rows"]}, indent=2))
    if invalid:
        print(f"INVALID: errors or non-2xx answers in {', '.join(invalid)}")
        return 2
    if P95_AT not in args.connections:
        print(f"note: the p95 budget is defined at {P95_AT} connections, which were not run")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
