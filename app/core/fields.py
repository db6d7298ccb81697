"""One validator per field (DESIGN §4): the checks every entry point runs on a value it was given.

Each check is a plain function `check_<field>(value) -> normalised value` that raises `FieldInvalid` (a
`ValueError`, so pydantic reports it as a validation error) with a translated message naming what is wrong.
Forms, API models, commands and services all call the same function, through the adapters in
`app.core.fieldadapters`, so the same value gets the same verdict wherever it comes in.

Layering: this module is the kernel's. It imports no domain package (no `app.tokens`, `app.permissions`,
`app.tenants`, `app.auth`...), nor Flask-WTF, pydantic, click or `app.core.errors`: only the standard library,
`email_validator`, Flask-Babel's lazy strings and `app.core.i18n` (the locales the app speaks). A domain
that has a field of its own (the token statuses, say) builds its check here from `one_of` or `check_name`
next to its model.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l

from app.core.i18n import LOCALES

EMAIL_MAX = 254  # RFC 5321 path limit, and the column's length
PASSWORD_MIN, PASSWORD_MAX = 12, 1024  # NIST 800-63B: length is the rule
NAME_MAX = 120  # people's and tenants' names (their columns' length)
REASON_MAX = 500
MAX_CIDRS = 50
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
#: dates the application stores: nothing before the product existed, nothing past year 2999
YEAR_MIN, YEAR_END = 2000, 3000

# Separators between IP entries in one text: commas, and any white space (newlines included).
_CIDR_SEPARATORS = re.compile(r"[\s,]+")
# Directional formatting characters: invisible, and able to make a name read as something else.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
# For the published patterns (name_pattern, reason_pattern), as regular expression classes that read the same in
# Python, ECMA-262 and Rust: the white space str.strip() removes (spelt out: `\s` differs between them), and the
# characters a name refuses: control (Cc), line and paragraph separators (Zl, Zp), directional formatting. Lone
# surrogates (Cs, refused too) are left out: no JSON text decodes to them past the request guard (app.core.inputs)
# and Rust's regular expressions cannot name them. A reason allows tab, line feed and carriage return.
_SPACE_CLASS = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_REFUSED_CLASS = r"\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_REFUSED_IN_REASON_CLASS = _REFUSED_CLASS.replace(r"\x00-\x1f", r"\x00-\x08\x0b\x0c\x0e-\x1f")


class FieldInvalid(ValueError):
    """A value refused by a field check; `str()` is the message for the person who typed it."""

    def __init__(self, message) -> None:
        self.message = str(message)  # lazy strings are translated here, in the caller's locale
        super().__init__(self.message)


# ---------------------------------------------------------------- helpers


def _text(value) -> str:
    if not isinstance(value, str):
        raise FieldInvalid(_l("Enter text."))
    return value


def _required(text: str) -> str:
    if not text:
        raise FieldInvalid(_l("This field is required."))
    return text


def _at_most(text: str, limit: int) -> str:
    if len(text) > limit:
        raise FieldInvalid(_l("Field cannot be longer than %(max)d characters.", max=limit))
    return text


def _unusable_character(char: str, allowed: str = "") -> bool:
    if char in allowed:
        return False
    return unicodedata.category(char) in {"Cc", "Cs", "Zl", "Zp"} or char in _BIDI_CONTROLS


def _no_control_characters(text: str, allowed: str = "") -> str:
    if any(_unusable_character(char, allowed) for char in text):
        raise FieldInvalid(_l("Remove the control characters (line breaks, tabs or invisible formatting)."))
    return text


def valid_or_none(check: Callable, value):
    """`check(value)`, or None when the value is refused: for lenient inputs (a page's filters in its URL)."""
    try:
        return check(value)
    except FieldInvalid:
        return None


# ---------------------------------------------------------------- people and tenants


def check_email(value) -> str:
    """An email address people can sign in with: trimmed and lower-cased.

    The syntax check is `email_validator` (the library WTForms' Email() uses) without a DNS lookup, with its
    defaults: special-use domains (`.test`, `.local`, `localhost`...) and quoted local parts are refused.
    """
    text = _required(_text(value).strip())
    if len(text) > EMAIL_MAX:
        raise FieldInvalid(_l("An email address has at most %(max)d characters.", max=EMAIL_MAX))
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        raise FieldInvalid(_l("Invalid email address.")) from None
    return result.normalized.lower()


def email_key(value) -> str:
    """The form an email is stored and looked up in; a value `check_email` refuses is only trimmed and
    lower-cased (it finds no one, and a lookup should say "no such user", not "invalid")."""
    try:
        return check_email(value)
    except FieldInvalid:
        return str(value or "").strip().lower()


def check_password(value) -> str:
    """A new password: 12 to 1024 characters, not only white space. Kept as typed (never trimmed)."""
    text = _text(value)
    if len(text) < PASSWORD_MIN:
        raise FieldInvalid(_l("A password needs at least %(n)d characters.", n=PASSWORD_MIN))
    if len(text) > PASSWORD_MAX:
        raise FieldInvalid(_l("A password has at most %(n)d characters.", n=PASSWORD_MAX))
    if not text.strip():
        raise FieldInvalid(_l("A password cannot be only spaces."))
    if any(char == "\x00" or unicodedata.category(char) == "Cs" for char in text):
        raise FieldInvalid(_l("The password contains characters that cannot be stored."))
    return text


def name_pattern(max_length: int = NAME_MAX) -> str:
    """What `check_name` accepts, as the regular expression the API's document publishes (exactly: a test
    compares the two). Around the name any white space, which is trimmed; in it no refused character."""
    space, bad = _SPACE_CLASS, _REFUSED_CLASS
    return rf"^[{space}]*[^{space}{bad}](?:[^{bad}]{{0,{max_length - 2}}}[^{space}{bad}])?[{space}]*$"


def check_name(value, max_length: int = NAME_MAX) -> str:
    """A name or label: trimmed, 1 to `max_length` characters, no control characters."""
    text = _required(_text(value).strip())
    return _no_control_characters(_at_most(text, max_length))


def check_display_name(value) -> str:
    """A person's name."""
    return check_name(value, NAME_MAX)


def check_tenant_name(value) -> str:
    """A tenant's name."""
    return check_name(value, NAME_MAX)


def check_slug(value) -> str:
    """A tenant's slug: lower-cased; letters, digits and inner dashes, at most 63."""
    text = _text(value).strip().lower()
    if not SLUG_RE.match(text):
        raise FieldInvalid(_l("Use lower-case letters, digits and dashes (at most 63)."))
    return text


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())  # reads the zone files: once per process


def time_zones() -> list[str]:
    """The IANA zones a tenant may choose, sorted."""
    return sorted(_time_zones())


def check_time_zone(value) -> str:
    """An IANA time zone name."""
    if not isinstance(value, str) or value not in _time_zones():
        raise FieldInvalid(_l("Choose a time zone from the list."))
    return value


def check_locale(value) -> str:
    """A language the application speaks."""
    if not isinstance(value, str) or value not in LOCALES:
        raise FieldInvalid(_l("Choose a language from the list."))
    return value


# ---------------------------------------------------------------- free text


def check_reason(value) -> str:
    """Why something was done: trimmed, required, at most 500 characters; line breaks and tabs allowed,
    other control characters not. Browsers send line breaks as CRLF: they count as one character."""
    return _free_text(value, REASON_MAX)


def check_optional_reason(value) -> str:
    """A reason that may be left out: None, empty or white space only is "" (the caller says what that means),
    anything else is checked as `check_reason`."""
    if value is None or not _text(value).strip():
        return ""
    return check_reason(value)


def optional_reason_pattern(max_length: int = REASON_MAX) -> str:
    """What `check_optional_reason` accepts: white space only, or what `reason_pattern` accepts."""
    return rf"^[{_SPACE_CLASS}]*$|{reason_pattern(max_length)}"


def _free_text(value, max_length: int) -> str:
    text = _required(_text(value).replace("\r\n", "\n").replace("\r", "\n").strip())
    return _no_control_characters(_at_most(text, max_length), allowed="\n\t")


def reason_pattern(max_length: int = REASON_MAX) -> str:
    """What `check_reason` accepts, as a regular expression (as `name_pattern`; CRLF is one character)."""
    space, bad = _SPACE_CLASS, _REFUSED_IN_REASON_CLASS
    return rf"^[{space}]*[^{space}{bad}](?:(?:\r\n|[^{bad}]){{0,{max_length - 2}}}[^{space}{bad}])?[{space}]*$"


# ---------------------------------------------------------------- choices


def one_of(choices: Iterable[str], message=None) -> Callable[[object], str]:
    """A check accepting exactly one of `choices` (as given; nothing is trimmed or folded)."""
    allowed = tuple(choices)

    def check(value) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise FieldInvalid(message or _l("Choose one of: %(choices)s.", choices=", ".join(allowed)))
        return value

    check.choices = allowed
    return check


def in_range(low: int, high: int, message) -> Callable[[object], int]:
    """A check accepting a whole number from `low` to `high` (a bool is not a number here)."""

    def check(value) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FieldInvalid(message)
        return value

    check.low, check.high = low, high
    return check


# ---------------------------------------------------------------- IP rules


def normalise_network(network: ipaddress.IPv4Network | ipaddress.IPv6Network):
    """An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) as the IPv4 network it covers (`10.0.0.0/8`):
    requests from IPv4 clients are matched as IPv4 addresses. Other networks are returned as they are."""
    if network.version == 6 and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def _ip_entries(value) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise FieldInvalid(_l("Give IP addresses or CIDR ranges as text or as a list of text."))
    entries: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise FieldInvalid(_l("Give IP addresses or CIDR ranges as text or as a list of text."))
        entries.extend(entry for entry in _CIDR_SEPARATORS.split(item) if entry)
        if len(entries) > MAX_CIDRS:  # before parsing any: a huge list costs nothing
            raise FieldInvalid(_l("At most %(n)d ranges.", n=MAX_CIDRS))
    return entries


def check_cidrs(value) -> list[str]:
    """IP rules: a list of text, or one text; every item may hold several entries separated by commas, line
    breaks or spaces. Each entry is an IPv4 or IPv6 address or network (host bits are dropped: `10.1.2.3/8` is
    `10.0.0.0/8`; an address is a /32 or /128; an IPv4-mapped network is its IPv4 network). At most 50
    entries; returned sorted and without duplicates. None is no rule at all."""
    if value is None:
        return []
    networks, bad = set(), []
    for entry in _ip_entries(value):
        try:
            if "%" in entry:  # an IPv6 zone id names a link of one host, never a client's address
                raise ValueError(entry)
            networks.add(str(normalise_network(ipaddress.ip_network(entry, strict=False))))
        except ValueError:
            bad.append(entry[:60])
    if len(bad) == 1:
        raise FieldInvalid(_l("%(value)s is not an IP address or CIDR range.", value=bad[0]))
    if bad:  # every bad entry at once, so one correction fixes them all
        raise FieldInvalid(_l("These are not IP addresses or CIDR ranges: %(values)s.", values=", ".join(bad)))
    return sorted(networks)


# ---------------------------------------------------------------- dates


def _out_of_range() -> FieldInvalid:
    return FieldInvalid(_l("Choose a date from the year %(first)d to %(last)d.", first=YEAR_MIN, last=YEAR_END - 1))


def check_aware_datetime(value) -> datetime:
    """A moment with a time zone, converted to UTC; years 2000 to 2999 only (a date past what Python or the
    database can hold, once converted, is refused here rather than failing later)."""
    if not isinstance(value, datetime):
        raise FieldInvalid(_l("Not a valid date and time."))
    try:
        offset = value.utcoffset()
    except (OverflowError, ValueError):
        raise _out_of_range() from None
    if offset is None:
        raise FieldInvalid(_l("Give the time zone too (e.g. 2030-01-01T00:00:00Z)."))
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _out_of_range() from None
    if not YEAR_MIN <= moment.year < YEAR_END:
        raise _out_of_range()
    return moment


def check_local_datetime(value, time_zone: str) -> datetime:
    """A wall-clock time typed without a zone (a form's datetime-local) in `time_zone`, as UTC; checked as
    `check_aware_datetime` does. An unknown zone is taken as UTC."""
    if not isinstance(value, datetime):
        raise FieldInvalid(_l("Not a valid date and time."))
    try:
        zone = zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        zone = UTC
    return check_aware_datetime(value.replace(tzinfo=zone))


def check_expiry(value, now: datetime | None = None) -> datetime:
    """An expiry: a moment (as `check_aware_datetime`) in the future."""
    moment = check_aware_datetime(value)
    if moment <= (now or datetime.now(UTC)):
        raise FieldInvalid(_l("The expiry must be in the future."))
    return moment
