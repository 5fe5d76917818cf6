"""Corrective actions and exception reports on real PostgreSQL: a second process opening the same store
rebuilds every action exactly (state, round, approvals, aware due time, implementation, verifications),
lists them from the log, and every stored event still makes its published message."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

from contracts.corrective import AnswerExceptionReport, CorrectiveActionState, IssueExceptionReport
from contracts.routing import Destination
from services.common.store import store_env
from services.quality.application import QualityApplication
from services.quality.domain.corrective import action_id_for_adjudication
from services.quality.policies import quality_policy
from services.quality.settings import QualitySettings
from tests.common.builders import complaint_routed, published, react
from tests.quality.test_corrective import (
    DEPT, DUE, NOW, PDF, QA, adjudication, alert_command, implement, to_approved, verify,
)


def open_app(url: str, tmp_path: Path) -> QualityApplication:
    app = QualityApplication(env=store_env(QualitySettings(database_url=url, data_dir=tmp_path)))
    app.corrective_clock = lambda: NOW
    return app


def test_a_second_process_rebuilds_every_action_and_report(new_database: Callable[[], str], tmp_path: Path) -> None:
    url = new_database()
    first = open_app(url, tmp_path)
    first.evidence.put(PDF)
    routed = complaint_routed(Destination.QUALITY_DEPARTMENT)
    react(first, quality_policy, routed)
    defect = adjudication()
    react(first, quality_policy, defect)
    reopened, _ = first.raise_corrective_action_from_alert(alert_command(routed.complaint_id, alert_id=uuid4()))
    to_approved(first, reopened)
    first.corrective_action_step(implement(reopened))
    first.corrective_action_step(verify(reopened, effective=False))
    closed, _ = first.raise_corrective_action_from_alert(alert_command(routed.complaint_id, alert_id=uuid4()))
    to_approved(first, closed)
    first.corrective_action_step(implement(closed, actor=QA))
    first.corrective_action_step(verify(closed, effective=True))
    report_id = uuid4()
    first.issue_exception_report(IssueExceptionReport(
        complaint_id=routed.complaint_id, actor=QA, report_id=report_id, no_loss=True, unit="Line 2",
        description="Scratched label", requested_response="Check the rail", respond_by=DUE))
    first.answer_exception_report(AnswerExceptionReport(complaint_id=routed.complaint_id, report_id=report_id,
                                                        actor=DEPT, response="Rail re-aligned"))
    before = {a.id: a for a in first.corrective_actions()}
    messages = published(first)
    first.close()

    second = open_app(url, tmp_path)
    try:
        after = {a.id: a for a in second.corrective_actions()}
        assert list(after) == list(before) and len(after) == 3
        for action_id, action in after.items():
            old = before[action_id]
            assert (action.state, action.round, action.approvals, action.due_at, action.actions,
                    action.implementation, action.verifications, action.version, action.fingerprints) == (
                old.state, old.round, old.approvals, old.due_at, old.actions, old.implementation,
                old.verifications, old.version, old.fingerprints)
        raised = after[action_id_for_adjudication(defect.adjudication_id)]
        assert raised.state is CorrectiveActionState.RAISED and raised.product == defect.product
        assert after[reopened.id].state is CorrectiveActionState.PROPOSED and after[reopened.id].round == 2
        assert after[reopened.id].due_at == DUE + timedelta(days=10) and after[reopened.id].due_at.tzinfo
        assert after[closed.id].closed and not after[closed.id].overdue(DUE + timedelta(days=365))
        report = second.exception_report(report_id)
        assert (report.answer["response"], report.respond_by, report.product) == ("Rail re-aligned", DUE,
                                                                                  routed.product)
        assert published(second) == messages
        # the same adjudication delivered again to the second process raises nothing more
        assert react(second, quality_policy, defect, position=50) == 0
    finally:
        second.close()
