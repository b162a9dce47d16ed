"""Unit tests of :mod:`airflow_provider_ccai.utils.redact`."""

from __future__ import annotations

import re

import pytest

from airflow_provider_ccai.utils.redact import MAX_EXCERPT, phone_runs, phone_shaped, redact, strip_query

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXZhbHVl"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"apiKey":"abc123def"}', "abc123def"),
        ('{"api_key": "abc123def"}', "abc123def"),
        ('{"token":"abc123def"}', "abc123def"),
        ('{"accessToken" : "abc123def"}', "abc123def"),
        ('{"clientSecret":"abc123def"}', "abc123def"),
        ('{"password":"abc123def"}', "abc123def"),
        ('{"Authorization":"abc123def"}', "abc123def"),
        ('{"signedS3Url":"https://b.s3.test/k?X-Amz-Signature=abc123def"}', "abc123def"),
        ('{"storedUrl":"https://cdn.test/abc123def.png"}', "abc123def"),
        ("Authorization: Bearer abc123def", "abc123def"),
        ("bearer abc123def", "abc123def"),
        ("Bearer sandbox-api-key", "sandbox-api-key"),
        ('{"error":"key Bearer abc!123/def= revoked"}', "abc!123/def="),
        ("BEARER tokenabc, retry", "tokenabc"),
        ("Bearer auth-123", "auth-123"),
        ("Bearer token-abc123", "token-abc123"),
        ("Bearer header.xyz1", "header.xyz1"),
        ("Bearer auth_x", "auth_x"),
        ("Bearer scheme=abc", "scheme=abc"),
        ('Bearer "abc123"', "abc123"),
        ("Bearer <abc123>", "abc123"),
        ("Bearer abc,def", "def"),
        (f"key was {JWT} here", JWT),
        (f"key was {JWT} here", "c2lnbmF0dXJlLXZhbHVl"),
        ("https://b.s3.test/k.png?X-Amz-Signature=abc123def&x=1", "abc123def"),
        ("X-Amz-Credential=AKIAEXAMPLE%2F20250101%2Fus-east-1", "AKIAEXAMPLE"),
        ("x-amz-signature=abc123def", "abc123def"),
        ("X-Amz-Security-Token=abc123def&X-Amz-Date=1", "abc123def"),
        ("<CanonicalRequest>X-Amz-Security-Token=abc123def</CanonicalRequest>", "abc123def"),
        ('{"signedS3Url":"https://b.test/k.png?AWSAccessKeyId=AKIAEXAMPLE&Expires=1"}', "AKIAEXAMPLE"),
        ('{"signedS3Url":"https://b.test/k.png?AWSAccessKeyId=AKIAEXAMPLE&Expires=1"}', "b.test/k.png"),
        ("https://b.test/k.png?AWSAccessKeyId=AKIAEXAMPLE&Signature=abc123def&Expires=1", "abc123def"),
        ("https://b.test/k.png?AWSAccessKeyId=AKIAEXAMPLE&Signature=abc123def&Expires=1", "AKIAEXAMPLE"),
        ("https://storage.test/b/k.png?X-Goog-Signature=abc123def&X-Goog-Date=1", "abc123def"),
        ("https://storage.test/b/k.png?X-Goog-Credential=svc-abc123def&X-Goog-Date=1", "svc-abc123def"),
        ("https://storage.test/b/k.png?GoogleAccessId=svc@p.test&Signature=abc123def", "svc@p.test"),
    ],
)
def test_secret_shapes_are_redacted(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned
    assert "***" in cleaned


def test_literal_secrets_are_redacted_anywhere() -> None:
    cleaned = redact("the key my-plain-api-key was rejected (my-plain-api-key)", ("my-plain-api-key", ""))
    assert cleaned == "the key *** was rejected (***)"


@pytest.mark.parametrize(
    "phone",
    [
        "+15551234567",
        "+6834002",  # Niue: 7 digits, the shortest E.164 number
        "15551234567",
        "+1 (555) 123-4567",
        "+44 20 7946 0958",
        "555-123-4567",
        "+1.555.123.4567",
        "+1\t415\t555\t0101",
        "+1\xa0415\xa0555\xa00101",  # non-breaking spaces
        "+1 415\n555 0101",
        "415\u2013555\u20130101",  # en dashes, as spreadsheets write them
        "415/555/0101",
    ],
)
def test_phone_numbers_are_redacted(phone: str) -> None:
    cleaned = redact(f'{{"error":"recipient {phone} is invalid"}}')
    assert phone not in cleaned
    assert not any(part in cleaned for part in ("415", "555", "0101"))
    assert "<phone>" in cleaned
    assert "recipient" in cleaned and "is invalid" in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "Invalid numbers: +15550001111/+15550002222",
        "Invalid numbers: 15550001111/15550002222",
        "GET /contacts/+15550001111/stats",
        "GET /contacts/15550001111/",
        "see /upload/2026/05/07/15550001111/",
    ],
)
def test_phones_beside_slashes_are_redacted(text: str) -> None:
    cleaned = redact(text)
    assert not any(phone in cleaned for phone in ("5550001111", "5550002222")), cleaned
    assert "<phone>" in cleaned


def test_short_numbers_are_kept() -> None:
    assert redact("HTTP 404: campaign 42 not found") == "HTTP 404: campaign 42 not found"


@pytest.mark.parametrize(
    "text",
    [
        '{"error":"Unauthorized","message":"missing or invalid bearer token"}',
        'WWW-Authenticate: Bearer realm="ccai"',
        "Bearer authentication required",
        "no Bearer credentials given",
        "invalid bearer token. Get a new key",
        "bearer token: expired",
    ],
)
def test_words_after_bearer_stay_readable(text: str) -> None:
    """What an error says about a Bearer key is kept whole, quotes and case included."""
    assert redact(text) == text


def test_a_bearer_key_in_json_leaves_the_json_whole() -> None:
    assert redact('{"message":"bad Bearer k3y-value"}') == '{"message":"bad Bearer ***"}'


def test_whitespace_is_collapsed() -> None:
    assert redact("<Error>\n  <Code>AccessDenied</Code>\n\t</Error>") == "<Error> <Code>AccessDenied</Code> </Error>"


def test_long_text_is_truncated() -> None:
    cleaned = redact("x" * 5000)
    assert cleaned == "x" * MAX_EXCERPT + "..."
    assert MAX_EXCERPT == 200
    assert redact("abcdef", limit=3) == "abc..."
    assert redact("x" * MAX_EXCERPT) == "x" * MAX_EXCERPT


def test_secrets_are_removed_before_truncation() -> None:
    secret = "s" * 30
    cleaned = redact("a" * 190 + secret, (secret,))
    assert "s" not in cleaned.replace("***", "")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://b.s3.test/1234/campaign/a.png?X-Amz-Signature=abc&X-Amz-Date=1",
            "https://b.s3.test/1234/campaign/a.png",
        ),
        ("https://b.s3.test/a.png#frag", "https://b.s3.test/a.png"),
        ("https://core.ccai.test/api", "https://core.ccai.test/api"),
        ("not a url?secret=1", "not a url"),
        ("https://[::1/a.png?X-Amz-Signature=abc#x", "https://[::1/a.png"),
        ("https://admin:s3cr3t@core.ccai.test:99999/api", "https://admin:***@core.ccai.test:99999/api"),
        ("https://:p@ss:w@rd@core.ccai.test/api?x=1", "https://:***@core.ccai.test/api"),
        ("s3://aws_marketing@offers/a.png?sig=1", "s3://aws_marketing@offers/a.png"),
        ("https://u:pw@[::1/a.png", "https://u:***@[::1/a.png"),
        ("https://john@example.com:s3cret@core.ccai.test/api", "https://john@example.com:***@core.ccai.test/api"),
        ("s3://bucket//a:b@c.csv", "s3://bucket//a:b@c.csv"),  # a path, not a password
        ("file:///C:x@y.csv", "file:///C:x@y.csv"),
        ("/data/a:b@c.csv", "/data/a:b@c.csv"),
        ("https://u:p@h:1/a@b", "https://u:***@h:1/a@b"),
        ("x s3://u:pw@host/a.png", "x s3://u:***@host/a.png"),  # text before the URI
        (" https://u:pw@[::1/a.png", " https://u:***@[::1/a.png"),
    ],
)
def test_strip_query(url: str, expected: str) -> None:
    assert strip_query(url) == expected


def _redacted_whole(text: str, names: tuple[str, ...]) -> str:
    """What :func:`redact` gives when every name is replaced in the whole text (the slow way)."""
    cleaned = redact(text, limit=len(text) + 1)
    for name in names:
        cleaned = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "***", cleaned.replace(name, "***"), flags=re.IGNORECASE)
    return cleaned if len(cleaned) <= MAX_EXCERPT else cleaned[:MAX_EXCERPT] + "..."


@pytest.mark.parametrize("name_length", [2, 9, 40, 300])
@pytest.mark.parametrize("gap", [0, 1, 7, 150, 1000])
def test_names_hidden_in_a_prefix_give_the_excerpt_of_the_whole_text(name_length: int, gap: int) -> None:
    """Runs of names (which shrink as they are hidden) and names across every cut give the same excerpt."""
    names = tuple(f"{chr(65 + i % 26) * (name_length - 1)}{chr(97 + i % 26)}" for i in range(40))
    text = " ".join(f"{name}{'.' * gap}" for name in names * 10) + " end"

    excerpt = redact(text, names=names)
    assert excerpt == _redacted_whole(text, names)
    assert not any(name in excerpt for name in names)


def test_names_are_hidden_in_any_case_as_whole_words() -> None:
    excerpt = redact("Invalid recipient ANN-MARIE O'NEIL; ann-marie o'neil again", names=("Ann-Marie O'Neil",))
    assert excerpt == "Invalid recipient ***; *** again"
    assert redact("ED failed; Ed rejected; EdX", names=("Ed",)) == "*** failed; *** rejected; ***X"


def test_names_are_hidden_after_phone_numbers() -> None:
    assert redact("phone +15551234567 is a landline", names=("512", "Ada")) == "phone <phone> is a landline"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+14155550101", True),
        (" +1 (415) 555-0101 ", True),
        ("415.555.0101", True),
        ("5550101", True),
        ("555010", False),  # 6 digits: shorter than any E.164 number
        ("2026-11-25", False),  # a date
        ("2026-11-25T10:00:01Z", False),
        ("Call +14155550101", False),  # text around it: a message, not a phone
        (14155550101, False),  # not text
        (None, False),
    ],
)
def test_phone_shaped(value: object, expected: bool) -> None:
    assert phone_shaped(value) is expected


def test_phone_runs_are_found_however_the_numbers_are_written() -> None:
    text = "['+1 555 555 0199', 15555550198, '+1|+44 20 7946 0958|415\u2013555\u20130101', 'backup', 2026, '1-2-3']"
    assert phone_runs(text) == ["+1 555 555 0199", "15555550198", "+44 20 7946 0958", "415\u2013555\u20130101"]
    assert phone_runs("+15555550101 and +15555550101 again") == ["+15555550101"]


def test_a_large_body_is_redacted_from_a_prefix_as_long_as_the_excerpt_needs(mocker) -> None:
    """A multi-megabyte error page must not cost the triggerer's event loop a pass of every pattern."""
    from airflow_provider_ccai.utils import redact as module

    patterns = mocker.spy(module, "_without_patterns")
    body = "call +15551234567 now; " + "Service unavailable. " * 200_000

    excerpt = redact(body, names=("Ada",))

    assert excerpt.startswith("call <phone> now; Service unavailable.") and excerpt.endswith("...")
    assert len(excerpt) == MAX_EXCERPT + 3
    assert max(len(call.args[0]) for call in patterns.call_args_list) < len(body) // 100


@pytest.mark.parametrize(
    "text",
    [
        "see https://x.test/upload/2026/05/07/offer.png",
        "sent 05/07/2026",
        "HTTP 429/503",
        "key 1234/56",
        "order 2026-1 of 12345678901234",
    ],
)
def test_slashed_dates_short_runs_and_parts_of_longer_numbers_stay_readable(text: str) -> None:
    """A slash may separate a phone's digits, but a slashed date is no phone; fewer than 7 digits is no phone."""
    expected = text.replace("12345678901234", "<phone>")  # a long number is still hidden whole
    assert redact(text) == expected
