"""
Mapping, run by real Airflow against the sandbox: a mapped campaign task (``.partial().expand(accounts=...)``),
and one campaign whose recipients come from a mapped upstream task.
"""

from __future__ import annotations

import pytest

from tests.conftest import TEST_DAGS, parse_dag_folder
from tests.integration.airflow_support import rendered_fields

pytestmark = pytest.mark.integration


def test_each_chunk_sends_one_campaign_and_its_rendered_view_hides_the_phones(airflow_db, sandbox):
    from tests.dags.faults.ccai_fault_dags import RECIPIENTS

    bag = parse_dag_folder(TEST_DAGS / "faults")
    assert bag.import_errors == {}
    dag = bag.dags["ccai_mapped_campaign"]

    run = dag.test()

    assert run.state == "success"
    campaigns = sandbox.campaigns()
    assert sorted(c["title"].rsplit(" ", 1)[1] for c in campaigns) == ["0", "1"]
    assert sorted(c["accounts"][0]["phone"] for c in campaigns) == sorted(r["phone"] for r in RECIPIENTS)
    rendered = {index: fields for (_, index), fields in rendered_fields(dag.dag_id, run.run_id).items()}
    assert sorted(rendered) == [0, 1]
    for index, fields in rendered.items():
        assert f"part {index}" in fields  # the row is this chunk's rendered view
        assert "<recipients: 1 row, not shown>" in fields
        assert not [r["phone"] for r in RECIPIENTS if r["phone"] in fields]


def test_recipients_from_a_mapped_upstream_task_make_one_campaign(airflow_db, sandbox):
    from tests.dags.faults.ccai_fault_dags import RECIPIENTS

    bag = parse_dag_folder(TEST_DAGS / "faults")
    assert bag.import_errors == {}

    run = bag.dags["ccai_mapped_audience"].test()

    assert run.state == "success"
    [campaign] = sandbox.campaigns()
    assert [account["phone"] for account in campaign["accounts"]] == [row["phone"] for row in RECIPIENTS]
    fields = rendered_fields("ccai_mapped_audience", run.run_id)[("send", -1)]
    assert "<recipients: " in fields and not [r["phone"] for r in RECIPIENTS if r["phone"] in fields]
