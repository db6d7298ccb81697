"""The floor for bench/api_me.py: a plain Flask app whose one route does what any token check must do at
the least (read the bearer header, HMAC it, one indexed SELECT by digest, answer JSON), and nothing else.

    DATABASE_URL=... TOKEN_HASH_KEY=... gunicorn -w 2 -b 127.0.0.1:PORT --pythonpath bench floor_app:app

Same database, same engine options as the app (`pool_pre_ping`, SQLAlchemy's default pool), same worker
count; no Hubx code is imported, so it measures Flask + gunicorn + driver + the query.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)
HASH_KEY = os.environ["TOKEN_HASH_KEY"].encode()
QUERY = text("SELECT id, user_id, scope FROM api_token WHERE digest = :d")

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


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")
