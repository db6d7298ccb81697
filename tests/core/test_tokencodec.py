"""The token format: prefix, kind, base62 body, CRC32 checksum that catches every single-character typo."""

import re
import zlib

import pytest

from app.core import tokencodec

FORMAT = re.compile(r"^hbx_p_[0-9A-Za-z]{36}$")


@pytest.fixture(scope="module")
def samples():
    return [tokencodec.generate("p") for _ in range(5)]


def test_format(samples):
    for token in samples:
        assert FORMAT.match(token), token
        assert len(token) == len("hbx_p_") + tokencodec.BODY_LENGTH + tokencodec.CHECKSUM_LENGTH == 42
        assert tokencodec.well_formed(token, "p")
        assert token[-6:] == tokencodec.checksum(token[:-6])
    assert len(set(samples)) == len(samples)


def test_checksum_is_the_crc32_in_six_base62_digits():
    text = "hbx_p_" + "a" * 30
    crc = zlib.crc32(text.encode())
    digits = tokencodec.checksum(text)
    assert len(digits) == 6 and set(digits) <= set(tokencodec.ALPHABET)
    assert sum(tokencodec.ALPHABET.index(c) * 62 ** i for i, c in enumerate(reversed(digits))) == crc
    # the widest CRC still fits: nothing is lost in six digits
    assert tokencodec._base62(2 ** 32 - 1, 6) != tokencodec._base62(0, 6)
    assert 62 ** 6 > 2 ** 32


def test_every_single_character_substitution_is_caught(samples):
    for token in samples:
        for i, original in enumerate(token):
            for replacement in tokencodec.ALPHABET + "_-":
                if replacement == original:
                    continue
                typo = token[:i] + replacement + token[i + 1:]
                assert not tokencodec.well_formed(typo, "p"), (token, i, replacement)


def test_every_adjacent_swap_deletion_and_insertion_is_caught(samples):
    for token in samples:
        for i in range(len(token) - 1):
            if token[i] != token[i + 1]:
                swapped = token[:i] + token[i + 1] + token[i] + token[i + 2:]
                assert not tokencodec.well_formed(swapped, "p"), (token, i)
        for i in range(len(token)):
            assert not tokencodec.well_formed(token[:i] + token[i + 1:], "p")
            assert not tokencodec.well_formed(token[:i] + "x" + token[i:], "p")


@pytest.mark.parametrize("junk", ["", "hbx_p_", "Bearer", " " * 42, "hbx_p_" + "0" * 36, "HBX_P_" + "0" * 36,
                                  "hbx_p_" + "é" * 36, "hbx_p_" + "٣" * 36])
def test_junk_is_not_well_formed(junk):
    assert not tokencodec.well_formed(junk, "p")


def test_surrounding_whitespace_is_not_well_formed(samples):
    token = samples[0]
    for variant in (token + "\n", " " + token, token + " ", token + "\x00"):
        assert not tokencodec.well_formed(variant, "p")


def test_kinds():
    assert set(tokencodec.KINDS) == {"p", "i"}  # personal tokens and invite codes (each domain registers its own)
    with pytest.raises(ValueError):
        tokencodec.generate("q")
    body = "A" * 30
    other_kind = f"hbx_q_{body}" + tokencodec.checksum(f"hbx_q_{body}")
    # a correct checksum of another kind is still refused where a personal token is expected
    assert tokencodec.well_formed(other_kind, "q")
    assert not tokencodec.well_formed(other_kind, "p")
    personal = tokencodec.generate("p")
    assert not tokencodec.well_formed(personal, "q")


def test_hint_shows_the_prefix_and_last_four_only(samples):
    for token in samples:
        hint = tokencodec.hint(token)
        assert hint == f"hbx_p_…{token[-4:]}"
        assert len(hint) <= 16  # fits ApiToken.hint
        assert token[6:-4] not in hint
