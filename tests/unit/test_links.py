import string
from datetime import UTC, datetime, timedelta

import pytest

from alerting.errors import InvalidLink
from alerting.links import AckClaim, AckLinks

SECRET = b"0123456789abcdef-test-secret"
BASE = "https://alerting.example.cn/"
TTL = timedelta(hours=24)
NOW = datetime(2026, 3, 2, 1, 5, tzinfo=UTC)
EXPIRES = NOW + TTL
ALPHABET = string.ascii_letters + string.digits + "-_."


@pytest.fixture
def links() -> AckLinks:
    return AckLinks(SECRET, BASE, TTL)


def test_url_is_the_base_ack_path_and_the_token(links: AckLinks) -> None:
    url = links.url("inc-1", "王小明", "duty_officer", NOW)
    assert url.startswith("https://alerting.example.cn/ack/")
    assert "//ack" not in url  # the trailing slash of the base is not doubled
    assert url == "https://alerting.example.cn/ack/" + links.token("inc-1", "王小明", "duty_officer", NOW)


def test_token_is_url_safe_ascii(links: AckLinks) -> None:
    token = links.token("inc-1", "县委办 陈主任", "director", NOW)
    assert set(token) <= set(ALPHABET)
    assert token.count(".") == 1
    # the signature carries at least 128 bits (base64: 6 bits a character)
    assert len(token.split(".")[1]) * 6 >= 128


@pytest.mark.parametrize(
    ("incident", "name", "role"),
    [
        ("inc-1", "Wang Xiaoming", "duty_officer"),
        ("01J9Z3K8Q7", "王小明", "duty_officer"),
        ("事件/42", "城关镇 党委办 李主任", "township_leader"),
    ],
)
def test_verify_round_trip(links: AckLinks, incident: str, name: str, role: str) -> None:
    token = links.token(incident, name, role, NOW)
    assert links.verify(token, NOW) == AckClaim(incident, name, role, EXPIRES)
    # any instance with the same secret accepts it (e.g. after a restart, another base URL)
    assert AckLinks(SECRET, "http://other", TTL).verify(token, NOW).name == name


def test_the_url_token_verifies(links: AckLinks) -> None:
    url = links.url("inc-7", "陈丽", "leader_on_duty", NOW)
    claim = links.verify(url.rsplit("/", 1)[1], NOW + timedelta(hours=1))
    assert (claim.incident_id, claim.name, claim.role) == ("inc-7", "陈丽", "leader_on_duty")


def test_valid_until_just_before_expiry_and_expired_exactly_at_it(links: AckLinks) -> None:
    token = links.token("inc-1", "王小明", "duty_officer", NOW)
    assert links.verify(token, EXPIRES - timedelta(microseconds=1)).expires_at == EXPIRES
    with pytest.raises(InvalidLink, match="过期"):
        links.verify(token, EXPIRES)
    with pytest.raises(InvalidLink, match="expired"):
        links.verify(token, EXPIRES + timedelta(days=30))


def test_ttl_comes_from_the_constructor() -> None:
    short = AckLinks(SECRET, BASE, timedelta(minutes=10))
    token = short.token("inc-1", "王小明", "duty_officer", NOW)
    assert short.verify(token, NOW).expires_at == NOW + timedelta(minutes=10)
    with pytest.raises(InvalidLink):
        short.verify(token, NOW + timedelta(minutes=10))


def test_every_single_character_change_is_rejected(links: AckLinks) -> None:
    token = links.token("inc-1", "王小明", "duty_officer", NOW)
    for i, char in enumerate(token):
        other = next(c for c in ALPHABET if c != char)
        tampered = token[:i] + other + token[i + 1 :]
        with pytest.raises(InvalidLink, match="无效"):
            links.verify(tampered, NOW)


def test_swapping_the_body_of_another_token_is_rejected(links: AckLinks) -> None:
    mine = links.token("inc-1", "王小明", "duty_officer", NOW)
    theirs = links.token("inc-2", "王小明", "duty_officer", NOW)
    forged = theirs.split(".")[0] + "." + mine.split(".")[1]
    with pytest.raises(InvalidLink):
        links.verify(forged, NOW)


def test_a_token_signed_with_another_secret_is_rejected(links: AckLinks) -> None:
    foreign = AckLinks(b"another-secret-of-32-bytes......", BASE, TTL)
    token = foreign.token("inc-1", "王小明", "duty_officer", NOW)
    assert foreign.verify(token, NOW).incident_id == "inc-1"
    with pytest.raises(InvalidLink):
        links.verify(token, NOW)


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "abc", "abc.", ".abc", "abc.def.ghi", "not a token at all", "%2e%2e", "a" * 500, "链接.abc"],
)
def test_garbage_is_rejected(links: AckLinks, garbage: str) -> None:
    with pytest.raises(InvalidLink):
        links.verify(garbage, NOW)


@pytest.mark.parametrize("garbage", ["abc.链接", "abc.défg"])
def test_non_ascii_signature_is_rejected(links: AckLinks, garbage: str) -> None:
    with pytest.raises(InvalidLink):
        links.verify(garbage, NOW)


def test_secret_must_be_at_least_16_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        AckLinks(b"x" * 15, BASE, TTL)
    with pytest.raises(ValueError):
        AckLinks(b"", BASE, TTL)
    AckLinks(b"x" * 16, BASE, TTL)  # exactly 16 is enough
