"""Finding people by name or email: the one search every list of people uses (users, sessions, the permissions
page's members).

Three characters or more match anywhere in the email or the name (`lower(col) LIKE '%text%'`, served on
PostgreSQL by migration 0008's trigram indexes). One or two characters match the start of the email or the name
(served by migration 0009's `text_pattern_ops` b-tree indexes): a trigram index cannot answer a pattern shorter
than a trigram, and "every name with an e somewhere" is not what anyone looking for a person types. Keycloak's
user search makes the same cut (prefix by default).
"""

from __future__ import annotations

from sqlalchemy import or_

from app.core.paging import contains_text, starts_with_text
from app.users.models import User

#: the shortest text matched anywhere in a name or email; shorter text matches their start
ANYWHERE_FROM = 3


def person_matches(text: str):
    """The condition "this user's email or name matches the search `text`" (see the module's docstring)."""
    match = contains_text if len(text) >= ANYWHERE_FROM else starts_with_text
    return or_(match(User.email, text), match(User.name, text))
