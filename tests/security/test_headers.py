"""Security headers on every response; no inline script; vendored assets are the pinned ones."""

import hashlib
import re
from pathlib import Path

from app.users.models import Role

STATIC = Path(__file__).resolve().parents[2] / "app" / "static" / "vendor"

# Pinned vendored assets: name -> sha256 (htmx from `npm pack htmx.org@4.0.1`, Bootstrap 5.3.9).
VENDORED = {
    "htmx-4.0.1.min.js": "a0abb04f2f45a1f89d1d4844023245537e5e6014c87b144553e0607b4cc32130",
    "bootstrap-5.3.9.min.css": "9caac977a0af0c2229abd397eee3345899c4020da2a1a0b711c1cc543fe3719d",
    "bootstrap-5.3.9.bundle.min.js": "4ad2ad30a7df1fa0a615c4cfeb1aeffbe92019a8dff0262c99464acbd56dca5c",
}


def test_vendored_assets_match_their_pins():
    assert {p.name for p in STATIC.iterdir()} == set(VENDORED)
    for name, digest in VENDORED.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name


def test_headers_on_a_page(client):
    response = client.get("/auth/login")
    h = response.headers
    csp = h["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert h["Strict-Transport-Security"].startswith("max-age=")
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "same-origin"
    assert h["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", body, re.S)
    assert scripts, "the page loads its scripts"
    for attrs, content in scripts:
        assert 'src="' in attrs and content.strip() == "", "no inline script"
        assert f'nonce="{nonce}"' in attrs
    assert " style=" not in body and "<style" not in body, "no inline style (CSP style-src 'self')"


def test_headers_on_json_and_errors(client):
    for url in ("/healthz", "/api/v1/missing", "/t/none/"):
        h = client.get(url).headers
        assert "Content-Security-Policy" in h and "X-Request-ID" in h and h["X-Content-Type-Options"] == "nosniff"


def test_nonce_differs_per_request(client):
    first = client.get("/auth/login").headers["Content-Security-Policy"]
    second = client.get("/auth/login").headers["Content-Security-Policy"]
    assert first != second


def test_session_cookie_flags(client, auth, member_of):
    user, _ = member_of(Role.ADMIN)
    response = auth.login(user)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
