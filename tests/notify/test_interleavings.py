"""Architecture rule 8: notify's notices do not depend on which upstream topic delivers first.

Intake's `ComplaintRegistered` (the customer's contact) and billing's `CostAllocated` (the
decision) come on two topics; only the order within each topic is guaranteed, and either
may be redelivered. Every interleaving that keeps per-topic order, cut into batches
anywhere, must record the same notices, each once per cause and recipient.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import Tracking
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.envelope import Envelope, Role
from contracts.notify import NotificationRecorded
from services.common.consumer import UnitOfWork
from services.notify.application import NotifyApplication
from services.notify.policies import notify_policy
from tests.common.builders import complaint_registered, cost_allocated, customer, in_memory, published

EVERYONE = {Role.CUSTOMER, Role.GENERAL_MANAGER, Role.MANAGEMENT_REPRESENTATIVE}


def what_a_reader_sees(notice: NotificationRecorded) -> tuple[Any, ...]:
    """Everything of a notice except what legitimately differs between runs (its own event
    id, its place in notify's log, when it was recorded)."""
    return (notice.notice_id, notice.complaint_id, notice.form_number, notice.correlation_id,
            notice.causation_id, notice.actor, notice.recipient_role, notice.recipient, notice.channel,
            notice.subject, notice.body, notice.about_event_type)


def feed(batches: list[list[Envelope]]) -> Counter[tuple[Any, ...]]:
    """Run the policy over the batches, one unit of work (and one transaction) per batch."""
    app = in_memory(NotifyApplication)
    for position, batch in enumerate(batches, start=1):
        uow = UnitOfWork(app)
        for event in batch:
            notify_policy(event, uow)
        app.save_processed(list(uow.aggregates.values()), Tracking("test/p0", position))
    recorded = published(app)
    assert all(isinstance(e, NotificationRecorded) for e in recorded)
    seen = Counter(what_a_reader_sees(n) for n in recorded)  # type: ignore[arg-type]
    # Once per cause and recipient, whatever was redelivered.
    assert Counter((n.causation_id, n.recipient_role) for n in recorded).most_common(1)[0][1] == 1  # type: ignore[union-attr]
    return seen


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Envelope], list[Envelope], list[list[Envelope]]]:
    """A complaint's upstream events per topic, and one interleaving of them cut into batches."""
    name = draw(st.sampled_from(["Hangzhou Mingyuan Pumps", "Shanghai " + "Hengda " * 24 + "Co."]))
    registered = complaint_registered(customer=customer(name=name, phone="0571-5555-0404"),
                                      branch="HZ05", form_number="HZ05-20261125-0003")
    costs = [cost_allocated(complaint_id=registered.complaint_id, form_number=registered.form_number,
                            notification_id=1)]
    if draw(st.booleans()):  # a second decision on the same complaint: a cause of its own
        costs.append(cost_allocated(complaint_id=registered.complaint_id, form_number=registered.form_number,
                                    event_id=uuid4(), notification_id=2, determination="cannot_be_determined"))
    intake = [registered] * draw(st.integers(1, 3))  # redelivered as is
    billing: list[Envelope] = []
    for cost in costs:
        billing += [cost] * draw(st.integers(1, 3))
    # An interleaving keeping per-topic order: which topic delivers at each step.
    order = draw(st.permutations(["intake"] * len(intake) + ["billing"] * len(billing)))
    queues = {"intake": list(intake), "billing": list(billing)}
    sequence = [queues[topic].pop(0) for topic in order]
    cuts = sorted(draw(st.sets(st.integers(1, len(sequence) - 1), max_size=len(sequence) - 1)))
    bounds = [0, *cuts, len(sequence)]
    batches = [sequence[a:b] for a, b in zip(bounds, bounds[1:])]
    return [registered], costs, batches


@settings(max_examples=150, deadline=None)
@given(deliveries())
def test_every_interleaving_records_the_same_notices(case) -> None:
    intake, billing, batches = case
    expected = feed([intake, billing])  # the contact first, then the decisions
    assert feed(batches) == expected
    assert len(expected) == 3 * len(billing)
    assert {key[6] for key in expected} == EVERYONE
    customers = [key for key in expected if key[6] is Role.CUSTOMER]
    assert all("0571-5555-0404" in key[7] and "HZ05" in key[7] for key in customers)


def test_decision_before_contact_waits_for_the_contact() -> None:
    registered = complaint_registered(customer=customer(name="Hangzhou Mingyuan Pumps", phone="0571-5555-0404"),
                                      branch="HZ05", form_number="HZ05-20261125-0003")
    cost = cost_allocated(complaint_id=registered.complaint_id, form_number=registered.form_number)
    early = feed([[cost]])
    # The notices that need no contact go at once; the customer's waits.
    assert {key[6] for key in early} == {Role.GENERAL_MANAGER, Role.MANAGEMENT_REPRESENTATIVE}
    late = feed([[cost], [registered]])
    assert late == feed([[registered], [cost]])
    [customer_notice] = [key for key in late if key[6] is Role.CUSTOMER]
    assert "Hangzhou Mingyuan Pumps (0571-5555-0404), via branch HZ05 clerk" == customer_notice[7]
    assert customer_notice[4] == cost.event_id  # caused by the decision, not by the registration
