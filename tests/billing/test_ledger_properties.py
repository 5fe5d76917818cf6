"""Ledger properties (hypothesis): after any sequence of facts and revisions every cost item has
exactly one payer, the ledger holds exactly what the case prices to, its total is the sum of its
entries and of its payers, nothing booked is edited, a reversal cancels one earlier entry exactly,
and a revision (or a redelivery) that reaches the same outcome books nothing."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.billing import Payer
from services.billing.domain.costing import ZERO, targets
from services.common.domain import DomainError
from tests.billing.events import adjudicated, corrected, on_site, parts, ruled
from tests.billing.ledger_helpers import cost, feed, new_ledger, penalty

DETERMINATIONS = ["obvious_quality_defect", "obvious_misuse", "cannot_be_determined"]
RESOLUTIONS = ["fixed_on_site", "complex_needs_parts", "simple_part_swap"]
PARTS = ["GX-200-SEAL", "GX-200-BEARING", "GX-200-GEARSET", "NOT-LISTED"]

amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2)
part_lists = st.lists(st.tuples(st.sampled_from(PARTS), st.integers(1, 5)), max_size=3)


@st.composite
def determined(draw: st.DrawFn, allow_undetermined: bool = True) -> tuple[str, str | None]:
    determination = draw(st.sampled_from(DETERMINATIONS if allow_undetermined else DETERMINATIONS[:2]))
    return determination, draw(st.sampled_from(RESOLUTIONS)) if determination == "obvious_misuse" else None


@st.composite
def steps(draw: st.DrawFn) -> list[tuple]:
    out = []
    for _ in range(draw(st.integers(1, 9))):
        kind = draw(st.sampled_from(["on_site", "correct", "adjudicate", "rule", "cost", "penalty", "redeliver"]))
        if kind in ("on_site", "correct"):
            out.append((kind, *draw(determined()), draw(st.booleans()), draw(st.integers(1, 4)), draw(part_lists),
                        draw(st.sampled_from(["GX-200", "KX-200", "ZZ-999"]))))
        elif kind == "adjudicate":
            out.append((kind, *draw(determined(allow_undetermined=False)), draw(st.booleans()),
                        draw(st.integers(1, 4)), draw(part_lists),
                        str(draw(st.decimals(min_value=0, max_value=20, places=2))), draw(st.booleans())))
        elif kind == "rule":
            out.append((kind, *draw(determined())))
        elif kind == "cost":
            out.append((kind, draw(st.sampled_from(["return_transport", "delivery_transport", "other"])),
                        str(draw(amounts))))
        elif kind == "penalty":
            out.append((kind, str(draw(st.decimals(min_value=30, max_value=60, places=2)))))
        else:
            out.append((kind,))
    return out


def event_for(ledger, step: tuple):
    kind = step[0]
    if kind == "on_site":
        _, det, res, within, qty, used, model = step
        return on_site(ledger.id, det, res, within_warranty=within, quantity=qty, parts_used=parts(*used),
                       model=model)
    if kind == "correct":
        _, det, res, within, qty, used, model = step
        return corrected(ledger.id, "cannot_be_determined", det, res, within_warranty=within, quantity=qty,
                         parts_used=parts(*used), model=model)
    if kind == "adjudicate":
        _, det, res, within, qty, used, hours, negligent = step
        return adjudicated(ledger.id, det, res, within_warranty=within, quantity=qty, parts_used=parts(*used),
                           labour_hours=hours, negligent=negligent, degree="medium" if negligent else None)
    _, det, res = step
    return ruled(ledger.id, det, res)


def held(ledger) -> dict[tuple[str, str], tuple[Payer, Decimal]]:
    out = {}
    for entry in ledger.open_entries():
        key = (entry.item.value, entry.key)
        assert key not in out, f"{key} has two payers"
        out[key] = (entry.payer, entry.amount)
    return out


def check(ledger, before: list) -> None:
    entries = ledger.entries
    assert entries[:len(before)] == before, "nothing booked is edited or deleted"
    assert ledger.total == sum((e.amount for e in entries), ZERO)
    payers: dict[Payer, Decimal] = {}
    for e in entries:
        payers[e.payer] = payers.get(e.payer, ZERO) + e.amount
    assert ledger.total == sum(payers.values(), ZERO)
    by_id = {e.entry_id: (i, e) for i, e in enumerate(entries)}
    reversed_ids = [e.reverses for e in entries if e.reverses is not None]
    assert len(reversed_ids) == len(set(reversed_ids)), "an entry is reversed once at most"
    for i, e in enumerate(entries):
        if e.reverses is not None:
            j, original = by_id[e.reverses]
            assert j < i and original.reverses is None
            assert (original.item, original.key, original.payer, -original.amount) == (e.item, e.key, e.payer, e.amount)
    target = targets(ledger.facts())
    assert held(ledger) == {(line.item.value, line.key): (line.payer, line.amount) for line in target.lines}
    if not target.pending:
        assert Payer.TO_BE_DECIDED not in {payer for payer, _ in held(ledger).values()}
    assert all(amount >= 0 for _, amount in held(ledger).values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps())
def test_any_sequence_of_facts_keeps_the_ledger_whole(sequence: list[tuple]) -> None:
    ledger = new_ledger()
    last = None
    for step in sequence:
        before = list(ledger.entries)
        kind = step[0]
        if kind == "cost":
            _, item, amount = step
            cost(ledger, item, amount, None if item == "other" else f"WB-{uuid4().hex[:8]}")
        elif kind == "penalty":
            count = len(ledger.pending_events)
            try:
                penalty(ledger, step[1])
            except DomainError:
                assert ledger.negligence is None and len(ledger.pending_events) == count
        elif kind == "redeliver":
            if last is not None:
                count = len(ledger.pending_events)
                assert feed(ledger, last) is False
                assert len(ledger.pending_events) == count
        else:
            last = event_for(ledger, step)
            feed(ledger, last)
            check(ledger, before)
            # the same outcome again, as a new decision: nothing is booked
            again_before, count = list(ledger.entries), len(ledger.pending_events)
            feed(ledger, last.model_copy(update={"event_id": uuid4()}))
            assert ledger.entries == again_before
            assert [type(e).__name__ for e in ledger.pending_events[count:]] == ["FactNoted"]
        check(ledger, before)
