"""A bounded look-again loop, for answers CCAI may give only after a moment."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def first_found(probe: Callable[[], T], attempts: int, interval: float) -> T | None:
    """
    Call ``probe`` up to ``attempts`` times, ``interval`` seconds apart; return its first truthy result.

    :param probe: the look, e.g. "is the file stored?" or "is the campaign listed?".
    :param attempts: most calls of ``probe``.
    :param interval: seconds to wait between calls.
    :return: the first truthy result, or ``None`` if every call came back empty.
    """
    for attempt in range(attempts):
        if attempt:
            time.sleep(interval)
        result = probe()
        if result:
            return result
    return None
