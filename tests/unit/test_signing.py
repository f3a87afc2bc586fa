import pytest

from domain.signing import BadSignature, sign, verify

BODY = b'{"id":"evt_1","type":"order.shipped"}'


def test_a_signed_body_verifies_and_yields_its_timestamp() -> None:
    header = sign("s3cret", 1_700_000_000, BODY)
    assert verify("s3cret", header, BODY, now=1_700_000_100) == 1_700_000_000


@pytest.mark.parametrize(
    ("secret", "body", "now", "why"),
    [
        ("other", BODY, 1_700_000_000, "does not match"),
        ("s3cret", BODY + b" ", 1_700_000_000, "does not match"),
        ("s3cret", BODY, 1_700_000_301, "more than 300 s"),
        ("s3cret", BODY, 1_699_999_699, "more than 300 s"),
    ],
)
def test_wrong_secret_changed_body_or_stale_timestamp_is_refused(secret: str, body: bytes, now: int, why: str) -> None:
    with pytest.raises(BadSignature, match=why):
        verify(secret, sign("s3cret", 1_700_000_000, BODY), body, now=now)


@pytest.mark.parametrize("header", [None, "", "t=abc,v1=00", "v1=00", "t=1700000000"])
def test_a_missing_or_malformed_header_is_refused(header: str | None) -> None:
    with pytest.raises(BadSignature):
        verify("s3cret", header, BODY, now=1_700_000_000)


def test_any_of_several_digests_matches_during_rotation() -> None:
    old = sign("old", 1_700_000_000, BODY)
    new = sign("new", 1_700_000_000, BODY)
    header = f"{new},{old.split(',')[1]}"
    assert verify("old", header, BODY, now=1_700_000_000) == 1_700_000_000
