"""The rate limiter (Flask-Limiter), keyed by the client address of the trusted proxy hop (`app.core.net`).

It lives in the kernel, not with the unbound extensions, because its key function is the kernel's rule for who
the client is; `app.extensions` imports nothing of the application. Storage is Redis when REDIS_URL is set
(production requires it), memory otherwise (one process: `make run`)."""

import threading
import time

from flask_limiter import Limiter
from limits import parse_many
from limits.storage import MemoryStorage

from app.core.net import client_ip

limiter = Limiter(key_func=client_ip)

#: how often the in-memory storage sweeps expired counters away (limits' own: every 10 ms)
SWEEP_SECONDS = 1.0


class SteadyMemoryStorage(MemoryStorage):
    """limits' in-memory storage (`memory://`, the storage without Redis), sweeping expired counters every second
    instead of every 10 ms. limits starts a new `threading.Timer` thread each time its 10 ms sweep has run and a
    counter is touched: under load, a hundred thread starts a second per process, each one waiting for its thread to
    run, which put milliseconds on the slowest requests of a limited route (bench/invite_validate.py). Counters are
    checked against their expiry when read, so the sweep only frees memory: its pace changes no verdict.

    Used as `hubx-memory://` (app.register_config), a scheme of its own: nothing else of limits changes."""

    STORAGE_SCHEME = ["hubx-memory"]  # noqa: RUF012 (limits' class attribute)

    def _MemoryStorage__schedule_expiry(self) -> None:  # limits' private hook, name-mangled
        if not self.timer.is_alive():
            self.timer = threading.Timer(SWEEP_SECONDS, self._MemoryStorage__expire_events)
            self.timer.daemon = True
            self.timer.start()


def hit(limit: str, namespace: str, key: str) -> int:
    """Count one request against `limit` (`"30 per minute;300 per hour"`) for (`namespace`, `key`), for views
    that Flask-Limiter's middleware does not see (the JSON API: its hooks are for pages only). Returns 0 when
    within every limit, else the seconds until the first one exceeded lets a request through (for
    `Retry-After`). With its storage away (Redis down) it counts in memory, as the middleware does: never
    unlimited, never an error."""
    if not limiter.enabled:
        return 0
    for item in parse_many(limit):
        try:
            strategy = limiter.limiter
            allowed = strategy.hit(item, namespace, key)
        except Exception:  # the storage is away: the in-memory fallback (the middleware's)
            fallback = getattr(limiter, "_fallback_limiter", None)
            if fallback is None:
                raise
            strategy = fallback
            allowed = strategy.hit(item, namespace, key)
        if not allowed:
            reset_at, _remaining = strategy.get_window_stats(item, namespace, key)
            return max(1, int(reset_at - time.time()))
    return 0
