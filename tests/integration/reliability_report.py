"""
Tables that the fault and bad-input suites generate from their own runs into ``docs/reliability.md``.

Each suite collects one row per case it ran. When every case of the suite ran, the rendered table must
equal the block between ``<!-- table:<name>:start -->`` and ``<!-- table:<name>:end -->`` in the docs,
so the published guarantees cannot drift from what the tests observe. ``CCAI_UPDATE_DOCS=1`` rewrites
the block instead of comparing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def render(columns: list[str], rows: list[list[str]]) -> str:
    """
    Render a Markdown table followed by a totals line.

    :param columns: header cells.
    :param rows: body cells, already strings.
    """
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def check_or_update(name: str, table: str, totals: str) -> None:
    """
    Compare the docs block ``name`` with ``table`` + ``totals``, or rewrite it under ``CCAI_UPDATE_DOCS=1``.

    :param name: block name in the markers.
    :param table: rendered table.
    :param totals: one summary line printed under the table.
    """
    block = f"{table}\n\n{totals}"
    pattern = re.compile(rf"(<!-- table:{name}:start -->\n)(.*?)(\n<!-- table:{name}:end -->)", re.S)
    text = DOC.read_text()
    match = pattern.search(text)
    assert match, f"docs/reliability.md has no <!-- table:{name}:start/end --> block"
    if os.environ.get("CCAI_UPDATE_DOCS") == "1":
        DOC.write_text(text[: match.start(2)] + block + text[match.end(2) :])
        return
    assert match.group(2) == block, (
        f"docs/reliability.md table '{name}' differs from this run; rerun with CCAI_UPDATE_DOCS=1.\n"
        f"--- this run ---\n{block}\n--- docs ---\n{match.group(2)}"
    )
