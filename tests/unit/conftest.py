"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses


@pytest.fixture
def http() -> Iterator[responses.RequestsMock]:
    """Every request goes to ``responses``; an unregistered URL fails instead of reaching a network."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked
