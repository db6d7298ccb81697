"""Translations: the pt_BR catalog is complete and covers every string in the code (the API reference's texts
too), and every page, error pages included, speaks the person's language: their choice, else the browser's,
else the tenant's default."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from app.users.models import Role

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "app"
PO_FILE = APP_DIR / "translations" / "pt_BR" / "LC_MESSAGES" / "messages.po"
MO_FILE = PO_FILE.with_suffix(".mo")
# The same keywords as `pybabel extract -k _l` (docs/i18n.md): the defaults plus lazy_gettext as _l.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None}

PT = {"lang": '<html lang="pt-BR">', "sign_in": "Entrar", "password": "Senha"}
EN = {"lang": '<html lang="en">', "sign_in": "Sign in", "password": "Password"}


def _catalog():
    with PO_FILE.open("rb") as f:
        return read_po(f, locale="pt_BR")


@pytest.fixture(scope="module")
def compiled_catalog(base_app):
    """The pt_BR .mo, compiled from the .po when missing or older (the suite may run before
    `make translations`), and Flask-Babel's translation cache emptied so no request keeps a catalog
    loaded before the .mo existed."""
    from flask_babel import get_domain

    if not MO_FILE.exists() or MO_FILE.stat().st_mtime < PO_FILE.stat().st_mtime:
        fd, tmp = tempfile.mkstemp(dir=MO_FILE.parent, suffix=".mo.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write_mo(f, _catalog())
            os.replace(tmp, MO_FILE)  # atomic: a parallel run never reads half a file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    with base_app.app_context():
        domain = get_domain()  # one Domain, and cache, per process: shared by every app made in it
    domain.cache.clear()
    yield MO_FILE
    domain.cache.clear()


def _body(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _assert_language(body: str, expected: dict, other: dict) -> None:
    assert expected["lang"] in body
    assert expected["sign_in"] in body and expected["password"] in body
    assert other["sign_in"] not in body


# ---------------------------------------------------------------- the catalog


def test_catalog_has_a_translation_for_every_message():
    catalog = _catalog()
    untranslated = [m.id for m in catalog if m.id and (
        not all(m.string if isinstance(m.string, tuple) else [m.string]) or m.fuzzy)]
    assert not untranslated, (
        f"{len(untranslated)} message(s) in {PO_FILE.relative_to(ROOT)} are untranslated or fuzzy:\n  "
        + "\n  ".join(map(repr, untranslated))
    )


def test_catalog_keeps_placeholders():
    # Babel's checkers: %(name)s placeholders in msgstr must match msgid, plural forms must be complete.
    problems = [f"{m.id!r}: {'; '.join(map(str, errors))}" for m, errors in _catalog().check()]
    assert not problems, "broken translations:\n  " + "\n  ".join(problems)


def test_catalog_covers_every_string_in_the_code():
    """What `pybabel extract` would find (babel.cfg, -k _l) must all be in the .po: a new `_()` or
    `_l()` string fails here until the catalog is updated and translated (docs/i18n.md)."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")
    found: dict[tuple[str, str | None], str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(APP_DIR), method_map, options_map, keywords=KEYWORDS
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((msgid, context), f"app/{filename}:{lineno}")
    assert len(found) > 40, "extraction found almost nothing: is babel.cfg still right?"
    catalog = _catalog()
    missing = [f"{where}: {msgid!r}" for (msgid, context), where in found.items()
               if catalog.get(msgid, context=context) is None]
    assert not missing, (
        f"{len(missing)} string(s) in the code are missing from {PO_FILE.relative_to(ROOT)}; run the "
        "extract/update commands in docs/i18n.md and translate them:\n  " + "\n  ".join(missing)
    )


# ---------------------------------------------------------------- pages


@pytest.mark.usefixtures("compiled_catalog")
def test_sign_in_page_follows_the_browser_language(client):
    pt = _body(client.get("/auth/login", headers={"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"}))
    _assert_language(pt, PT, EN)
    en = _body(client.get("/auth/login", headers={"Accept-Language": "en-US,en;q=0.9"}))
    _assert_language(en, EN, PT)


@pytest.mark.usefixtures("compiled_catalog")
def test_browser_without_a_preference_gets_portuguese(client):
    _assert_language(_body(client.get("/auth/login", headers={"Accept-Language": ""})), PT, EN)


@pytest.mark.usefixtures("compiled_catalog")
def test_chosen_language_beats_the_browser(client):
    response = client.post("/auth/locale", {"locale": "en"})
    assert response.status_code == 302
    _assert_language(_body(client.get("/auth/login", headers={"Accept-Language": "pt-BR"})), EN, PT)
    client.post("/auth/locale", {"locale": "pt_BR"})
    _assert_language(_body(client.get("/auth/login", headers={"Accept-Language": "en"})), PT, EN)


@pytest.mark.usefixtures("compiled_catalog")
def test_unknown_language_choice_is_ignored(client):
    client.post("/auth/locale", {"locale": "xx"})
    _assert_language(_body(client.get("/auth/login", headers={"Accept-Language": "en"})), EN, PT)


@pytest.mark.usefixtures("compiled_catalog")
def test_form_errors_and_validator_messages_are_translated(client):
    response = client.post("/auth/login", {"email": "not-an-email", "password": "x"},
                           headers={"Accept-Language": "pt-BR"})
    assert response.status_code == 422
    assert "Email inválido." in response.get_data(as_text=True)  # WTForms' own pt catalog
    response = client.post("/auth/login", {"email": "nobody@example.com", "password": "wrong password!!"},
                           headers={"Accept-Language": "pt-BR"})
    assert response.status_code == 401
    assert "Não foi possível entrar. Verifique seu e-mail e sua senha." in response.get_data(as_text=True)


@pytest.mark.usefixtures("compiled_catalog")
def test_the_browser_beats_the_tenant_default(client, auth, member_of, create_tenant):
    # the sign-in page can only follow the browser: the pages after it do too, so the language does not switch
    user, _ = member_of(Role.ADMIN, tenant=create_tenant(default_locale="pt_BR"))
    auth.login(user)
    body = _body(client.get("/", headers={"Accept-Language": "en"}, follow_redirects=True))
    assert "Dashboard" in body and "Painel" not in body and '<html lang="en">' in body


@pytest.mark.usefixtures("compiled_catalog")
def test_the_tenant_default_serves_a_browser_that_asks_for_none_of_ours(client, auth, member_of, create_tenant):
    # outside a tenant, such a browser gets DEFAULT_LOCALE
    assert '<html lang="pt-BR">' in _body(client.get("/auth/login", headers={"Accept-Language": "fr"}))
    user, tenant = member_of(Role.ADMIN, tenant=create_tenant(default_locale="en"))
    auth.login(user)
    body = _body(client.get(f"/t/{tenant.slug}/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}))
    assert '<html lang="en">' in body


@pytest.mark.usefixtures("compiled_catalog")
def test_member_pages_in_portuguese(client, auth, member_of, create_tenant):
    user, tenant = member_of(Role.ADMIN, tenant=create_tenant(default_locale="pt_BR"))
    auth.login(user)
    dashboard = _body(client.get(f"/t/{tenant.slug}/", headers={"Accept-Language": "pt-BR"}))
    for text in ("Painel", "Configurações", "Membros", "Sair", "Idioma"):
        assert text in dashboard, text
    assert "Dashboard" not in dashboard and "Sign out" not in dashboard
    settings = _body(client.get(f"/t/{tenant.slug}/settings", headers={"Accept-Language": "pt-BR"}))
    for text in ("Geral", "Fuso horário", "Idioma padrão", "Salvar"):
        assert text in settings, text
    # the user's own choice wins over the tenant's default, and is kept on the profile
    client.post("/auth/locale", {"locale": "en"})
    assert "Dashboard" in _body(client.get(f"/t/{tenant.slug}/", headers={"Accept-Language": "pt-BR"}))


# ---------------------------------------------------------------- every page in the person's language

PT_ERROR_TITLES = {
    400: "A solicitação não foi compreendida.",
    403: "Você não tem permissão para fazer isso.",
    404: "A página solicitada não existe.",
    429: "Muitas solicitações. Aguarde um momento e tente novamente.",
    500: "Algo deu errado do nosso lado. O problema foi registrado.",
    503: "O serviço está indisponível por um instante. Tente novamente em alguns segundos.",
}


@pytest.mark.usefixtures("compiled_catalog")
@pytest.mark.parametrize("status", sorted(PT_ERROR_TITLES))
def test_error_pages_and_problems_speak_the_chosen_language(app, status):
    """Each error template, and the problem+json title, in the language chosen in this browser (an English
    browser, outside any tenant)."""
    from app.core.errors import _HTTP_TITLES, render_error

    headers = {"Accept-Language": "en", "Cookie": "hubx_locale=pt_BR"}
    with app.test_request_context("/somewhere", headers=headers):
        html, code = render_error(status, "x", str(_HTTP_TITLES[status]))
    assert code == status
    assert '<html lang="pt-BR">' in html and PT_ERROR_TITLES[status] in html and "Ir para o início" in html
    with app.test_request_context("/somewhere", headers={**headers, "Accept": "application/json"}):
        problem = render_error(status, "x", str(_HTTP_TITLES[status]))
    assert problem.get_json()["title"] == PT_ERROR_TITLES[status]


@pytest.mark.usefixtures("compiled_catalog")
def test_pages_outside_a_tenant_speak_the_persons_language(client, auth, member_of, create_user):
    user, tenant = member_of(Role.MEMBER)  # an English tenant, an English browser
    user.profile.locale = "pt_BR"
    loner = create_user("loner@example.com")
    loner.profile.locale = "pt_BR"
    from app.extensions import db

    db.session.commit()
    auth.login(user)
    missing = client.get("/t/nobody-has-this/")
    assert missing.status_code == 404
    assert PT_ERROR_TITLES[404] in missing.get_data(as_text=True)
    forged = client.post(f"/t/{tenant.slug}/settings/general", {"name": "x"}, csrf=False)
    assert forged.status_code in {400, 403}
    assert '<html lang="pt-BR">' in forged.get_data(as_text=True)
    auth.logout()
    auth.login(loner)
    assert "Nenhuma organização ainda" in _body(client.get("/"))


def _api_texts(app) -> list[str]:
    from app.api import spec

    with app.test_request_context():
        document = spec.spec
    texts = [document["info"]["title"]]
    for operations in document["paths"].values():
        for op in operations.values():
            texts += [op.get("summary"), op.get("description")]
            texts += [r.get("description") for r in op["responses"].values()]
    for schema in document["components"]["schemas"].values():
        texts += [f.get("description") for f in (schema.get("properties") or {}).values()]
    return sorted({t for t in texts if t})


def test_every_text_of_the_api_reference_is_translated(app):
    """/api/v1/docs shows the OpenAPI document's summaries, descriptions and status reasons in the page's
    language (the `translated` filter): each needs its pt_BR entry, added by hand to the .po (they are data, not
    `_()` calls, so `pybabel extract` does not find them)."""
    catalog = _catalog()
    missing = [t for t in _api_texts(app) if catalog.get(t) is None or not catalog.get(t).string]
    assert not missing, (f"{len(missing)} text(s) of the OpenAPI document lack a pt_BR translation in "
                         f"{PO_FILE.relative_to(ROOT)}:\n  " + "\n  ".join(map(repr, missing)))


@pytest.mark.usefixtures("compiled_catalog")
def test_the_api_reference_in_both_languages(client):
    english = _body(client.get("/api/v1/docs"))
    assert "Hubx Access API" in english and "Create a token for the caller" in english
    client.post("/auth/locale", {"locale": "pt_BR"})
    portuguese = _body(client.get("/api/v1/docs"))
    assert '<html lang="pt-BR">' in portuguese and "API do Hubx Access" in portuguese
    assert "Cria um token para quem chama" in portuguese and "Create a token for the caller" not in portuguese
    # the status reason of 201 is the HTTP phrase ("Criado"), not the token page's field label ("Criado em")
    assert "<code>201</code> Criado</li>" in portuguese and "<code>201</code> Criado em" not in portuguese
    # schemas are named as people know them, without spectree's module hash
    assert "<code>CreateToken</code>" in english and not re.search(r"<code>CreateToken\.[0-9a-f]+</code>", english)
