"""The field checks (app/core/fields.py): what each accepts, refuses and how it normalises; and the adapters
that run them in forms, API models, commands and services."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from werkzeug.datastructures import MultiDict
from wtforms import Form, StringField

from app.core import fields
from app.core.errors import ValidationFailed
from app.core.fieldadapters import Checked, api_field, form_check, refused_field, validated
from app.core.fields import FieldInvalid

ROOT = Path(__file__).resolve().parents[2]


def refused(check, value, *args) -> str:
    with pytest.raises(FieldInvalid) as info:
        check(value, *args)
    assert isinstance(info.value, ValueError)  # pydantic reports it as a validation error
    return info.value.message


# ---------------------------------------------------------------- the kernel stays a kernel


def test_the_checks_import_no_domain_and_no_framework():
    tree = ast.parse((ROOT / "app/core/fields.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    app_modules = {m for m in imported if m.startswith("app")}
    assert app_modules <= {"app.core.i18n"}, app_modules
    assert not imported & {"wtforms", "flask_wtf", "click", "pydantic", "app.core.errors"}


# ---------------------------------------------------------------- email


@pytest.mark.parametrize("value, expected", [
    ("A@Example.com", "a@example.com"),
    ("  someone@example.org \n", "someone@example.org"),
    ("first.last+tag@sub.example.com", "first.last+tag@sub.example.com"),
])
def test_email_accepts_and_normalises(value, expected):
    assert fields.check_email(value) == expected


@pytest.mark.parametrize("value", [
    "a@x.test", "a@x.local", "a@localhost", "a@x.invalid", '"q"@example.com', "a" * 300 + "@example.com",
    "no-at-sign", "a@nodot", "a@@example.com", "a b@example.com", "a\x00@example.com", "",
])
def test_email_refuses(value):
    refused(fields.check_email, value)


def test_email_key_normalises_what_it_can_and_never_refuses():
    assert fields.email_key(" A@Example.com ") == "a@example.com"
    assert fields.email_key(" Odd@X.Test ") == "odd@x.test"  # a look-up: it finds no one


# ---------------------------------------------------------------- password


def test_password():
    assert fields.check_password("a" * 12) == "a" * 12
    assert fields.check_password("  spaced out password  ") == "  spaced out password  "  # never trimmed
    assert "at least 12" in refused(fields.check_password, "a" * 11)
    assert "only spaces" in refused(fields.check_password, " " * 12)
    assert "only spaces" in refused(fields.check_password, "\t \n" * 5)
    refused(fields.check_password, "a" * 1025)
    refused(fields.check_password, "a" * 12 + "\x00")
    refused(fields.check_password, None)


# ---------------------------------------------------------------- names, slug, zone, locale


def test_names():
    assert fields.check_tenant_name("  Acme S.A.  ") == "Acme S.A."
    assert fields.check_display_name("Zoë Ñandú") == "Zoë Ñandú"
    assert fields.check_name("x" * 100, 100) == "x" * 100
    assert refused(fields.check_name, "x" * 101, 100) == "Field cannot be longer than 100 characters."
    assert refused(fields.check_tenant_name, "n" * 150) == "Field cannot be longer than 120 characters."
    for bad in ("", "   ", "a\x00b", "a\nb", "a\tb", "evil\u202etxt.exe", "a\u2028b"):
        refused(fields.check_tenant_name, bad)
    refused(fields.check_tenant_name, 5)


def test_slug_time_zone_and_locale():
    assert fields.check_slug(" ACME-1 ") == "acme-1"
    for bad in ("Bad Slug!", "-x", "x-", "", "a" * 64, "a_b"):
        refused(fields.check_slug, bad)
    assert fields.check_time_zone("America/Sao_Paulo") == "America/Sao_Paulo"
    for bad in ("Mars/Olympus", "", "../etc/passwd", None):
        refused(fields.check_time_zone, bad)
    assert "UTC" in fields.time_zones() and fields.time_zones() == sorted(fields.time_zones())
    assert fields.check_locale("pt_BR") == "pt_BR"
    refused(fields.check_locale, "de")


# ---------------------------------------------------------------- reason


def test_reason():
    assert fields.check_reason("  audit freeze \r\n second line\t(tab) ") == "audit freeze \n second line\t(tab)"
    assert fields.check_reason("r" * 500) == "r" * 500
    assert fields.check_reason("r" * 250 + "\r\n" * 250) == "r" * 250  # CRLF counts once; the end is trimmed
    assert refused(fields.check_reason, "   ") == "This field is required."
    assert refused(fields.check_reason, "") == "This field is required."
    assert refused(fields.check_reason, "r" * 501) == "Field cannot be longer than 500 characters."
    refused(fields.check_reason, "bell\x07")
    refused(fields.check_reason, "nul\x00")


def test_optional_reason():
    assert fields.check_optional_reason("   ") == "" and fields.check_optional_reason(None) == ""
    assert fields.check_optional_reason(" lost ") == "lost"
    refused(fields.check_optional_reason, "a\x01b")
    refused(fields.check_optional_reason, "r" * 501)


# ---------------------------------------------------------------- published patterns: exactly what the checks accept


_TRICKY = st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2000\u2028\u2029\u200e\u202e\u3000ab\xe9\x07\x00\x7f"
                               "\ufeff\u180e"))


def _accepts(check, value, *args) -> bool:
    try:
        check(value, *args)
    except FieldInvalid:
        return False
    return True


@pytest.mark.parametrize("pattern, check", [
    (fields.name_pattern(5), lambda value: _accepts(fields.check_name, value, 5)),
    (fields.reason_pattern(5), lambda value: _accepts(fields._free_text, value, 5)),
    (fields.optional_reason_pattern(5),
     lambda value: not value.strip() or _accepts(fields._free_text, value, 5)),
])
def test_published_patterns_match_the_checks_in_python_and_in_the_documents_dialect(pattern, check):
    # The API document publishes these patterns (app/tokens/api.py, app/permissions/api.py); schemathesis reads
    # them with jsonschema_rs, clients with ECMA-262 engines. Short limits let lengths be reached.
    import re

    python, document = re.compile(pattern), jsonschema_rs.validator_for({"type": "string", "pattern": pattern})

    @settings(max_examples=1500, deadline=None, derandomize=True, database=None)
    @given(st.text(alphabet=_TRICKY, max_size=10) | st.text(max_size=10))
    def agree(value):
        accepted = check(value)
        assert bool(python.search(value)) == accepted, repr(value)
        assert document.is_valid(value) == accepted, repr(value)

    agree()


# ---------------------------------------------------------------- choices


def test_one_of():
    check = fields.one_of(("a", "b"))
    assert check("a") == "a" and check.choices == ("a", "b")
    assert refused(check, "c") == "Choose one of: a, b."
    refused(check, " a")
    refused(check, None)


# ---------------------------------------------------------------- IP rules


@pytest.mark.parametrize("value, expected", [
    (None, []),
    ("", []),
    ([], []),
    ("10.0.0.0/8, 192.168.0.0/16", ["10.0.0.0/8", "192.168.0.0/16"]),
    (["10.0.0.0/8, 192.168.0.0/16"], ["10.0.0.0/8", "192.168.0.0/16"]),  # several entries in one item
    (["10.1.2.3/8", " 10.0.0.0/8 ", "192.0.2.7", "2001:DB8::1/32", ""],
     ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]),
    ("10.0.0.0/8\r\n::1 203.0.113.0/24\t", ["10.0.0.0/8", "203.0.113.0/24", "::1/128"]),
    (["::ffff:127.0.0.1/128"], ["127.0.0.1/32"]),  # IPv4-mapped: the IPv4 network
    ("::ffff:10.0.0.0/104", ["10.0.0.0/8"]),
    ("::ffff:127.0.0.1", ["127.0.0.1/32"]),
    ("::ffff:0:0/95", ["::fffe:0:0/95"]),  # wider than the mapped block (/96): left as IPv6
])
def test_cidrs_accept_and_normalise(value, expected):
    assert fields.check_cidrs(value) == expected


@pytest.mark.parametrize("value, named", [
    ("::1/200", "::1/200"), ("10.0.0.0/33", "10.0.0.0/33"), ("300.1.1.1", "300.1.1.1"),
    ("example.com", "example.com"), ("1.2.3.4 5", "5"), ("fe80::1%eth0", "fe80::1%eth0"), ("x" * 200, "x" * 60),
])
def test_cidrs_refuse_naming_the_bad_entry(value, named):
    message = refused(fields.check_cidrs, value)
    assert message == f"{named} is not an IP address or CIDR range."


def test_cidrs_cap_and_types():
    ok = [f"10.0.{i}.0/24" for i in range(fields.MAX_CIDRS)]
    assert len(fields.check_cidrs(ok)) == fields.MAX_CIDRS
    assert refused(fields.check_cidrs, [*ok, "10.1.0.0/24"]) == "At most 50 ranges."
    assert refused(fields.check_cidrs, ", ".join([*ok, "10.1.0.0/24"])) == "At most 50 ranges."
    refused(fields.check_cidrs, [1])
    refused(fields.check_cidrs, {"a": 1})


def test_normalise_network():
    import ipaddress

    mapped = ipaddress.ip_network("::ffff:192.0.2.0/120")
    assert fields.normalise_network(mapped) == ipaddress.ip_network("192.0.2.0/24")
    plain = ipaddress.ip_network("2001:db8::/32")
    assert fields.normalise_network(plain) is plain


# ---------------------------------------------------------------- dates


MINUS_3 = timezone(timedelta(hours=-3))


def test_aware_datetime():
    assert fields.check_aware_datetime(datetime(2030, 1, 1, 9, tzinfo=MINUS_3)) == datetime(2030, 1, 1, 12, tzinfo=UTC)
    assert "time zone" in refused(fields.check_aware_datetime, datetime(2030, 1, 1))
    far = "Choose a date from the year 2000 to 2999."
    assert refused(fields.check_aware_datetime, datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_3)) == far
    assert refused(fields.check_aware_datetime, datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=3)))) == far
    assert refused(fields.check_aware_datetime, datetime(3000, 1, 1, tzinfo=UTC)) == far
    assert refused(fields.check_aware_datetime, datetime(1999, 12, 31, tzinfo=UTC)) == far
    refused(fields.check_aware_datetime, "2030-01-01T00:00:00Z")


def test_local_datetime_in_the_tenants_zone():
    assert fields.check_local_datetime(datetime(2099, 1, 1, 9, 30), "America/Sao_Paulo") == datetime(
        2099, 1, 1, 12, 30, tzinfo=UTC)
    assert fields.check_local_datetime(datetime(2099, 1, 1, 9, 30), "Nowhere/Else") == datetime(
        2099, 1, 1, 9, 30, tzinfo=UTC)
    refused(fields.check_local_datetime, datetime(9999, 12, 31, 23, 59), "America/Sao_Paulo")  # was OverflowError


def test_expiry():
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert fields.check_expiry(now + timedelta(seconds=1), now) == now + timedelta(seconds=1)
    assert refused(fields.check_expiry, now, now) == "The expiry must be in the future."
    refused(fields.check_expiry, datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_3), now)


def test_valid_or_none():
    assert fields.valid_or_none(fields.check_slug, "ACME") == "acme"
    assert fields.valid_or_none(fields.check_slug, "no way") is None


# ---------------------------------------------------------------- adapters


class _Form(Form):
    reason = StringField(validators=[form_check(fields.check_reason)])
    ips = StringField(validators=[form_check(fields.check_cidrs)])


def test_form_check_normalises_or_reports():
    form = _Form(MultiDict({"reason": "  why  ", "ips": "::ffff:127.0.0.1/128"}))
    assert form.validate() and form.reason.data == "why" and form.ips.data == ["127.0.0.1/32"]
    form = _Form(MultiDict({"reason": "   ", "ips": "::1/200"}))
    assert not form.validate()
    assert form.reason.errors == ["This field is required."]
    assert form.ips.errors == ["::1/200 is not an IP address or CIDR range."]


class _Model(BaseModel):
    reason: api_field(fields.check_reason, maxLength=500)  # type: ignore[valid-type]
    ips: api_field(fields.check_cidrs, list[str]) = []  # type: ignore[valid-type]


def test_api_field_validates_and_documents():
    assert _Model.model_validate({"reason": " x ", "ips": ["::ffff:10.0.0.0/104"]}).ips == ["10.0.0.0/8"]
    with pytest.raises(ValidationError) as info:
        _Model.model_validate({"reason": "   "})
    error: dict[str, Any] = info.value.errors()[0]
    assert refused_field(error) == ("reason", "This field is required.")
    assert _Model.model_json_schema()["properties"]["reason"]["maxLength"] == 500
    assert refused_field({"type": "missing", "loc": ("reason",), "msg": "Field required"}) is None


def test_click_type_is_a_usage_error():
    @click.command()
    @click.option("--status", type=Checked(fields.one_of(("a", "b")), "STATUS"))
    @click.option("--name", type=Checked(fields.check_tenant_name))
    def cmd(status, name):
        click.echo(f"{status}|{name}")

    runner = click.testing.CliRunner()
    assert runner.invoke(cmd, ["--status", "a", "--name", " Acme "]).output == "a|Acme\n"
    bad = runner.invoke(cmd, ["--status", "c"])
    assert bad.exit_code == 2 and "Invalid value for '--status': Choose one of: a, b." in bad.output
    assert "[a|b]" in runner.invoke(cmd, ["--help"]).output


def test_validated_for_services():
    assert validated("name", fields.check_tenant_name, " Acme ") == "Acme"
    assert validated("expires_at", fields.check_expiry, None, optional=True) is None
    with pytest.raises(ValidationFailed) as info:
        validated("reason", fields.check_reason, "  ")
    assert (info.value.field, info.value.detail) == ("reason", "This field is required.")
    with pytest.raises(ValidationFailed):
        validated("reason", fields.check_reason, None)  # not optional: None is refused like anything else
