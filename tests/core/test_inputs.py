"""Request-level defences against hostile input (app.core.inputs, HubxRequest.get_json): deep JSON is a 400,
ids past the id column's range a 404, text the database cannot store (NUL, lone surrogates) a 404 in a path
and a 422 anywhere else; the API checks it only after the token is accepted."""

from __future__ import annotations

import json
import re

import pytest
from werkzeug.routing import Map, Rule

from app.core.inputs import ID_MAX, IdConverter, parse_id, unstorable, unstorable_field, unstorable_json
from app.extensions import db
from app.tokens import services
from app.users.models import Role
from tests.security.route_table import api_routes

DEEP_BODIES = ("[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000)


@pytest.fixture
def bearer(member_of):
    """(tenant, owner, headers) with an admin-scope token of a tenant owner."""
    owner, tenant = member_of(Role.OWNER)
    issued = services.create_token(None, tenant, owner, name="probe", scope="admin")
    db.session.commit()
    return tenant, owner, {"Authorization": f"Bearer {issued.secret}"}


def _post_json(client, url: str, body: str, headers=None):
    return client.open("post", url, data=body, content_type="application/json", headers=headers or {})


def _api_rules(app, method: str) -> list[str]:
    rules = [r for r in app.url_map.iter_rules() if r.endpoint in api_routes() and method in r.methods]
    return [r.rule.replace("<id:token_id>", "1").replace("<id:rule_id>", "1").replace("<id:user_id>", "1")
            .replace("<id:invite_id>", "1") for r in rules]


# ---------------------------------------------------------------- the pieces


def test_unstorable_text():
    assert unstorable("a\x00b") and unstorable("\ud800") and unstorable("x\udfff")
    assert not unstorable("plain ✓ ünïcödé 😀 \t\n")  # a surrogate pair decodes to one character: fine
    assert unstorable_field([("q", "fine"), ("name", "a\x00")]) == "name"
    assert unstorable_field([("a\x00", "fine")]) == "a\ufffd"  # the name is shown without the NUL
    assert unstorable_field([("q", "fine")]) is None
    assert unstorable_json({"a": [1, {"b": "x\ud800"}]}) == "a.1.b"
    assert unstorable_json({"ok": "✓", "\x00": 1}) == "\ufffd"
    assert unstorable_json("\x00") == ""
    assert unstorable_json({"a": [None, True, 1.5, "fine"]}) is None
    deep = json.loads("[" * 900 + '"\\u0000"' + "]" * 900)
    assert unstorable_json(deep) == ".".join(["0"] * 900)  # no recursion: any depth the parser gives


def test_id_converter_takes_the_id_columns_range_only():
    urls = Map([Rule("/t/<id:token_id>", endpoint="t")], converters={"id": IdConverter}).bind("x")
    assert urls.match("/t/1") == ("t", {"token_id": 1})
    assert urls.match(f"/t/{ID_MAX}") == ("t", {"token_id": ID_MAX})
    for path in ("/t/0", "/t/-1", f"/t/{ID_MAX + 1}", f"/t/{2**63}", "/t/" + "9" * 5000, "/t/abc", "/t/1.5",
                 "/t/²"):
        with pytest.raises(Exception) as info:
            urls.match(path)
        assert getattr(info.value, "code", None) == 404, path


def test_parse_id_takes_what_the_converter_takes():
    assert parse_id("1") == 1 and parse_id(f" {ID_MAX} ") == ID_MAX and parse_id(7) == 7
    for text in (None, "", "0", "-1", str(ID_MAX + 1), "9" * 5000, "²", "٣", "1.5", "abc", "1e3", "\x00"):
        assert parse_id(text) is None, text


def test_every_route_with_an_id_uses_the_id_converter(app):
    for rule in app.url_map.iter_rules():
        for name in rule.arguments:
            if name.endswith("_id"):
                assert f"<id:{name}>" in rule.rule, rule.rule


def test_the_document_types_ids_as_integers(client):
    document = client.get("/api/v1/openapi.json").get_json()
    parameters = [p for operations in document["paths"].values() for operation in operations.values()
                  for p in operation.get("parameters", []) if p["in"] == "path"]
    assert parameters
    for parameter in parameters:
        assert parameter["schema"] == {"type": "integer", "format": "int32", "minimum": 1, "maximum": ID_MAX}


# ---------------------------------------------------------------- the API


def test_deep_json_is_malformed_json_on_every_post_api_route(app, client, bearer):
    _tenant, _owner, headers = bearer
    for url in _api_rules(app, "POST"):
        for body in DEEP_BODIES:
            response = _post_json(client, url, body, headers)
            assert response.status_code == 400, (url, response.status_code)
            assert response.get_json()["code"] == "malformed_json"


def test_deep_json_from_an_anonymous_caller_is_401(client):
    assert _post_json(client, "/api/v1/tokens", DEEP_BODIES[0]).status_code == 401


def test_ids_past_the_column_range_are_404(client, bearer):
    _tenant, _owner, headers = bearer
    for bad in (str(ID_MAX + 1), str(2**63), "9" * 40, "0", "-1"):
        for method, url in (("get", f"/api/v1/tokens/{bad}"), ("post", f"/api/v1/tokens/{bad}/revoke"),
                            ("post", f"/api/v1/tokens/{bad}/rotate"),
                            ("delete", f"/api/v1/permissions/rules/{bad}")):
            response = client.open(method, url, headers=headers)
            assert response.status_code == 404, (method, url, response.status_code)
            assert response.mimetype == "application/problem+json"
    assert client.get(f"/api/v1/tokens/{ID_MAX}", headers=headers).status_code == 404  # in range, no such token


@pytest.mark.parametrize("query", ["q=a%00b", "q=ok&module=%00", "%00=1", "status=active&q=x%00"])
def test_unstorable_text_in_an_api_query_is_422(client, bearer, query):
    _tenant, _owner, headers = bearer
    for path in ("/api/v1/tokens", "/api/v1/permissions/rules"):
        response = client.get(f"{path}?{query}", headers=headers)
        assert response.status_code == 422, (path, query)
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["code"] == "invalid_characters"


@pytest.mark.parametrize("body, where", [
    ('{"name": "a\\u0000b", "scope": "read"}', "name"),
    ('{"name": "a\\ud800b", "scope": "read"}', "name"),
    ('{"name": "ok", "scope": "read", "ip_allow": ["10.0.0.0/8", "\\udfff"]}', "ip_allow.1"),
    ('{"name": "ok", "scope": "read", "\\u0000": 1}', "\ufffd"),
])
def test_unstorable_text_in_api_json_is_422(client, bearer, body, where):
    _tenant, _owner, headers = bearer
    response = _post_json(client, "/api/v1/tokens", body, headers)
    assert response.status_code == 422
    assert response.get_json()["code"] == "invalid_characters" and response.get_json()["field"] == where


def test_text_outside_the_basic_plane_is_fine(client, bearer):
    _tenant, _owner, headers = bearer
    response = _post_json(client, "/api/v1/tokens", '{"name": "rocket \\ud83d\\ude80", "scope": "read"}', headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["token"]["name"] == "rocket 🚀"


def test_an_anonymous_caller_learns_nothing_but_401(client):
    assert client.get("/api/v1/tokens?q=%00").status_code == 401
    assert _post_json(client, "/api/v1/tokens", '{"name": "\\u0000"}').status_code == 401


# ---------------------------------------------------------------- pages


def test_unstorable_text_in_a_page_path_is_404(client, auth, member_of):
    owner, _tenant = member_of(Role.OWNER)
    auth.login(owner)
    for url in ("/t/%00/", "/t/a%00b/tokens", "/t/%00/permissions"):
        assert client.get(url).status_code == 404, url


def test_ids_past_the_column_range_in_pages_are_404(client, auth, member_of):
    owner, tenant = member_of(Role.OWNER)
    auth.login(owner)
    for bad in (str(ID_MAX + 1), str(2**63), "0"):
        assert client.get(f"/t/{tenant.slug}/tokens/{bad}").status_code == 404
        assert client.post(f"/t/{tenant.slug}/tokens/{bad}/revoke").status_code == 404
        assert client.post(f"/t/{tenant.slug}/permissions/rules/{bad}/delete").status_code == 404


def test_unstorable_text_in_a_page_query_or_form_is_422(client, auth, member_of):
    owner, tenant = member_of(Role.OWNER)
    auth.login(owner)
    response = client.get(f"/t/{tenant.slug}/tokens?q=a%00b")
    assert response.status_code == 422 and response.mimetype == "text/html"
    assert "cannot be stored" in response.get_data(as_text=True)
    assert client.get(f"/t/{tenant.slug}/permissions?rules_module=%00").status_code == 422
    response = client.post(f"/t/{tenant.slug}/tokens", {"new-name": "a\x00b", "new-scope": "read"}, htmx=True)
    assert response.status_code == 422 and "cannot be stored" in response.get_data(as_text=True)


def test_the_refusal_is_translated(client, auth, member_of, create_tenant):
    owner, tenant = member_of(Role.OWNER, tenant=create_tenant(default_locale="pt_BR"))
    auth.login(owner)
    response = client.get(f"/t/{tenant.slug}/tokens?q=%00", headers={"Accept-Language": "pt-BR"})
    assert response.status_code == 422
    assert "não podem ser armazenados" in response.get_data(as_text=True)


def test_the_id_pattern_holds_the_range_itself():
    # In the pattern, not only after matching: a path with a GET page and a POST action answers 404, not 405,
    # for an id out of range (Werkzeug counts the other method's route before converting).
    import random

    pattern = re.compile(rf"(?:{IdConverter.regex})\Z")
    edges = [1, 9, 10, 999_999_999, 1_000_000_000, ID_MAX - 1, ID_MAX]
    assert all(pattern.match(str(n)) for n in edges)
    assert not any(pattern.match(text) for text in ("0", "007", str(ID_MAX + 1), str(2**32), "1" * 11, "-1"))
    rng = random.Random(11)
    for n in [rng.randint(1, 3 * 10**9) for _ in range(20_000)] + list(range(ID_MAX - 2_000, ID_MAX + 2_000)):
        assert bool(pattern.match(str(n))) == (n <= ID_MAX), n
