"""Reading what real Airflow runs left in the metadata database, on Airflow 3.3 and 2.11 alike."""

from __future__ import annotations

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


# -- real Airflow processes (API server, scheduler, ...) started by integration tests -----------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_processes(processes: list[Any], grace_seconds: float = 20) -> None:
    """
    SIGTERM every process and all its descendants, wait, then SIGKILL whatever is left.

    :param processes: ``subprocess.Popen`` objects (started with ``start_new_session=True``).
    :param grace_seconds: how long to wait after SIGTERM before killing.
    """
    import signal

    import psutil

    family: list[psutil.Process] = []
    for process in processes:
        try:
            parent = psutil.Process(process.pid)
            family += [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    for member in family:
        try:
            member.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=grace_seconds)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=10)
    for process in processes:
        process.wait(timeout=10)


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

    :param migrated_home: the ``airflow_db`` fixture's directory.
    :param home: an empty directory for the copy.
    """
    import shutil
    from pathlib import Path

    source, home = Path(migrated_home), Path(home)
    shutil.copy(source / "airflow.db", home / "airflow.db")
    shutil.copy(source / "airflow.cfg", home / "airflow.cfg")
    return {"AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}"}
