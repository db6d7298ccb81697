"""The rate limiter (Flask-Limiter), keyed by the client address of the trusted proxy hop (`app.core.net`).

It lives in the kernel, not with the unbound extensions, because its key function is the kernel's rule for who
the client is; `app.extensions` imports nothing of the application. Storage is Redis when REDIS_URL is set
(production requires it), memory otherwise (one process: `make run`)."""

import threading
import time
from collections.abc import Callable
from functools import wraps

from flask import current_app, request
from flask_limiter import Limiter
from limits import parse_many
from limits.storage import MemoryStorage
from werkzeug.exceptions import TooManyRequests

from app.core.net import client_ip


class HubxLimiter(Limiter):
    """Flask-Limiter, its middleware skipping the views `counted` limits: a request filter alone still leaves it
    resolving the view's exemptions on every request (about 35 µs)."""

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if in_middleware and _counted_view():
            return None
        return super()._check_request_limit(callable_name, in_middleware)


def _counted_view() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, "hubx_counted", False)


limiter = HubxLimiter(key_func=client_ip)

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


def counted(limit_setting: str, namespace: str, *methods: str) -> Callable:
    """A page view limited per address by `hit` instead of Flask-Limiter's decorator: the limit read from the
    setting `limit_setting` (e.g. `JOIN_RATE_LIMIT`), one budget per `namespace` shared by every view decorated
    with it, counted for the given methods (all when none). Over the limit: 429 with Retry-After, the error page
    (`TooManyRequests`, as Flask-Limiter raises). Flask-Limiter's middleware leaves the view alone
    (`HubxLimiter`).

    For pages on a measured path (the join link, bench/invite_validate.py): Flask-Limiter checks a decorated
    page twice (its middleware, then the decorator) and writes its headers after it, about a third of such a
    short request. Other pages use `limiter.limit` / `limiter.shared_limit`."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not methods or request.method in methods:
                wait = hit(current_app.config[limit_setting], namespace, client_ip())
                if wait:
                    raise TooManyRequests(retry_after=wait)
            return view(*args, **kwargs)

        wrapped.hubx_counted = True
        return wrapped

    return decorate
