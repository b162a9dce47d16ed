"""Redaction of text that may reach logs or exception messages."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit, urlunsplit

# signed-URL query parameters: S3 SigV4 and SigV2, Google Cloud Storage V4 and V2
_SIGNED_QUERY = re.compile(
    r"(?i)((?:X-Amz-[A-Za-z-]+|X-Goog-[A-Za-z-]+|Signature|AWSAccessKeyId|GoogleAccessId|Expires)=)[^&\s\"'<]+"
)

#: text that may be a phone number: 7 or more characters from a digit to a digit, with a leading ``+`` and spaces,
#: dots, dashes (typographic ones too, as spreadsheets write them), slashes or parentheses between the digits;
#: not inside a longer number
PHONE_RUN = re.compile(r"(?<!\d)\+?\d[\d ()./\u2010-\u2015-]{5,}\d(?!\d)")
#: digits a phone number has at least (E.164's shortest)
PHONE_DIGITS = 7
#: a date written with slashes (``2026/05/07``, ``05/07/2026``), as in an object's path: no phone
_SLASHED_DATE = re.compile(r"\d{4}/\d{1,2}/\d{1,2}|\d{1,2}/\d{1,2}/\d{4}")


def _is_phone(run: str) -> bool:
    """Tell whether a :data:`PHONE_RUN` match may be a phone number: 7 digits or more, and not a slashed date."""
    return sum(map(str.isdigit, run)) >= PHONE_DIGITS and _SLASHED_DATE.fullmatch(run) is None


def _hidden_phone(match: re.Match[str]) -> str:
    return "<phone>" if _is_phone(match.group()) else match.group()


_PATTERNS = (
    # JSON fields whose values are secrets or signed URLs.
    (
        re.compile(
            r'("(?:[A-Za-z0-9_]*(?:[Kk]ey|[Tt]oken|[Ss]ecret|[Pp]assword|[Aa]uthorization|[Uu]rl))"\s*:\s*)"[^"]*"'
        ),
        r'\1"***"',
    ),
    (re.compile(r"eyJ[\w-]{5,}\.[\w-]+\.?[\w-]*"), "***"),  # JWT-shaped API keys
    # a Bearer credential, quoted or not, up to a quote or a space (so JSON around it stays whole); a word
    # an error text puts after "bearer" ("missing or invalid bearer token", 'Bearer realm="ccai"') is left
    # readable when it stands alone: "token-abc123", "header.xyz" or "auth_x" are credentials
    (
        re.compile(
            r"(?i)\b(bearer)\s+"
            r"(?!(?:token|realm|credentials?|auth|authentication|authorization|header|scheme)(?:[\s\"',;:)]|\.?$|\.\s)"
            r"|realm=)([\"'<]?)[^\s\"']+"
        ),
        r"\1 \2***",
    ),
    (_SIGNED_QUERY, r"\1***"),
    (PHONE_RUN, _hidden_phone),  # anything phone-shaped
)

MAX_EXCERPT = 200
#: signed-URL query parameters (S3, GCS) that hold nothing secret, left out of what is masked in logs.
PUBLIC_SIGNING_PARAMETERS = frozenset(
    f"x-{vendor}-{name}" for vendor in ("amz", "goog") for name in ("algorithm", "date", "expires", "signedheaders")
)


def query_values(url: str, leave_out: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """
    Return the values of 8 characters or more in ``url``'s query string (a signed URL's signature, token), raw and
    decoded, longest first.

    :param url: the URL.
    :param leave_out: parameter names (lower case) whose values are not returned.
    """
    query = url.partition("#")[0].partition("?")[2]  # as urlsplit finds it, without its checks of the host
    pairs = set(parse_qsl(query)) | {part.partition("=")[::2] for part in query.split("&")}
    values = {value for name, value in pairs if name.lower() not in leave_out}
    return tuple(sorted((value for value in values if len(value) >= 8), key=len, reverse=True))


def signing_secrets(url: str) -> tuple[str, ...]:
    """
    Return what in ``url`` is a credential, for Airflow's secrets masker: its password, if any, and its query values
    but the algorithm, date, expiry and signed headers of a signature (masking those would hide every
    ``AWS4-HMAC-SHA256`` or timestamp in a task's log).

    :param url: a signed URL, or a URI a user gave (a presigned ``https://`` object URL).
    """
    try:
        password = urlsplit(url).password
    except ValueError:  # an authority that does not parse: no password to find
        password = None
    return (*([password] if password else []), *query_values(url, leave_out=PUBLIC_SIGNING_PARAMETERS))


def phone_shaped(value: object) -> bool:
    """
    Whether ``value`` is text that may be a phone number: 7 or more digits (the E.164 minimum) with at most a leading
    ``+``, spaces, dots, dashes or parentheses; a date (``2026-11-25``) is not.

    :param value: any value, e.g. a field of a CCAI response or one item of a notifier's ``phones``.
    """
    if not isinstance(value, str):
        return False
    text = value.strip()
    return (
        sum(map(str.isdigit, text)) >= 7
        and re.fullmatch(r"\+?[\d ().-]+", text) is not None
        and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) is None
    )


def phone_runs(text: str) -> list[str]:
    """
    Return the runs of ``text`` that may be phone numbers (:data:`PHONE_RUN` with 7 digits or more), in order,
    each once.

    :param text: any text, e.g. how a notifier's ``phones`` argument is written in a log.
    """
    runs = (match.group().strip() for match in PHONE_RUN.finditer(text))
    return list(dict.fromkeys(run for run in runs if _is_phone(run)))


#: the first ``scheme://`` (group 1) and the authority after it, ``user:password@host:port`` (group 2).
_AUTHORITY = re.compile(r"((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)([^/?#\s]*)")


def strip_query(url: str) -> str:
    """
    Return ``url`` without its query string and fragment (a signed URL's signature lives there) and with
    any password in it replaced by ``***``.

    :param url: any URL.
    """
    try:
        parts = urlsplit(url)
        stripped = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    except ValueError:  # e.g. an unclosed IPv6 bracket: still never show what follows "?" or "#"
        stripped = url.split("#", 1)[0].split("?", 1)[0]
    authority = _AUTHORITY.search(stripped)
    if authority is None:
        return stripped
    userinfo, at, host = authority.group(2).rpartition("@")  # the host follows the last "@", as urlsplit reads it
    if not at or ":" not in userinfo:
        return stripped
    start, end = authority.span()
    return f"{stripped[:start]}{authority.group(1)}{userinfo.partition(':')[0]}:***@{host}{stripped[end:]}"


def redact(text: str, secrets: tuple[str, ...] = (), limit: int = MAX_EXCERPT, names: tuple[str, ...] = ()) -> str:
    """
    Return a short excerpt of ``text`` with secrets and signatures replaced by ``***``, phone numbers by ``<phone>``.

    :param text: response body or message to clean.
    :param secrets: literal values (e.g. the API key) that must never appear.
    :param limit: maximum length of the excerpt.
    :param names: recipients' names, replaced by ``***`` after the phone numbers (a name cannot cut one into
        pieces the pattern misses) and only in as much of ``text`` as the excerpt needs: there may be
        thousands of them, and the body may be large.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    # the patterns run on as much of a large body (a 3 MB HTML error page) as the excerpt needs: redaction
    # runs on the triggerer's event loop too
    text = _cleaned_prefix(text, _without_patterns, limit, PATTERN_MARGIN)
    if names:
        names = tuple(" ".join(name.split()) for name in names)
        text = _cleaned_prefix(text, lambda part: _without_names(part, names), limit, max(map(len, names)))
    return text if len(text) <= limit else text[:limit] + "..."


#: longest text a pattern of :func:`redact` is expected to match (a signed URL's query value, a JWT)
PATTERN_MARGIN = 8192


def _without_patterns(text: str) -> str:
    text = " ".join(text.split())  # first: a phone split by tabs or line breaks is found whole
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _without_names(text: str, names: tuple[str, ...]) -> str:
    """
    Replace each of ``names`` in ``text`` by ``***``: as written, anywhere; in another case (an error may echo a
    name in capitals), as a whole word only, so that a short name (``Ed``) leaves words (``failed``) readable.
    """
    lowered = text.lower()
    for name in names:
        if name.lower() not in lowered:
            continue
        text = text.replace(name, "***")
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "***", text, flags=re.IGNORECASE)
        lowered = text.lower()
    return text


def _cleaned_prefix(text: str, clean: Callable[[str], str], limit: int, margin: int) -> str:
    """
    Return ``clean`` of a prefix of ``text`` long enough to give the excerpt's ``limit`` characters.

    What ``clean`` hides (at most ``margin`` characters long) and the end of a prefix cuts can only remain in
    the cleaned prefix's last ``margin`` characters, so a prefix whose cleaned text still reaches
    ``limit + margin`` characters gives the same excerpt as the whole text.
    """
    size = 4 * (limit + margin)
    while True:
        cleaned = clean(text[:size])
        if size >= len(text) or len(cleaned) >= limit + margin:
            return cleaned
        size *= 4


class SignedUrlLogFilter(logging.Filter):
    """
    Hide signed-URL query values in log records of the HTTP stack.

    ``urllib3`` logs every request line (URL and query string included) at DEBUG, which would put a
    signed upload URL's signature in task logs whenever DEBUG logging is on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """
        Replace signed-URL query values in the record's arguments; keep every record.

        :param record: a log record of the HTTP stack.
        """
        if isinstance(record.args, tuple) and any(isinstance(a, str) and _SIGNED_QUERY.search(a) for a in record.args):
            record.args = tuple(
                _SIGNED_QUERY.sub(r"\1***", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def hide_signed_urls_in_http_logs() -> None:
    """Install :class:`SignedUrlLogFilter` on ``urllib3``'s request logger, once."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(existing, SignedUrlLogFilter) for existing in logger.filters):
        logger.addFilter(SignedUrlLogFilter())
