"""
The Markdown docs cannot silently fall behind the code.

* Every ``<!-- snippet: <path>#<name> -->`` block in ``docs/`` and ``README.md`` equals the example-DAG region between
  ``# [START <name>]`` and ``# [END <name>]`` (dedented).
* Every relative link in ``docs/**/*.md`` and ``README.md`` points to an existing file (and, for a
  ``#fragment`` into a Markdown file, to an existing heading).
* Every argument of an operator, sensor, trigger, notifier and hook ``__init__`` has a row in the
  arguments table of its page, with the default the code has and, where the table has a
  "Templated" column, the right templated flag.
"""

from __future__ import annotations

import inspect
import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

SNIPPET = re.compile(r"^<!-- snippet: (?P<path>[^#\s]+)#(?P<name>[\w.-]+) -->$")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\((?P<target><[^>]*>|[^()\s]+)(?:\s+\"[^\"]*\")?\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(?P<target><[^>]*>|\S+)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(?P<text>.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"(?P<id>[^\"]+)\"")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _markdown_files() -> list[Path]:
    files = sorted(DOCS.rglob("*.md"))
    readme = REPO / "README.md"
    return [*files, readme] if readme.exists() else files


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _outside_fences(text: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` for every line outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match["fence"]
            continue
        if fence is not None:
            if match and match["fence"].startswith(fence[0] * len(fence)) and not match["info"].strip():
                fence = None
            continue
        yield number, line


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """Return ``(line number, line)`` outside fenced code blocks, with inline code removed."""
    return [(number, INLINE_CODE.sub("", line)) for number, line in _outside_fences(text)]


# -- 1. snippets equal the example-DAG regions ---------------------------------------------------------


def _region(path: Path, name: str) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == f"# [START {name}]"]
    ends = [i for i, line in enumerate(lines) if line.strip() == f"# [END {name}]"]
    assert len(starts) == 1 and len(ends) == 1, f"{_rel(path)}: expected one [START {name}] and one [END {name}]"
    assert starts[0] < ends[0], f"{_rel(path)}: [END {name}] comes before [START {name}]"
    return textwrap.dedent("\n".join(lines[starts[0] + 1 : ends[0]])).strip("\n")


def _snippets() -> list[tuple[Path, int, str, str, str]]:
    """Return ``(page, line, example path, region name, code in the page)`` for every snippet marker."""
    found = []
    for page in _markdown_files():
        lines = page.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            marker = SNIPPET.match(line.strip())
            if not marker:
                continue
            following = index + 1
            while following < len(lines) and not lines[following].strip():
                following += 1
            opening = FENCE.match(lines[following]) if following < len(lines) else None
            assert opening, f"{_rel(page)}:{index + 1}: snippet marker not followed by a fenced code block"
            body: list[str] = []
            for code_line in lines[following + 1 :]:
                closing = FENCE.match(code_line)
                if closing and closing["fence"] == opening["fence"] and not closing["info"].strip():
                    break
                body.append(code_line)
            else:
                raise AssertionError(f"{_rel(page)}:{following + 1}: unclosed code block")
            found.append((page, index + 1, marker["path"], marker["name"], "\n".join(body).strip("\n")))
    return found


SNIPPETS = _snippets()


def test_docs_contain_snippets():
    pages = {_rel(page) for page, *_ in SNIPPETS}
    assert {
        "README.md",
        "docs/operators/upload_file.md",
        "docs/operators/create_campaign.md",
        "docs/sensors.md",
        "docs/notifications.md",
    } <= pages


@pytest.mark.parametrize(
    ("page", "line", "path", "name", "code"),
    SNIPPETS,
    ids=[f"{_rel(page)}:{line}:{name}" for page, line, _, name, _ in SNIPPETS],
)
def test_snippet_equals_example_dag_region(page, line, path, name, code):
    source = REPO / path
    assert source.is_file(), f"{_rel(page)}:{line}: {path} does not exist"
    assert path.startswith("airflow_provider_ccai/example_dags/"), f"{_rel(page)}:{line}: not an example DAG"
    assert code == _region(source, name), (
        f"{_rel(page)}:{line}: snippet {name} differs from {path}; copy the region between its markers"
    )


# -- 2. relative links point to existing files -----------------------------------------------------------


def github_slug(heading: str) -> str:
    """Return the anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in _outside_fences(page.read_text(encoding="utf-8")):
        anchors.update(m["id"] for m in HTML_ANCHOR.finditer(line))
        heading = HEADING.match(line)
        if heading:
            slug = github_slug(heading["text"])
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(page: Path) -> list[tuple[int, str]]:
    links = []
    for number, line in _prose_lines(page.read_text(encoding="utf-8")):
        targets = [m["target"] for m in INLINE_LINK.finditer(line)]
        definition = REFERENCE_DEF.match(line)
        if definition:
            targets.append(definition["target"])
        links += [(number, target.strip("<>")) for target in targets]
    return links


#: relative links only: https:, mailto: and so on are not checked (no network in tests)
LINKS = [
    (page, number, target) for page in _markdown_files() for number, target in _links(page) if not SCHEME.match(target)
]


def test_github_slug_matches_githubs_rules():
    assert github_slug("At most once: never twice") == "at-most-once-never-twice"
    assert github_slug("`ccai` connection (JSON)") == "ccai-connection-json"
    assert github_slug("Airflow 3.3 vs 2.11") == "airflow-33-vs-211"


def test_docs_have_links():
    assert any(page.name == "index.md" for page, _, _ in LINKS)


@pytest.mark.parametrize(
    ("page", "line", "target"),
    LINKS,
    ids=[f"{_rel(page)}:{line}:{target}" for page, line, target in LINKS],
)
def test_relative_link_points_to_an_existing_file(page, line, target):
    path_part, _, fragment = target.partition("#")
    path_part = unquote(path_part)
    if not path_part:
        resolved = page
    elif path_part.startswith("/"):
        resolved = REPO / path_part.lstrip("/")
    else:
        resolved = (page.parent / path_part).resolve()
    assert resolved.exists(), f"{_rel(page)}:{line}: link target {target!r} does not exist"
    assert REPO in resolved.parents or resolved == REPO, f"{_rel(page)}:{line}: {target!r} leaves the repository"
    if fragment and resolved.suffix == ".md":
        assert unquote(fragment) in _anchors(resolved), (
            f"{_rel(page)}:{line}: {target!r}: no heading with anchor #{fragment} in {_rel(resolved)}"
        )


# -- 3. every argument is documented on its page ------------------------------------------------------------


def _documented_classes() -> list[tuple[type, str]]:
    from airflow_provider_ccai.hooks.ccai import CloudContactHook
    from airflow_provider_ccai.notifications.ccai import CcaiNotifier
    from airflow_provider_ccai.operators.ccai import CcaiCreateCampaignOperator, CcaiUploadFileOperator
    from airflow_provider_ccai.sensors.ccai import CcaiCampaignSensor
    from airflow_provider_ccai.triggers.ccai import CcaiCampaignTrigger

    return [
        (CcaiUploadFileOperator, "operators/upload_file.md"),
        (CcaiCreateCampaignOperator, "operators/create_campaign.md"),
        (CcaiCampaignSensor, "sensors.md"),
        (CcaiCampaignTrigger, "sensors.md"),
        (CcaiNotifier, "notifications.md"),
        (CloudContactHook, "connection.md"),
    ]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _argument_rows(page: Path, class_name: str) -> tuple[list[str], dict[str, list[str]]]:
    """Return the header and the rows (by argument name) of the table under the ``<!-- arguments: X -->`` marker."""
    lines = page.read_text(encoding="utf-8").splitlines()
    marker = f"<!-- arguments: {class_name} -->"
    assert marker in (line.strip() for line in lines), f"{_rel(page)}: no {marker} before the arguments table"
    start = [line.strip() for line in lines].index(marker) + 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    table = []
    for line in lines[start:]:
        if not line.strip().startswith("|"):
            break
        table.append(line)
    assert len(table) >= 3, f"{_rel(page)}: no table after {marker}"
    header = [cell.lower() for cell in _cells(table[0])]
    rows: dict[str, list[str]] = {}
    for line in table[2:]:
        cells = _cells(line)
        name = re.fullmatch(r"`(\w+)`", cells[0])
        assert name, f"{_rel(page)}: first cell {cells[0]!r} of a {class_name} row is not a `name`"
        rows[name[1]] = cells
    return header, rows


def _default_shown(cls: type, default: object) -> set[str]:
    """Return the ways a Default cell may show ``default``: its literal, or a module constant holding it."""
    shown = {json.dumps(default), repr(default)} if isinstance(default, str) else {repr(default)}
    module = inspect.getmodule(cls)
    constants = {n for n, v in vars(module).items() if n.isupper() and isinstance(v, str) and v == default}
    return {f"`{form}`" for form in shown | constants}


ARGUMENT_CASES = [
    (cls, page, name, parameter)
    for cls, page in _documented_classes()
    for name, parameter in inspect.signature(cls.__init__).parameters.items()
    if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
]


@pytest.mark.parametrize(
    ("cls", "page", "name", "parameter"),
    ARGUMENT_CASES,
    ids=[f"{cls.__name__}.{name}" for cls, _, name, _ in ARGUMENT_CASES],
)
def test_argument_is_documented(cls, page, name, parameter):
    header, rows = _argument_rows(DOCS / page, cls.__name__)
    assert name in rows, f"docs/{page}: the {cls.__name__} arguments table has no row for `{name}`"
    cells = dict(zip(header, rows[name], strict=False))
    default = cells.get("default", "")
    if parameter.default is inspect.Parameter.empty:
        assert default == "required", f"docs/{page}: `{name}` is required; its Default cell says {default!r}"
    else:
        shown = _default_shown(cls, parameter.default)
        assert any(form in default for form in shown), (
            f"docs/{page}: `{name}` defaults to {parameter.default!r}; its Default cell says {default!r}"
        )
    if "templated" in cells:
        templated = name in getattr(cls, "template_fields", ())
        assert cells["templated"] == ("yes" if templated else "no"), (
            f"docs/{page}: `{name}` is {'' if templated else 'not '}templated; the table says {cells['templated']!r}"
        )


@pytest.mark.parametrize(("cls", "page"), _documented_classes(), ids=lambda value: getattr(value, "__name__", value))
def test_arguments_table_has_no_stale_rows(cls, page):
    _, rows = _argument_rows(DOCS / page, cls.__name__)
    parameters = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    assert set(rows) <= parameters, f"docs/{page}: rows for arguments {cls.__name__} no longer has: " + ", ".join(
        sorted(set(rows) - parameters)
    )
