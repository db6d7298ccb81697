"""The client address comes from the trusted proxy hop only."""

import pytest
from flask import Flask

from app.core.net import client_ip


@pytest.mark.parametrize("hops,forwarded,expected", [
    (0, "203.0.113.5", "10.0.0.1"),                       # no proxy trusted: the header is ignored
    (1, "203.0.113.5", "203.0.113.5"),                     # one proxy: its view of the client
    (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),            # a spoofed entry in front is ignored
    (2, "6.6.6.6, 203.0.113.5, 10.0.0.2", "203.0.113.5"),  # two proxies: the second hop from the right
    (2, "203.0.113.5", "10.0.0.1"),                        # fewer hops than trusted: the socket peer
    (1, "2001:db8::1", "2001:db8::1"),
])
def test_client_ip(hops, forwarded, expected):
    app = Flask(__name__)
    app.config["TRUSTED_PROXY_COUNT"] = hops
    with app.test_request_context(headers={"X-Forwarded-For": forwarded},
                                  environ_base={"REMOTE_ADDR": "10.0.0.1"}):
        assert client_ip() == expected
