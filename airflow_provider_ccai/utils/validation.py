"""Checks of rendered template fields shared by the operators and the notifier (standard library only)."""

from __future__ import annotations

import ast
import json
from typing import Any

from airflow_provider_ccai.exceptions import CcaiInputError


def required_text(value: Any, field: str) -> str:
    """
    Return ``value`` if it is a non-blank string, else fail naming ``field``.

    :param value: the rendered field.
    :param field: argument name used in the error.
    """
    if not isinstance(value, str):
        raise CcaiInputError(f"{field}: expected a string, got {type(value).__name__}")
    if not value.strip():
        raise CcaiInputError(f"{field}: must not be empty")
    return value


def parse_list_literal(text: str, field: str) -> list[Any]:
    """
    Parse a list that Jinja rendered to text: JSON, or the Python literal that ``xcom_pull`` renders to.

    :param text: rendered text starting with ``[``.
    :param field: argument name used in the error.
    """
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise CcaiInputError(
                f"{field}: rendered text looks like a list but is neither JSON nor a Python list"
            ) from None
    if not isinstance(value, list):
        raise CcaiInputError(f"{field}: expected a list, got {type(value).__name__}")
    return value
