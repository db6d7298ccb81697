"""Token-authenticated GET /api/v1/me under gunicorn, against a floor (a plain Flask endpoint doing one
indexed SELECT), with 100,000 tokens in the table. Load from wrk on loopback.

    .venv/bin/python bench/api_me.py [--database-url URL] [--tokens 100000] [--duration 15]
                                     [--connections 16,64] [--worker-classes sync,gthread] [--repeats 2]
                                     [--compare-usage] [--compare-root DIR]

Each worker class (gunicorn's `sync`, and `gthread` with 4 threads a worker; keep-alive off for both, so
connections spread over the workers) is a cell per connection count. In each cell the floor and /me run
`--repeats` times, in alternating order (floor first, then /me first, ...), and the median of each figure
counts (of two runs, their mean).

Without --database-url it runs on a fresh SQLite file in a temporary directory. With a PostgreSQL URL the
schema of that database is DROPPED and re-created: give it a database of its own. Needs `wrk` on PATH
(Debian: `apt-get install wrk`). Every server it starts listens on 127.0.0.1 only and is stopped at the end,
also on errors. Exits 1 when the budget is missed, 2 when a run is invalid (a non-2xx answer, a socket error
or timeout). The budget, in every cell: on PostgreSQL /me's p95 at most 1.3x the floor's and its requests per
second at least 80 % of the floor's; on SQLite p95 at most 1.5x at 16 connections and requests per second at
least 70 % (issue 10). See bench/README.md.
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
import statistics
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

#: (p95 ratio at most, requests per second ratio at least, connection counts the p95 budget applies to or None
#: for every cell), per database
BUDGETS = {"postgresql": (1.3, 0.80, None), "sqlite": (1.5, 0.70, {16})}
THREADS_PER_WORKER = 4  # gthread workers
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
    parser.add_argument("--worker-classes", default="sync,gthread",
                        help=f"gunicorn worker classes, comma-separated (gthread: {THREADS_PER_WORKER} threads)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of floor and /me per cell, in alternating order; the median counts (default 2)")
    parser.add_argument("--compare-usage", action="store_true",
                        help="also run, in each cell, /me with the usage log off and written inline")
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
    args.worker_classes = [w.strip() for w in args.worker_classes.split(",") if w.strip()]
    if set(args.worker_classes) - {"sync", "gthread"}:
        parser.error("--worker-classes: sync and/or gthread")
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
    settle_database()
    return secret


def settle_database() -> None:
    """After seeding: planner statistics and a vacuumed table, as autovacuum would leave them; then (PostgreSQL) a
    checkpoint, so writing out the new rows does not happen during the first measured run."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


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
                 pythonpath: Path | None = None, cwd: Path = ROOT, worker_class: str = "sync") -> None:
        self.name, self.port = name, free_port()
        self.log = workdir / f"{name}.log"
        # Keep-alive off: every request a new connection, so wrk's connections spread over the workers (sync
        # workers never keep a connection alive; a gthread worker would keep its clients to itself).
        command = [GUNICORN, "-w", str(workers), "-k", worker_class, "--keep-alive", "0",
                   "-b", f"127.0.0.1:{self.port}", target]
        if worker_class == "gthread":
            command[5:5] = ["--threads", str(THREADS_PER_WORKER)]
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


def median_run(runs: list[dict]) -> dict:
    """Each figure's median over the runs (of an even count, the mean of the middle two, as a median is), with
    the requests and errors of all of them."""
    chosen = dict(runs[0])
    for key in ("rps", "p50_us", "p90_us", "p95_us", "p99_us", "mean_us", "idle_pct", "steal_pct", "others_pct"):
        if key in chosen:
            chosen[key] = statistics.median(r[key] for r in runs)
    for key in ("requests", "warmup_requests", "errors", "warmup_errors"):
        chosen[key + "_all"] = sum(r[key] for r in runs)
    chosen["rps_runs"] = [round(r["rps"], 1) for r in runs]
    chosen["p95_runs_ms"] = [round(r["p95_us"] / 1e3, 2) for r in runs]
    return chosen


def run_cell(worker_class: str, connections: int, targets: dict, secret: str, args: argparse.Namespace) -> dict:
    """One cell: each target `args.repeats` times, alternating which goes first; the median of each."""
    runs: dict[str, list[dict]] = {name: [] for name in targets}
    for repeat in range(args.repeats):
        order = list(targets) if repeat % 2 == 0 else list(reversed(targets))
        for name in order:
            runs[name].append(measure(f"{worker_class} {name}", targets[name], secret, connections, args))
    return {name: median_run(found) for name, found in runs.items()}


def run(args: argparse.Namespace, url: str, secret: str, workdir: Path) -> dict:
    """For each worker class: start the app and the floor (and the other tree), check one request of each,
    then the wrk runs of each cell; servers always stopped."""
    env = {**os.environ, **BENCH_ENV, "DATABASE_URL": url, "HUBX_INSTANCE_PATH": str(workdir / "instance")}
    results: dict = {"runs": {}, "usage": {}, "commands": {}}
    servers: list[Server] = []
    try:
        for worker_class in args.worker_classes:
            app_server = Server(f"app-{worker_class}", "wsgi:app", env, workdir, args.workers, cwd=args.app_root,
                                worker_class=worker_class)
            servers.append(app_server)
            floor = Server(f"floor-{worker_class}", "floor_app:app", env, workdir, args.workers, pythonpath=BENCH,
                           worker_class=worker_class)
            servers.append(floor)
            app_server.wait_ready("/healthz")
            floor.wait_ready("/healthz")
            targets = {"floor": floor.url("/floor"), "/me": app_server.url("/api/v1/me")}
            if not args.no_healthz:
                targets["app /healthz"] = app_server.url("/healthz")
            other = None
            if args.compare_root is not None:
                other = Server(f"app-other-{worker_class}", "wsgi:app", env, workdir, args.workers,
                               cwd=args.compare_root, worker_class=worker_class)
                servers.append(other)
                other.wait_ready("/healthz")
                targets["/me other tree"] = other.url("/api/v1/me")
            variants = []
            if args.compare_usage:  # the same app with the usage log off, and written inline: in the same cells
                for mode in ("off", "inline"):
                    variant = Server(f"usage-{mode}-{worker_class}", "usage_variants:app",
                                     {**env, "BENCH_USAGE_MODE": mode}, workdir, args.workers, pythonpath=BENCH,
                                     worker_class=worker_class)
                    servers.append(variant)
                    variants.append(variant)
                    variant.wait_ready("/healthz")
                    targets[f"/me usage {mode}"] = variant.url("/api/v1/me")
            for name, target in targets.items():
                status, body = get(target, secret)
                if status != 200:
                    raise RuntimeError(f"{name} answered {status}: {body[:500]!r}")
            results["commands"][worker_class] = {"app": app_server.command, "floor": floor.command}
            for connections in args.connections:
                for name, found in run_cell(worker_class, connections, targets, secret, args).items():
                    results["runs"][(worker_class, name, connections)] = found
            for server in (other, *variants, app_server, floor):
                if server is not None:
                    server.stop()
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
    print(f"tokens in the table: {facts['tokens']:,}; gunicorn: {args.workers} workers each "
          f"(sync; gthread with {THREADS_PER_WORKER} threads), keep-alive off; wrk: {args.threads} threads, "
          f"{args.warmup} s warm-up + {args.duration} s per run, {args.repeats} runs per cell in alternating order "
          "(the median shown)")
    if args.app_root != ROOT:
        print(f"app served from {args.app_root}")
    if args.compare_root:
        print(f"'/me other tree': the same app served from {args.compare_root}")
    print()
    print(f"{'workers':<8} {'endpoint':<16} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'idle%':>6} {'other%':>6}  req/s of each run")
    for (worker_class, name, connections), r in runs.items():
        print(f"{worker_class:<8} {name:<16} {connections:>5} {r['rps']:>9.1f} {r['p50_us'] / 1e3:>8.2f} "
              f"{r['p95_us'] / 1e3:>8.2f} {r['p99_us'] / 1e3:>8.2f} {r['errors_all']:>6} "
              f"{r.get('idle_pct', nan):>6.1f} {r.get('others_pct', nan):>6.1f}  {r['rps_runs']}")
    noisy = [f"{w} {n} at {c} ({r['others_pct']}%)" for (w, n, c), r in runs.items()
             if r.get("others_pct", 0) > NOISY_PCT]
    if noisy:
        print(f"WARNING: other processes used more than {NOISY_PCT}% of the CPU during {', '.join(noisy)}: "
              "those figures are not clean; run again on a quiet machine")
    # Every /me request that logs (warm-ups too, the inline variant too, the "off" one not), plus the checks.
    logged = sum(r["requests_all"] + r["warmup_requests_all"] for (_w, name, _c), r in runs.items()
                 if name.startswith("/me") and not name.endswith(" off"))
    print()
    print(f"usage rows in token_usage_log after the servers stopped: {results['usage']['rows']:,}; "
          f"/me requests wrk counted as answered: {logged:,} (wrk does not count the few in flight when it stops)")

    invalid = [f"{w} {name} at {c}" for (w, name, c), r in runs.items() if r["errors_all"] or r["warmup_errors_all"]]
    p95_budget, rps_budget, p95_cells = BUDGETS.get(facts["dialect"], BUDGETS["postgresql"])
    ok = True
    print()
    where = "in every cell" if p95_cells is None else f"at {', '.join(map(str, sorted(p95_cells)))} connections"
    print(f"budget on {facts['dialect']}: /me req/s at least {rps_budget:.0%} of the floor's in every cell; "
          f"p95 at most {p95_budget}x the floor's {where}")
    print(f"{'workers':<8} {'conns':>5} {'req/s ÷ floor':>14} {'p95 ÷ floor':>12}  verdict")
    for worker_class in args.worker_classes:
        for connections in args.connections:
            me, floor = runs[(worker_class, "/me", connections)], runs[(worker_class, "floor", connections)]
            p95 = me["p95_us"] / floor["p95_us"]
            rps = me["rps"] / floor["rps"]
            p95_ok = p95 <= p95_budget or (p95_cells is not None and connections not in p95_cells)
            rps_ok = rps >= rps_budget
            ok &= p95_ok and rps_ok
            print(f"{worker_class:<8} {connections:>5} {rps:>14.2f} {p95:>12.2f}  "
                  f"{'within' if p95_ok and rps_ok else 'MISSED'}")
    if args.json:
        options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "json"}
        Path(args.json).write_text(json.dumps({
            "facts": facts, "machine": machine(), "args": options,
            "runs": [{"workers": w, "endpoint": n, "connections": c, **r} for (w, n, c), r in runs.items()],
            "usage_rows": results["usage"]["rows"]}, indent=2))
    if invalid:
        print(f"INVALID: errors or non-2xx answers in {', '.join(invalid)}")
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
