"""Recovery codes: ten of 16 Crockford base32 characters, shown grouped once, typed however, used once, kept as
salted slow hashes, replaced as a whole set."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.core.errors import Conflict
from app.extensions import db
from app.twofactor import recovery, services
from app.twofactor.models import RecoveryCode
from app.twofactor.services import Method, Refusal
from tests.twofactor.helpers import LATER, actor, enroll, events, session_id, step

GROUPED = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def test_the_first_app_brings_ten_grouped_codes(create_user):
    user = create_user()
    _, _, codes = enroll(user)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(GROUPED.match(code) for code in codes), codes
    assert all(len(code.replace("-", "")) == 16 for code in codes)
    assert recovery.remaining(user.id) == 10


def test_the_alphabet_is_crockfords():
    assert len(recovery.ALPHABET) == 32 and not set("ILOU") & set(recovery.ALPHABET)


def test_what_a_typed_code_means():
    assert recovery.normalise(" abcd-efgh ijkl-mnop\t") == "ABCDEFGH1JK1MN0P"
    assert recovery.normalise("o0-Ll-Ii") == "001111"
    assert recovery.is_shaped("ABCDEFGH1JK1MN0P") and not recovery.is_shaped("ABCDEFGH1JK1MN0")
    assert not recovery.is_shaped("ABCDEFGH1JK1MN0U")  # U is not in the alphabet


def test_a_code_typed_in_lower_case_with_spaces_and_look_alikes_passes(create_user):
    user = create_user()
    _, _, codes = enroll(user)
    code = codes[0]
    typed = code.replace("-", " ").replace("1", "l").replace("0", "o").lower()
    assert recovery.use(user.id, typed, LATER)
    assert recovery.remaining(user.id) == 9


def test_each_code_works_once(create_user):
    user = create_user()
    _, _, codes = enroll(user)
    sid = session_id(user)
    assert step(user, Method.RECOVERY, codes[1], now=LATER, sid=sid).ok
    again = step(user, Method.RECOVERY, codes[1], now=LATER, sid=sid)
    assert (again.ok, again.refusal) == (False, Refusal.WRONG)
    assert step(user, Method.RECOVERY, codes[2], now=LATER, sid=sid).ok
    db.session.refresh(user.profile)
    assert (user.profile.twofa_recovery_uses, user.profile.twofa_failures) == (2, 1)
    assert recovery.remaining(user.id) == 8
    assert [e.details for e in events("twofa.second_step")] == [
        {"method": "recovery"}, {"method": "recovery", "reason": "wrong"}, {"method": "recovery"}]


def test_someone_elses_code_does_not_pass(create_user):
    ana, bea = create_user(), create_user()
    _, _, ana_codes = enroll(ana)
    enroll(bea)
    assert not recovery.use(bea.id, ana_codes[0], LATER)
    assert recovery.use(ana.id, ana_codes[0], LATER)


@pytest.mark.parametrize("typed", ["", "1234", "ABCD-EFGH-JKMN-PQRSX", "ABCD-EFGH-JKMN-PQRU", "ÅBCD-EFGH-JKMN-PQRS"])
def test_malformed_codes_are_wrong(create_user, typed):
    user = create_user()
    enroll(user)
    assert not recovery.use(user.id, typed, LATER)
    assert recovery.remaining(user.id) == 10


def test_the_stored_hash_is_salted_and_slow_never_the_code(create_user):
    user = create_user()
    _, _, codes = enroll(user)
    hashes = list(db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == user.id)))
    assert len(hashes) == 10 and len(set(hashes)) == 10
    for code_hash in hashes:
        assert code_hash.startswith("scrypt:")
        assert not any(code.replace("-", "") in code_hash or code in code_hash for code in codes)


def test_a_new_set_replaces_the_whole_old_set(create_user):
    user = create_user()
    _, _, old = enroll(user)
    assert recovery.use(user.id, old[0], LATER)
    new = services.regenerate_recovery_codes(actor(user))
    db.session.commit()
    assert len(new) == 10 and not set(new) & set(old)
    assert recovery.remaining(user.id) == 10
    assert db.session.scalar(select(db.func.count()).select_from(RecoveryCode)
                             .where(RecoveryCode.user_id == user.id)) == 10  # the used one went too
    assert not any(recovery.use(user.id, code, LATER) for code in old[1:])
    assert recovery.use(user.id, new[9], LATER)
    assert len(events("twofa.recovery_regenerated")) == 1


def test_no_codes_without_a_second_factor(create_user):
    user = create_user()
    with pytest.raises(Conflict):
        services.regenerate_recovery_codes(actor(user))
