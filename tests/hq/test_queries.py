"""HQ's queries over a real read model, on SQLite and on PostgreSQL: scope, cursor pages, Chinese
search, the inbox, and what is hidden from the person complained about."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from contracts.registry import EVENT_TYPES
from services.common.auth import Principal
from services.common.domain import InvalidCommand, NotFound
from services.common.readmodel import ReadModelStore, RowWork
from services.hq.application import HqQueries, ListQuery
from services.hq.domain.model import SCHEMA
from services.hq.policies import projector
from tests.contracts.conftest import CUSTOMER, DEADLINE, FORM, T0, event_data

OPERATOR = Principal("ops", "operator")
HQ_CLERK = Principal("hq-zhao", "hq_clerk")
SHANGHAI = Principal("clerk-li", "branch_clerk", branch="SH01")
BEIJING = Principal("clerk-bj", "branch_clerk", branch="BJ02")
EAST_MANAGER = Principal("rm-east", "regional_manager", region="EAST")
COMPLAINTS = [  # branch, description, customer, complained about, days after T0
    ("SH01", "齿轮箱外壳到货开裂，接缝处漏油。", "华东机械有限公司", None, 0),
    ("SH01", "业务员态度恶劣，拒绝上门。", "上海恒达", "sales-wu", 1),
    ("HZ05", "Gearbox housing cracked on arrival; oil leaking.", "Hangzhou Mech", None, 2),
    ("BJ02", "发票金额有误，要求重开。", "北京联华", None, 3),
    ("BJ02", "送货延误三天。", "北京联华", None, 4),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ReadModelStore]:
    if request.param == "sqlite":
        s = ReadModelStore(SCHEMA, None, tmp_path / "hq.sqlite")
    else:
        s = ReadModelStore(SCHEMA, request.getfixturevalue("new_database")())
    s.create()
    yield s
    s.close()


def _event(name: str, complaint_id: str, form_number: str, n: int, **payload: Any) -> Any:
    cls = EVENT_TYPES[name]
    data = event_data(cls, event_id=str(uuid4()), complaint_id=complaint_id, form_number=form_number,
                      notification_id=n, occurred_at=(T0 + timedelta(days=n)).isoformat(), **payload)
    return cls.model_validate(data)


@pytest.fixture
def filled(store: ReadModelStore) -> dict[str, Any]:
    work, project, ids = RowWork(store), projector(), []
    for n, (branch, description, customer, about, days) in enumerate(COMPLAINTS, start=1):
        cid, form = str(uuid4()), f"{branch}-20261125-{n:04d}"
        received = (T0 + timedelta(days=days)).isoformat()
        project(_event("ComplaintRegistered", cid, form, n, **{
            **FORM, "branch": branch, "description": description, "received_at": received,
            "customer": {**CUSTOMER, "name": customer}, "complained_about": about,
            "subject": "staff" if about else FORM["subject"], "product": None if about else FORM["product"]}), work)
        project(_event("ActionsAwaited", cid, form, 100 + n, state="awaiting_memo", hidden_from=about, actions=[
            {"step": "memo", "role": "regional_manager", "region": "EAST",
             "due_at": (T0 + timedelta(days=10 - days)).isoformat(), "deadline_kind": "marketing_director_review"},
            {"step": "handler", "role": "hq_clerk"}]), work)
        project(_event("DeadlineSet", cid, form, 200 + n, deadline={
            **DEADLINE, "deadline_id": str(uuid4()), "due_at": (T0 + timedelta(days=10 - days)).isoformat()}), work)
        ids.append((cid, form))
    store.save(work, "test/p0", 0, 999)
    return {"ids": ids, "queries": HqQueries(store, clock=lambda: T0 + timedelta(days=8, hours=1))}


def forms(page: dict[str, Any]) -> list[str]:
    return [row["form_number"] for row in page["items"]]


def test_each_caller_sees_only_its_scope(filled: dict[str, Any]) -> None:
    q: HqQueries = filled["queries"]
    every = forms(q.list(ListQuery(filters={}), OPERATOR))
    assert len(every) == 5
    assert {f[:4] for f in forms(q.list(ListQuery(filters={}), SHANGHAI))} == {"SH01"}
    assert {f[:4] for f in forms(q.list(ListQuery(filters={}), BEIJING))} == {"BJ02"}
    assert {f[:4] for f in forms(q.list(ListQuery(filters={}), EAST_MANAGER))} == {"SH01", "HZ05"}
    shanghai_form = filled["ids"][0][1]
    with pytest.raises(NotFound):
        q.complaint(shanghai_form, BEIJING)
    with pytest.raises(NotFound):
        q.history(filled["ids"][0][0], BEIJING)
    assert q.complaint(shanghai_form, SHANGHAI)["complaint_id"] == filled["ids"][0][0]


def test_the_person_complained_about_never_sees_the_complaint(filled: dict[str, Any]) -> None:
    q: HqQueries = filled["queries"]
    cid, form = filled["ids"][1]
    about = Principal("sales-wu", "regional_manager", region="EAST")
    assert form not in forms(q.list(ListQuery(filters={}), about))
    with pytest.raises(NotFound):
        q.complaint(form, about)
    assert all(i["complaint_id"] != cid for i in q.inbox(about)["items"])
    assert cid in {i["complaint_id"] for i in q.inbox(EAST_MANAGER)["items"]}


@pytest.mark.parametrize("sort", ["-received_at", "received_at", "next_due_at", "-next_due_at", "form_number"])
def test_cursor_pages_walk_the_whole_list_once_in_order(filled: dict[str, Any], sort: str) -> None:
    q: HqQueries = filled["queries"]
    whole = forms(q.list(ListQuery(filters={}, sort=sort, limit=200), OPERATOR))
    seen, cursor = [], None
    while True:
        page = q.list(ListQuery(filters={}, sort=sort, limit=2, cursor=cursor), OPERATOR)
        seen += forms(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole and len(set(seen)) == 5
    with pytest.raises(InvalidCommand) as refused:
        q.list(ListQuery(filters={}, sort="form_number", cursor="not-a-cursor"), OPERATOR)
    assert refused.value.field == "cursor"


@pytest.mark.parametrize("term, expected", [
    ("漏油", {0}), ("开裂", {0}), ("态度", {1}), ("北京联华", {3, 4}), ("发票", {3}), ("油", {0}),
    ("oil leak", {2}), ("GEARBOX", {2}), ("华东 漏油", {0}), ("华东 发票", set()), ("!!!", set()),
])
def test_search_finds_chinese_by_bigrams_and_words_by_prefix(filled: dict[str, Any], term: str,
                                                             expected: set[int]) -> None:
    q: HqQueries = filled["queries"]
    found = set(forms(q.list(ListQuery(filters={}, q=term), OPERATOR)))
    assert found == {filled["ids"][i][1] for i in expected}


def test_the_inbox_lists_my_role_s_steps_in_scope_oldest_deadline_first(filled: dict[str, Any]) -> None:
    q: HqQueries = filled["queries"]
    manager = q.inbox(EAST_MANAGER)
    dues = [i["due_at"] for i in manager["items"]]
    assert [i["form_number"][:4] for i in manager["items"]] == ["HZ05", "SH01", "SH01"]
    assert dues == sorted(dues) and manager["overdue"] == 1  # HZ05's memo was due on day 8
    assert {i["step"] for i in q.inbox(HQ_CLERK)["items"]} == {"handler"} and q.inbox(HQ_CLERK)["count"] == 5
    assert q.inbox(SHANGHAI)["items"] == []


def test_filters_and_overdue(filled: dict[str, Any]) -> None:
    q: HqQueries = filled["queries"]
    assert set(forms(q.list(ListQuery(filters={"branch": "BJ02"}), OPERATOR))) == {f for _, f in filled["ids"][3:]}
    overdue = set(forms(q.list(ListQuery(filters={}, overdue=True), OPERATOR)))
    assert overdue == {f for _, f in filled["ids"][2:]}  # memos due on days 8, 7 and 6; it is day 8
    assert set(forms(q.list(ListQuery(filters={}, overdue=False), OPERATOR))) == {f for _, f in filled["ids"][:2]}
    with pytest.raises(InvalidCommand):
        q.list(ListQuery(filters={"colour": "red"}), OPERATOR)


def test_a_rebuilt_copy_swaps_in_under_the_same_names(store: ReadModelStore, filled: dict[str, Any]) -> None:
    rebuilt = store.sibling("next_")
    rebuilt.drop()
    rebuilt.create()
    assert rebuilt.count("complaints") == 0
    work = RowWork(rebuilt)
    work.put("complaints", {"complaint_id": "x", "form_number": "SH01-20261125-0099", "branch": "SH01",
                            "stage": "registered", "search_tokens": "漏油"})
    rebuilt.save(work, "test/p0", 0, 1)
    rebuilt.swap_into(store)
    assert store.count("complaints") == 1 and store.positions() == {"test/p0": 1}
    assert forms(HqQueries(store).list(ListQuery(filters={}, q="漏油"), OPERATOR)) == ["SH01-20261125-0099"]
    assert not rebuilt.exists()



