"""Client address: the trusted proxy hop only, never a header the client can forge."""

from flask import current_app, request


def client_ip() -> str:
    """The client's IP address, taken from the hop TRUSTED_PROXY_COUNT proxies away.

    With no trusted proxy the socket peer is the client and X-Forwarded-For is ignored entirely;
    with N proxies the N-th address from the right of X-Forwarded-For is used (ProxyFix's rule).
    """
    hops = current_app.config.get("TRUSTED_PROXY_COUNT", 0)
    if hops > 0:
        forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote_addr or "0.0.0.0"  # noqa: S104 (a placeholder address, not a bind)


def user_agent() -> str:
    """The request's user agent, cut to a sane length."""
    return request.environ.get("HTTP_USER_AGENT", "")[:512]
