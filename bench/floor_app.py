"""The floor for bench/api_me.py (and bench/invite_validate.py, `POST /invite-floor`): a plain Flask app whose
one route does what any token check must do at the least (read the bearer header, HMAC it, one indexed SELECT by
digest, answer JSON), and nothing else.

    DATABASE_URL=... TOKEN_HASH_KEY=... gunicorn -w 2 -b 127.0.0.1:PORT --pythonpath bench floor_app:app

Same database and driver as the app, SQLAlchemy's default pool and engine options (no `pool_pre_ping`: the
floor pays no round trip a token check does not need), same worker count; no Hubx code is imported, so it
measures Flask + gunicorn + driver + the query. On PostgreSQL `engine.connect()` runs the query in a
transaction: BEGIN, the SELECT, and the ROLLBACK when the connection goes back, each a round trip of its own
(bench/service_time.py counts them); the app reads the token in autocommit, one round trip.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["DATABASE_URL"])
HASH_KEY = os.environ["TOKEN_HASH_KEY"].encode()
QUERY = text("SELECT id, user_id, scope FROM api_token WHERE digest = :d")
# bench/invite_validate.py's floor: the invite's row by digest (the same index the app's check uses)
INVITE_QUERY = text("SELECT role, status, expires_at, uses, max_uses, tenant_id FROM invite WHERE digest = :d")

app = Flask(__name__)


@app.get("/floor")
def floor():
    """One indexed SELECT of the bearer token's row."""
    secret = request.headers.get("Authorization", "").partition(" ")[2].strip()
    digest = hmac.new(HASH_KEY, secret.encode(), hashlib.sha256).hexdigest()
    with engine.connect() as conn:
        row = conn.execute(QUERY, {"d": digest}).first()
    if row is None:
        return jsonify(error="unknown token"), 401
    return jsonify(id=row.id, user_id=row.user_id, scope=row.scope)


@app.post("/invite-floor")
def invite_floor():
    """One indexed SELECT of the invite a JSON body's code names (bench/invite_validate.py)."""
    code = (request.get_json(silent=True) or {}).get("code", "")
    digest = hmac.new(HASH_KEY, str(code).strip().encode(), hashlib.sha256).hexdigest()
    with engine.connect() as conn:
        row = conn.execute(INVITE_QUERY, {"d": digest}).first()
    if row is None:
        return jsonify(valid=False)
    return jsonify(valid=row.status == "pending", role=row.role, tenant_id=row.tenant_id)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")
