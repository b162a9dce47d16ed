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
