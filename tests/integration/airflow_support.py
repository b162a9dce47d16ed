"""Reading what real Airflow runs left in the metadata database, and starting real Airflow processes (3.x and 2.11)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def xcoms(dag_id: str, run_id: str) -> dict[tuple[str, str], Any]:
    """
    Return every XCom of one DAG run as ``{(task_id, key): value}``.

    :param dag_id: the DAG.
    :param run_id: the run.
    """
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel
    except ImportError:  # Airflow 2.11: the ORM object deserialises its value on load
        from airflow.models.xcom import XCom as XComModel  # type: ignore[no-redef]

        def value_of(row: Any) -> Any:
            return row.value
    else:
        value_of = XComModel.deserialize_value
    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.dag_id == dag_id, XComModel.run_id == run_id).all()
        return {(row.task_id, row.key): value_of(row) for row in rows}


def rendered_fields(dag_id: str, run_id: str) -> dict[tuple[str, int], str]:
    """
    Return the rendered template fields Airflow stored for one DAG run, as text, by ``(task_id, map_index)``.

    :param dag_id: the DAG.
    :param run_id: the run.
    """
    import sqlite3

    from airflow.configuration import conf

    path = conf.get("database", "sql_alchemy_conn").removeprefix("sqlite:///")
    sql = "SELECT task_id, map_index, rendered_fields FROM rendered_task_instance_fields WHERE dag_id=? AND run_id=?"
    with sqlite3.connect(path) as db:
        return {(task_id, index): str(fields) for task_id, index, fields in db.execute(sql, (dag_id, run_id))}


def task_states(dag_id: str, run_id: str) -> dict[str, tuple[str, int]]:
    """
    Return ``{task_id: (state, try_number)}`` for one DAG run.

    :param dag_id: the DAG.
    :param run_id: the run.
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        return {ti.task_id: (str(ti.state), int(ti.try_number)) for ti in rows}


def has_task_state_store() -> bool:
    """The task state store is new in Airflow 3.3; before it, the operator falls back to the DAG-run window."""
    from airflow import __version__
    from packaging.version import Version

    return Version(__version__) >= Version("3.3")


# -- real Airflow processes (API server, scheduler, ...) started by integration tests -----------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_processes(processes: list[Any], grace_seconds: float = 20) -> None:
    """
    SIGTERM every process, its descendants and its process group, wait, then SIGKILL whatever is left.

    The process group (each was started with ``start_new_session=True``) also reaches what a process that
    died left behind: its children then belong to init, no longer to it.

    :param processes: ``subprocess.Popen`` objects (started with ``start_new_session=True``).
    :param grace_seconds: how long to wait after SIGTERM before killing.
    """
    import signal

    import psutil

    family: dict[int, psutil.Process] = {}
    for process in processes:
        if process.returncode is None:  # one reaped by an earlier stop may have its pid reused by now
            family.update((member.pid, member) for member in _family(process.pid))
    for member in family.values():
        try:
            member.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(list(family.values()), timeout=grace_seconds)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)
    for process in processes:
        process.wait(timeout=10)


def _family(pid: int) -> list[Any]:
    """Return the process ``pid``, its descendants and the members of its process group that are still there."""
    import os

    import psutil

    members: dict[int, psutil.Process] = {}
    try:
        leader = psutil.Process(pid)
        members.update((member.pid, member) for member in [leader, *leader.children(recursive=True)])
    except psutil.NoSuchProcess:
        pass
    for candidate in psutil.process_iter():
        try:
            if os.getpgid(candidate.pid) == pid:
                members.setdefault(candidate.pid, candidate)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return list(members.values())


def log_tail(path: Any, chars: int = 3000) -> str:
    """Return the end of a process log for an assertion message (empty if there is no log)."""
    from pathlib import Path

    try:
        return Path(path).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def private_home(migrated_home: Any, home: Any) -> dict[str, str]:
    """
    Copy the session's migrated ``AIRFLOW_HOME`` (database and config) to ``home``; return env vars using it.

    The database is copied with SQLite's backup API, which gives every committed row: Airflow opens it in WAL
    mode, so the file alone can lag behind (a ``dag.test()`` run seen still running, which a real scheduler in
    the copy would then finish, firing its callbacks).

    :param migrated_home: the ``airflow_db`` fixture's directory.
    :param home: an empty directory for the copy.
    """
    import shutil
    import sqlite3
    from contextlib import closing
    from pathlib import Path

    source, home = Path(migrated_home), Path(home)
    with closing(sqlite3.connect(source / "airflow.db")) as live, closing(sqlite3.connect(home / "airflow.db")) as copy:
        live.backup(copy)
    shutil.copy(source / "airflow.cfg", home / "airflow.cfg")
    return {"AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}"}


def process_logs(home: Any) -> str:
    """Return the tails of every ``*.log`` in ``home``, for assertion messages."""
    from pathlib import Path

    return "\n".join(f"--- {log.name} ---\n{log_tail(log)}" for log in sorted(Path(home).glob("*.log")))


def log_texts(home: Any) -> dict[str, str]:
    """Return the full text of every ``*.log`` under ``home`` (process logs and, if kept there, task logs) by path."""
    from pathlib import Path

    home = Path(home)
    return {str(log.relative_to(home)): log.read_text(errors="replace") for log in sorted(home.rglob("*.log"))}


def logs_in_home(home: Any) -> dict[str, str]:
    """
    Return environment variables that put task and DAG-parsing logs under ``home/logs`` (for :func:`log_texts`).

    :param home: a private ``AIRFLOW_HOME`` (see :func:`private_home`).
    """
    from pathlib import Path

    logs = Path(home) / "logs"
    return {
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs),
        "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(logs / "dag_processor"),  # Airflow 3
        "AIRFLOW__SCHEDULER__CHILD_PROCESS_LOG_DIRECTORY": str(logs / "scheduler"),  # Airflow 2.11
        "AIRFLOW__LOGGING__DAG_PROCESSOR_MANAGER_LOG_LOCATION": str(logs / "dag_processor_manager.log"),
    }


def scheduler_environment(home: Any, sandbox: Any, dags_folder: Any) -> dict[str, str]:
    """
    Return the environment for a real scheduler on ``home``'s database, parsing ``dags_folder``.

    Airflow 3: LocalExecutor behind an API server on a free loopback port. Airflow 2.11: SequentialExecutor
    (the one SQLite allows). ``ccai_default`` points at the sandbox.

    :param home: a private ``AIRFLOW_HOME`` (see :func:`private_home`).
    :param sandbox: the running sandbox.
    :param dags_folder: the DAG files to schedule.
    """
    import json
    import os
    import sys
    from pathlib import Path

    from tests.conftest import REPO, SANDBOX_KEY, connection_json

    home = Path(home)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [{"name": "dags-folder", "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {}}]
        ),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
        "AIRFLOW_CONN_CCAI_DEFAULT": connection_json(sandbox.api_url, sandbox.base_url, SANDBOX_KEY, timeout=10),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    if _airflow_3():
        port = free_port()
        env.update(
            AIRFLOW__CORE__EXECUTOR="LocalExecutor",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(port),
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
            AIRFLOW__API_AUTH__JWT_SECRET="scheduler-test-jwt-secret-0123456789abcdef",
            AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
            # a task's first call to the API server (PATCH .../run) gets 5 s by default; on a loaded 2-core
            # machine it can take longer, and the client's repeat then finds the task already running (400)
            AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="60",
        )
    else:
        env.update(AIRFLOW__CORE__EXECUTOR="SequentialExecutor")
    return env


@contextmanager
def scheduler_running(home: Any, env: dict[str, str], *, triggerer: bool = False) -> Iterator[list[Any]]:
    """
    Run Airflow's scheduler (and on Airflow 3 the API server and DAG processor) inside the ``with`` block.

    Yields the processes (for :func:`wait_for`); each logs to ``home/<command>.log`` and runs in its own
    session, and :func:`stop_processes` stops them all on the way out (stopping them earlier is allowed).

    :param home: the ``AIRFLOW_HOME`` the logs go to.
    :param env: from :func:`scheduler_environment`.
    :param triggerer: start a triggerer too (deferred tasks, Deadline Alert callbacks).
    """
    import subprocess
    from pathlib import Path

    # no log server: it would listen on every interface, on a fixed port; the tests read log files directly
    commands = [["scheduler", "--skip-serve-logs"]]
    if _airflow_3():
        commands = [
            ["api-server", "--host", "127.0.0.1", "--port", env["AIRFLOW__API__PORT"]],
            ["scheduler", "--skip-serve-logs"],
            ["dag-processor"],
        ]
    if triggerer:
        commands.append(["triggerer", "--skip-serve-logs"])
    processes = []
    try:
        for command in commands:
            with open(Path(home) / f"{command[0]}.log", "wb") as log:
                processes.append(
                    subprocess.Popen(
                        [_airflow(), *command], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
        yield processes
    finally:
        stop_processes(processes)


def dag_runs(home: Any, dag_id: str) -> list[tuple[str, str]]:
    """
    Return ``(run_id, state)`` of a DAG's runs in ``home``'s database, oldest first.

    :param home: the ``AIRFLOW_HOME`` a scheduler runs on.
    :param dag_id: the DAG.
    """
    return query(home, "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id", dag_id)


def query(home: Any, sql: str, *parameters: Any) -> list[tuple]:
    """
    Run one SQL query on ``home``'s SQLite metadata database (may raise ``sqlite3.OperationalError`` while a
    running scheduler holds the database locked; :func:`wait_for` counts that as "not yet").

    :param home: the ``AIRFLOW_HOME`` a scheduler runs on.
    :param sql: the query, with ``?`` placeholders.
    :param parameters: the placeholders' values.
    """
    import sqlite3
    from pathlib import Path

    with sqlite3.connect(Path(home) / "airflow.db", timeout=10) as db:
        return db.execute(sql, parameters).fetchall()


def airflow_cli(env: dict[str, str], *arguments: str) -> str:
    """
    Run one ``airflow`` CLI command as a user would beside a running scheduler; return its output, fail if it fails.

    :param env: from :func:`scheduler_environment`.
    :param arguments: the command, e.g. ``("dags", "trigger", "my_dag")``.
    """
    import subprocess

    done = subprocess.run([_airflow(), *arguments], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def wait_for(done: Any, processes: list[Any], home: Any, *, timeout: float, poll: float) -> None:
    """
    Poll ``done()`` until it is true or ``timeout`` seconds pass; fail with the logs if a process died.

    A ``done()`` that finds the database locked by the scheduler (``sqlite3.OperationalError``) counts as not done.

    :param done: a callable without arguments.
    :param processes: from :func:`scheduler_running`.
    :param home: the ``AIRFLOW_HOME`` holding the process logs.
    :param timeout: the bound on the wait, in seconds.
    :param poll: seconds between checks.
    """
    import sqlite3
    import time

    def answered() -> bool:
        try:
            return bool(done())
        except sqlite3.OperationalError:  # database briefly locked by the scheduler
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not answered():
        assert all(process.poll() is None for process in processes), process_logs(home)
        time.sleep(poll)


def _airflow() -> str:
    """The ``airflow`` command of the interpreter running the tests."""
    import sys
    from pathlib import Path

    return str(Path(sys.executable).parent / "airflow")


def _airflow_3() -> bool:
    from airflow import __version__

    return int(__version__.split(".")[0]) >= 3
