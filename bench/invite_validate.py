"""Invite code validation under gunicorn, against a floor (a plain Flask endpoint doing one indexed SELECT of the
invite table), with 100,000 invites in the table. Load from wrk on loopback, as bench/api_me.py.

    .venv/bin/python bench/invite_validate.py [--database-url URL] [--invites 100000] [--codes 1000]
                                              [--duration 15] [--connections 16] [--worker-classes sync]
                                              [--repeats 2] [--env NAME=VALUE ...]

Measured, each against the floor:
- `POST /api/v1/invites/validate` with `{"code": ...}`, cycling through `--codes` valid codes (each wrk
  connection walks the list from its own place), the public check of a code;
- `GET /join/<code>` with the same codes, the join link's first request, when the app has the route (endpoint
  `invites.join_link`); skipped with a note when it does not. It checks the code (the public check's one indexed
  SELECT; it changes nothing: a link opened by a mail scanner must not touch the invite), keeps a usable one in an
  encrypted cookie and answers 303;
- `GET /join/continue` with such cookies (made by one `GET /join/<code>` for each of the first 200 codes before
  the load), the whole HTML page that follows (the invite read again, the organization, the role, the sign-up
  form). Reported against the floor for information: the budget is the validation's (the two above), and a
  rendered page is not one indexed SELECT (docs/performance.md).
The floor ([`floor_app.py`](floor_app.py), `POST /invite-floor` with the same body) HMACs the code and runs
`SELECT role, status, expires_at, uses, max_uses, tenant_id FROM invite WHERE digest = :d`.

Without --database-url it runs on a fresh SQLite file in a temporary directory. With a PostgreSQL URL the schema of
that database is DROPPED and re-created: give it a database of its own. Needs `wrk` (Debian: `apt-get install
wrk`). Every server listens on 127.0.0.1 only and is stopped at the end, also on errors. The per-address rate
limits (the validation's, the join page's) are raised for the run (wrk is one address): the limiter still counts
every request. Exits 1 when the budget is missed (p95 at most 1.5x the floor's at 16 connections, on each
database), 2 when a run is invalid (an answer of 400 or more, a socket error or a timeout). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
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
sys.path.insert(0, str(BENCH))

from api_me import (  # noqa: E402 (the api_me bench's servers, CPU accounting and medians)
    BENCH_ENV,
    NOISY_PCT,
    THREADS_PER_WORKER,
    Server,
    cpu_times,
    foreign_delta,
    foreign_ticks,
    machine,
    median_run,
    settle_database,
)
from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402

from app import create_app  # noqa: E402
from app.core import tokencodec  # noqa: E402
from app.core.mixins import utcnow  # noqa: E402
from app.extensions import db  # noqa: E402
from app.invites import codes  # noqa: E402
from app.invites.models import Invite, InviteKind, InviteStatus  # noqa: E402
from app.tenants.models import Tenant  # noqa: E402
from app.users.models import Membership, Profile, Role, User, UserStatus  # noqa: E402

BUDGET = 1.5  # p95 at most this times the floor's, at 16 connections (issue 14)
BUDGET_CONNECTIONS = {16}
#: measured and shown against the floor, outside the budget (the rendered page after the link's check)
UNBUDGETED = {"/join/continue"}
UNLIMITED = "100000000 per minute"  # the per-address limits, for one address doing all the load


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--invites", type=int, default=100_000, help="rows in invite (default 100000)")
    parser.add_argument("--codes", type=int, default=1_000, help="valid codes the load cycles through (1000)")
    parser.add_argument("--tenants", type=int, default=20, help="tenants the invites belong to (default 20)")
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured run (default 15)")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before each run (default 3)")
    parser.add_argument("--connections", default="16", help="comma-separated wrk connection counts (16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server (default 2)")
    parser.add_argument("--worker-classes", default="sync",
                        help=f"gunicorn worker classes, comma-separated (gthread: {THREADS_PER_WORKER} threads)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each endpoint per cell, in alternating order; the median counts (default 2)")
    parser.add_argument("--no-healthz", action="store_true", help="skip the app's /healthz runs")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment for the app's server (repeatable)")
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",") if c.strip()]
    args.worker_classes = [w.strip() for w in args.worker_classes.split(",") if w.strip()]
    if set(args.worker_classes) - {"sync", "gthread"}:
        parser.error("--worker-classes: sync and/or gthread")
    if args.duration > 120 or args.warmup > 30:
        parser.error("keep runs bounded: --duration at most 120 s, --warmup at most 30 s")
    if not 1 <= args.codes <= args.invites // 2:
        parser.error("--codes: at least 1, at most half the invites")
    return args


# --- the database -------------------------------------------------------------------------------------


def prepare_database(args: argparse.Namespace, url: str) -> tuple[list[str], dict]:
    """Reset the schema, migrate, seed; returns the valid codes (the only ones kept) and facts."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()  # the migrations, so the indexes are production's
        started = time.perf_counter()
        valid = seed(args)
        facts = {
            "dialect": engine.dialect.name,
            "server_version": ".".join(map(str, engine.dialect.server_version_info or ())),
            "invites": db.session.scalar(select(func.count()).select_from(Invite)),
            "seed_seconds": round(time.perf_counter() - started, 1),
        }
        db.session.remove()
        engine.dispose()
    return valid, facts


def seed(args: argparse.Namespace) -> list[str]:
    """`tenants` tenants with an admin each, `invites` invites spread over them (bulk insert). A tenth are
    revoked, a tenth accepted, a tenth past their time; a twentieth are links. `codes` of the pending personal
    ones, spread through the table, have real codes (their digests made by the app's own function); the others
    random digests: they fill the unique index and the table's pages as real ones would."""
    now = utcnow()
    stamp = {"created_at": now, "updated_at": now}
    db.session.execute(insert(Tenant), [{"slug": f"bench-{t}", "name": f"Bench Tenant {t}", "default_locale": "en",
                                         "timezone": "UTC", **stamp} for t in range(args.tenants)])
    tenant_ids = list(db.session.scalars(select(Tenant.id).order_by(Tenant.id)))
    db.session.execute(insert(User), [{"email": f"admin{t}@bench.example.com", "name": f"Admin {t}",
                                       "password_hash": "-", "is_operator": False, **stamp}
                                      for t in range(args.tenants)])
    user_ids = list(db.session.scalars(select(User.id).order_by(User.id)))
    db.session.execute(insert(Profile), [{"user_id": u, "status": UserStatus.ACTIVE, "failed_login_count": 0,
                                          **stamp} for u in user_ids])
    db.session.execute(insert(Membership), [{"tenant_id": t, "user_id": u, "role": Role.ADMIN, **stamp}
                                            for t, u in zip(tenant_ids, user_ids, strict=True)])
    every = args.invites // args.codes  # a real code every `every` rows
    valid: list[str] = []
    rows = []
    for i in range(args.invites):
        tenant = i % len(tenant_ids)
        kind = i % 10
        real = i % every == every // 2 and len(valid) < args.codes
        if real:
            code = tokencodec.generate(codes.KIND)
            digest, hint = codes.digest_of(code), tokencodec.hint(code)
            valid.append(code)
            status, expires, link = InviteStatus.PENDING, now + timedelta(hours=72), False
        else:
            digest, hint = secrets.token_hex(32), "hbx_i_…" + secrets.token_hex(2)
            status = {1: InviteStatus.REVOKED, 2: InviteStatus.ACCEPTED, 3: InviteStatus.EXPIRED}.get(
                kind, InviteStatus.PENDING)
            expires = now - timedelta(hours=1 + i % 500) if kind == 3 else now + timedelta(hours=1 + i % 700)
            link = i % 20 == 5
        rows.append({
            "tenant_id": tenant_ids[tenant], "inviter_id": user_ids[tenant], "email": None if link else
            f"person{i}@example.com", "role": [Role.MEMBER, Role.MEMBER, Role.MANAGER][i % 3],
            "kind": InviteKind.LINK if link else InviteKind.PERSONAL, "digest": digest, "hint": hint,
            "max_uses": 25 if link else 1, "uses": 1 if status == InviteStatus.ACCEPTED else 0,
            "needs_approval": False, "ttl_hours": 72, "expires_at": expires, "status": status,
            "accepted_at": now if status == InviteStatus.ACCEPTED else None,
            "revoked_at": now if status == InviteStatus.REVOKED else None, **stamp})
        if len(rows) >= 5_000:
            db.session.execute(insert(Invite), rows)
            rows = []
    if rows:
        db.session.execute(insert(Invite), rows)
    db.session.commit()
    settle_database()
    return valid


# --- load ---------------------------------------------------------------------------------------------


def lua_script(workdir: Path, name: str, method: str, path: str, code_list: list[str], *,
               cookies: bool = False) -> Path:
    """A wrk script sending `method path` for each code in turn (each connection from its own place in the list:
    `path` ending in `/` gets the code appended, else the code goes in a JSON body), then bench/wrk_report.lua's
    summary line. With `cookies`, the list holds Cookie header values sent to the one `path`."""
    quoted = ",".join(json.dumps(c) for c in code_list)
    script = workdir / f"wrk-{name}.lua"
    script.write_text(f"""
local codes = {{{quoted}}}
local n = #codes
local i = 0
local method, path = "{method}", "{path}"
local headers = {{["Content-Type"] = "application/json"}}
local cookie_mode = {"true" if cookies else "false"}
setup = function(thread)
  thread:set("offset", math.random(n))
end
request = function()
  i = i + 1
  local code = codes[((offset or 0) + i) % n + 1]
  if cookie_mode then
    return wrk.format(method, path, {{["Cookie"] = code}})
  end
  if string.sub(path, -1) == "/" then
    return wrk.format(method, path .. code)
  end
  return wrk.format(method, path, headers, '{{"code": "' .. code .. '"}}')
end
""" + (BENCH / "wrk_report.lua").read_text())
    return script


def wrk(url: str, script: Path, connections: int, seconds: int, threads: int) -> dict:
    """One wrk run with `script`; the JSON line of bench/wrk_report.lua, plus validity and the CPU left over (as
    bench/api_me.py's `wrk`)."""
    command = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(script), url]
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
        result["idle_pct"] = round(100 * (delta[3] + delta[4]) / total, 1)
        result["steal_pct"] = round(100 * delta[7] / total, 1) if len(delta) > 7 else 0.0
        result["others_pct"] = round(100 * max(0, others) / total, 1)
    return result


def measure(label: str, target: tuple[str, Path], connections: int, args: argparse.Namespace) -> dict:
    url, script = target
    print(f"  {label} at {connections} connections: {args.warmup} s warm-up, {args.duration} s run ...",
          flush=True)
    warm = wrk(url, script, connections, args.warmup, args.threads)
    result = wrk(url, script, connections, args.duration, args.threads)
    result["warmup_errors"] = warm["errors"]
    result["warmup_requests"] = warm["requests"]
    return result


def call(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def call_with_cookie(url: str, cookie: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def join_cookies(url: str, codes: list[str]) -> list[str]:
    """The Cookie header values `GET /join/<code>` sets for each code (its encrypted hold of the code)."""
    values = []
    opener = urllib.request.build_opener(NoRedirect)
    for code in codes:
        try:
            opener.open(urllib.request.Request(url + code), timeout=5)
            raise RuntimeError(f"/join/<code> did not redirect for {code[:8]}…")
        except urllib.error.HTTPError as answer:  # the 303 (NoRedirect makes it an error)
            cookie = answer.headers.get("Set-Cookie", "")
            if answer.code != 303 or not cookie:
                raise RuntimeError(f"/join/<code> answered {answer.code} without a cookie") from None
            values.append(cookie.split(";", 1)[0])
    return values


def join_route(url: str) -> str | None:
    """The path of `GET /join/<code>` without the code (`/join/`), when the app has `invites.join_link`."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    if "invites.join_link" not in app.view_functions:
        return None
    with app.test_request_context():
        from flask import url_for

        return url_for("invites.join_link", code="CODE").removesuffix("CODE")


def run(args: argparse.Namespace, url: str, valid: list[str], workdir: Path) -> dict:
    """For each worker class: start the app and the floor, check one request of each, then the wrk runs of each
    cell; the servers always stopped."""
    extra = dict(item.split("=", 1) for item in args.env)
    env = {**os.environ, **BENCH_ENV, "DATABASE_URL": url, "HUBX_INSTANCE_PATH": str(workdir / "instance"),
           "INVITE_VALIDATE_RATE_LIMIT": UNLIMITED, "JOIN_RATE_LIMIT": UNLIMITED, **extra}
    join_path = join_route(url)
    results: dict = {"runs": {}, "commands": {}, "join": join_path}
    servers: list[Server] = []
    try:
        for worker_class in args.worker_classes:
            app_server = Server(f"app-{worker_class}", "wsgi:app", env, workdir, args.workers,
                                worker_class=worker_class)
            floor = Server(f"floor-{worker_class}", "floor_app:app", env, workdir, args.workers, pythonpath=BENCH,
                           worker_class=worker_class)
            servers += [app_server, floor]
            app_server.wait_ready("/healthz")
            floor.wait_ready("/healthz")
            targets = {
                "floor": (floor.url("/invite-floor"), lua_script(workdir, "floor", "POST", "/invite-floor", valid)),
                "validate": (app_server.url("/api/v1/invites/validate"),
                             lua_script(workdir, "validate", "POST", "/api/v1/invites/validate", valid)),
            }
            if join_path is not None:
                targets["/join/<code>"] = (app_server.url(join_path),
                                           lua_script(workdir, "join", "GET", join_path, valid))
            if not args.no_healthz:
                targets["app /healthz"] = (app_server.url("/healthz"),
                                           lua_script(workdir, "healthz", "GET", "/healthz", valid))
            body = json.dumps({"code": valid[0]}).encode()
            status, answer = call("POST", app_server.url("/api/v1/invites/validate"), body)
            if status != 200 or not json.loads(answer).get("valid"):
                raise RuntimeError(f"validate answered {status}: {answer[:300]!r}")
            status, answer = call("POST", floor.url("/invite-floor"), body)
            if status != 200 or not json.loads(answer).get("valid"):
                raise RuntimeError(f"the floor answered {status}: {answer[:300]!r}")
            if join_path is not None:
                status, answer = call("GET", app_server.url(join_path + valid[0]))
                if status >= 400:
                    raise RuntimeError(f"/join/<code> answered {status}: {answer[:300]!r}")
                results["join_status"] = status
                cookies = join_cookies(app_server.url(join_path), valid[:200])
                continue_path = join_path + "continue"
                status, answer = call_with_cookie(app_server.url(continue_path), cookies[0])
                if status != 200:
                    raise RuntimeError(f"/join/continue answered {status}: {answer[:300]!r}")
                targets["/join/continue"] = (app_server.url(continue_path),
                                             lua_script(workdir, "continue", "GET", continue_path, cookies,
                                                        cookies=True))
            results["commands"][worker_class] = {"app": app_server.command, "floor": floor.command}
            for connections in args.connections:
                found: dict[str, list[dict]] = {name: [] for name in targets}
                for repeat in range(args.repeats):
                    order = list(targets) if repeat % 2 == 0 else list(reversed(targets))
                    for name in order:
                        found[name].append(measure(f"{worker_class} {name}", targets[name], connections, args))
                for name, runs in found.items():
                    results["runs"][(worker_class, name, connections)] = median_run(runs)
            app_server.stop()
            floor.stop()
    finally:
        for server in reversed(servers):
            server.stop()
    return results


# --- report -------------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the servers on a plain kill
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    os.environ.update(BENCH_ENV)
    with tempfile.TemporaryDirectory(prefix="hubx-bench-invites-") as tmp:
        workdir = Path(tmp)
        os.environ["HUBX_INSTANCE_PATH"] = str(workdir / "instance")
        url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
        print(f"seeding {args.invites:,} invites ...", flush=True)
        valid, facts = prepare_database(args, url)
        print(f"  done in {facts['seed_seconds']} s; load average {os.getloadavg()[0]:.2f}", flush=True)
        results = run(args, url, valid, workdir)
    runs = results["runs"]
    nan = float("nan")

    print()
    print(f"database: {facts['dialect']} {facts['server_version']} ({args.database_url or 'temporary SQLite file'})")
    print(f"machine: {machine()}")
    print(f"invites in the table: {facts['invites']:,} over {args.tenants} tenants; {len(valid):,} valid codes "
          f"cycled; gunicorn: {args.workers} workers each, keep-alive off; wrk: {args.threads} threads, "
          f"{args.warmup} s warm-up + {args.duration} s per run, {args.repeats} runs per cell in alternating order "
          "(the median shown)")
    if results["join"] is None:
        print("GET /join/<code>: the app has no `invites.join_link` route here: not measured (run again once it has)")
    else:
        print(f"GET /join/<code>: measured at {results['join']}<code> (answers {results.get('join_status')})")
    print()
    print(f"{'workers':<8} {'endpoint':<16} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'idle%':>6} {'other%':>6}  p95 ms of each run")
    for (worker_class, name, connections), r in runs.items():
        print(f"{worker_class:<8} {name:<16} {connections:>5} {r['rps']:>9.1f} {r['p50_us'] / 1e3:>8.2f} "
              f"{r['p95_us'] / 1e3:>8.2f} {r['p99_us'] / 1e3:>8.2f} {r['errors_all']:>6} "
              f"{r.get('idle_pct', nan):>6.1f} {r.get('others_pct', nan):>6.1f}  {r['p95_runs_ms']}")
    noisy = [f"{w} {n} at {c} ({r['others_pct']}%)" for (w, n, c), r in runs.items()
             if r.get("others_pct", 0) > NOISY_PCT]
    if noisy:
        print(f"WARNING: other processes used more than {NOISY_PCT}% of the CPU during {', '.join(noisy)}: "
              "those figures are not clean; run again on a quiet machine")
    invalid = [f"{w} {name} at {c}" for (w, name, c), r in runs.items() if r["errors_all"] or r["warmup_errors_all"]]
    ok = True
    print()
    print(f"budget on {facts['dialect']}: p95 at most {BUDGET}x the floor's at "
          f"{', '.join(map(str, sorted(BUDGET_CONNECTIONS)))} connections")
    print(f"{'workers':<8} {'endpoint':<16} {'conns':>5} {'p95 ÷ floor':>12} {'req/s ÷ floor':>14}  verdict")
    for (worker_class, name, connections), r in runs.items():
        if name in {"floor", "app /healthz"}:
            continue
        floor = runs[(worker_class, "floor", connections)]
        p95, rps = r["p95_us"] / floor["p95_us"], r["rps"] / floor["rps"]
        within = p95 <= BUDGET or connections not in BUDGET_CONNECTIONS
        if name in UNBUDGETED:
            verdict = "(a page: not budgeted)"
        else:
            ok &= within
            verdict = "within" if within else "MISSED"
        print(f"{worker_class:<8} {name:<16} {connections:>5} {p95:>12.2f} {rps:>14.2f}  {verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "facts": facts, "machine": machine(), "args": vars(args), "join": results["join"],
            "runs": [{"workers": w, "endpoint": n, "connections": c, **r} for (w, n, c), r in runs.items()]},
            indent=2, default=str))
    if invalid:
        print(f"INVALID: errors or answers of 400 or more in {', '.join(invalid)}")
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
