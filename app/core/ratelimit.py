"""The rate limiter (Flask-Limiter), keyed by the client address of the trusted proxy hop (`app.core.net`).

It lives in the kernel, not with the unbound extensions, because its key function is the kernel's rule for who
the client is; `app.extensions` imports nothing of the application. Storage is Redis when REDIS_URL is set
(production requires it), memory otherwise (one process: `make run`)."""

from flask_limiter import Limiter

from app.core.net import client_ip

limiter = Limiter(key_func=client_ip)
