"""Signed visitor identities: what verifies and what is refused, by name."""

from __future__ import annotations

import pytest

from tsunagi.channels.identity import sign_identity, verify_identity
from tsunagi.domain.errors import InvalidInputError

SECRET = b"s" * 32
NOW = 1_800_000_000


def test_a_signed_identity_verifies_and_carries_its_claims() -> None:
    token = sign_identity(SECRET, {"member_no": " 00112233 ", "name": "山田花子", "exp": NOW + 600})
    claims = verify_identity(SECRET, token, now=NOW)
    assert (claims.member_no, claims.email, claims.name) == ("00112233", None, "山田花子")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-a-token", "not a signed identity"),
        (sign_identity(b"x" * 32, {"member_no": "1", "exp": NOW + 60}), "signature does not match"),
        (sign_identity(SECRET, {"member_no": "1", "exp": NOW - 1}), "expired"),
        (sign_identity(SECRET, {"member_no": "1", "exp": NOW + 2 * 86400}), "more than a day"),
        (sign_identity(SECRET, {"member_no": "1"}), "exp .unix seconds. is missing"),
        (sign_identity(SECRET, {"name": "x", "exp": NOW + 60}), "member_no or an email"),
        (sign_identity(SECRET, {"email": 5, "exp": NOW + 60}), "email must be"),
    ],
)
def test_bad_identities_are_refused_by_name(token: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        verify_identity(SECRET, token, now=NOW)


def test_changing_a_claim_breaks_the_signature() -> None:
    token = sign_identity(SECRET, {"member_no": "00112233", "exp": NOW + 600})
    other = sign_identity(SECRET, {"member_no": "99999999", "exp": NOW + 600})
    forged = other.split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(InvalidInputError, match="signature does not match"):
        verify_identity(SECRET, forged, now=NOW)
