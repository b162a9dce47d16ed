"""
What `make test` runs on each Airflow version: the whole suite on 3.3 and 2.11, the parts the Makefile names
on 3.2 and 3.1, every named file exists, and docs/versions.md names the same test files as the Makefile.

Read from `make -n` (print the commands, run nothing), so the test sees what make would really run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pytest_arguments(version: str, *variables: str) -> list[str]:
    """Return the arguments `make test-airflow-<version>` passes to pytest, without running anything."""
    # not what an enclosing `make test FULL=1` passes down (MAKEFLAGS carries its FULL=1 to every make below it)
    inherited = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "FULL", "PYTEST_ARGS")
    env = {name: value for name, value in os.environ.items() if name not in inherited}
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", f"test-airflow-{version}", *variables],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    commands = [shlex.split(line) for line in result.stdout.splitlines() if " -m pytest" in line]
    assert len(commands) == 1, result.stdout
    command = commands[0]
    return command[command.index("pytest") + 1 :]


def versions_section() -> str:
    text = (ROOT / "docs" / "versions.md").read_text()
    start = text.index("## What `make test` runs on each version")
    return text[start : text.index("\n## ", start + 1)]


@pytest.mark.parametrize("version", ["3.3", "2.11"])
def test_the_oldest_and_newest_versions_run_the_whole_suite(version):
    assert pytest_arguments(version) == []


@pytest.mark.parametrize("version", ["3.3", "3.2", "3.1", "2.11"])
def test_full_runs_the_whole_suite_on_every_version(version):
    assert pytest_arguments(version, "FULL=1") == []


def ignored_on_3_1() -> list[str]:
    arguments = pytest_arguments("3.1")
    assert arguments and all(argument.startswith("--ignore=") for argument in arguments)
    return [argument.removeprefix("--ignore=") for argument in arguments]


def run_on_3_2() -> list[str]:
    paths = pytest_arguments("3.2")
    assert paths and not any(path.startswith("-") for path in paths)
    return paths


def test_every_file_named_for_3_1_and_3_2_exists():
    for path in ignored_on_3_1() + run_on_3_2():
        assert (ROOT / path).is_file(), path


def test_the_docs_name_the_test_files_the_makefile_names():
    named = set(re.findall(r"`(?:tests/\w+/)?(test_\w+\.py)`", versions_section()))
    assert named == {Path(path).name for path in ignored_on_3_1() + run_on_3_2()}
