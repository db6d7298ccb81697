"""WSGI entry for the usage-log comparison of bench/api_me.py (`--compare-usage`); never used in production.

    BENCH_USAGE_MODE=off|inline|deferred gunicorn ... --pythonpath bench usage_variants:app

- `deferred`: the app as shipped (wsgi.py): requests append to a buffer, a thread writes it every second.
- `off`: no usage row at all (the floor of what logging can cost).
- `inline`: the naive design the deferral replaced: each request INSERTs its row (IP and user agent
  encrypted) in its own transaction, before the request's commit.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from app.core.mixins import utcnow  # noqa: E402
from app.extensions import db  # noqa: E402
from app.tokens import usage  # noqa: E402
from app.tokens.models import TokenUsageLog  # noqa: E402

MODE = os.environ.get("BENCH_USAGE_MODE", "deferred")
app = create_app()


def _record_off(**_row) -> None:
    return None


def _record_inline(*, token_id, tenant_id, endpoint, outcome, status, correlation_id, ip, user_agent,
                   at=None) -> None:
    now = at or utcnow()
    db.session.add(TokenUsageLog(token_id=token_id, tenant_id=tenant_id, occurred_at=now, endpoint=endpoint,
                                 outcome=outcome, status=status, correlation_id=correlation_id, ip=ip,
                                 user_agent=user_agent))
    db.session.flush()


if MODE == "off":
    usage.record = _record_off
elif MODE == "inline":
    usage.record = _record_inline
elif MODE != "deferred":
    raise SystemExit(f"BENCH_USAGE_MODE must be off, inline or deferred, not {MODE!r}")
