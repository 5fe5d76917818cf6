"""The console's data files (services/console/catalog.py): the step catalogue (`steps.yaml`) loads and
names only forms it has and actions access.yaml declares, optional steps name real states, a malformed file is
refused naming the entry; `forms_for` finds the forms of an awaited step (the catalogue's list, the subject's
own list, else the form of the step's segment at the source's service, with a corrective action's or
notice's id as target); every step the services await has a form of the service that takes it; `resolve`
reads prefill sources; `Translator` falls back zh <-> en, then to the schema's title, then to the key;
messages.yaml and labels.yaml give both languages for every entry and cover the words the pages use."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.routing import CaseState, DeadlineKind
from services.common.access import rules
from services.console.catalog import (
    HERE, LANGUAGES, OPEN, Catalogue, FormSpec, Translator, load_catalogue, resolve, translator,
)
from services.hq.domain.projection import QUALITY_STAGES

ACTION = "3f1c2b4a-1111-4222-8333-444455556666"
NOTICE = "9a8b7c6d-2222-4333-8444-555566667777"
FORM_KEY = re.compile(r"[a-z]+/[a-z-]+")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def raw() -> dict[str, Any]:
    """steps.yaml as data, a fresh copy each time (tests change it)."""
    return yaml.safe_load((HERE / "steps.yaml").read_text(encoding="utf-8"))


def load(tmp_path: Path, data: dict[str, Any]) -> Catalogue:
    path = tmp_path / "steps.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_catalogue(path)


# --- the file -------------------------------------------------------------------------------------


def test_every_form_is_service_slash_segment_with_declared_actions(catalogue: Catalogue) -> None:
    declared = rules().actions
    assert len(catalogue.forms) == len(raw()["forms"]) > 40
    for key, form in catalogue.forms.items():
        assert FORM_KEY.fullmatch(key) and form.key == key
        assert form.service in {"intake", "routing", "quality", "capa", "billing", "notify"}
        assert form.actions, key
        assert set(form.actions) <= declared.keys(), (key, set(form.actions) - declared.keys())


def test_every_form_is_open_to_some_role(catalogue: Catalogue) -> None:
    granted = {a for role in rules().roles.values() for a in role.actions}
    assert [k for k, f in catalogue.forms.items() if not set(f.actions) & granted] == []


def test_awaited_and_optional_steps_name_known_forms(catalogue: Catalogue) -> None:
    for step, keys in catalogue.awaited.items():
        assert keys and set(keys) <= catalogue.forms.keys(), step
    assert catalogue.optional
    assert {o.form for o in catalogue.optional} <= catalogue.forms.keys()


def test_optional_steps_name_states_the_complaint_can_be_in(catalogue: Catalogue) -> None:
    stages = set(QUALITY_STAGES.values())
    cases = {s.value for s in CaseState}
    for optional in catalogue.optional:
        assert optional.states, optional.form
        for state in optional.states:
            if state.startswith("quality:"):
                assert state.split(":", 1)[1] in stages, (optional.form, state)
            else:
                assert state == OPEN or state in cases, (optional.form, state)


def test_paths_default_to_the_segment_and_targets_are_marked(catalogue: Catalogue) -> None:
    memo = catalogue.forms["routing/memo"]
    assert memo.path == "/complaints/{complaint_id}/memo" and not memo.needs_target and memo.body
    assert memo.service == "routing" and memo.segment == "memo"
    assert memo.url_path("c-1", None) == "/complaints/c-1/memo"
    proposal = catalogue.forms["capa/proposal"]
    assert proposal.needs_target and proposal.url_path("c-1", ACTION) == f"/corrective-actions/{ACTION}/proposal"
    ack = catalogue.forms["notify/acknowledgement"]
    assert ack.needs_target and not ack.body and ack.url_path("c-1", NOTICE) == f"/inbox/{NOTICE}/acknowledgement"
    approval = catalogue.forms["billing/compensation-approval"]
    assert approval.url_path("c-1", "x") == "/complaints/c-1/compensation/x/approval"


def test_prefill_and_fill_are_read(catalogue: Catalogue) -> None:
    dpf = catalogue.forms["quality/defective-product-form"]
    assert dpf.prefill == {"defect_form_id": "new"}
    assert dpf.fill == {"determination": "investigation.determination", "evidence": "investigation.evidence"}
    assert catalogue.forms["routing/ruling"].actions == ("case.dispute.rule", "case.dispute.record_result")


def test_a_copy_of_the_file_loads_the_same(tmp_path: Path, catalogue: Catalogue) -> None:
    assert load(tmp_path, raw()) == catalogue


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(version=2), "version 1 expected"),
    (lambda d: d["forms"].update({"Routing/memo": {"actions": ["case.memo.file"]}}), "forms.Routing/memo"),
    (lambda d: d["forms"].update({"routing_memo": {"actions": ["case.memo.file"]}}), "<service>/<segment>"),
    (lambda d: d["awaited"].update(triage=["routing/on-site-dispatch", "routing/no-such"]),
     "awaited.triage names unknown forms ['routing/no-such']"),
    (lambda d: d["optional"].append({"form": "billing/refund", "states": ["open"]}), "optional form billing/refund"),
], ids=["version", "upper-case", "no-slash", "awaited", "optional"])
def test_a_malformed_catalogue_is_refused_naming_the_entry(tmp_path: Path, change: Any, message: str) -> None:
    data = raw()
    change(data)
    with pytest.raises(ValueError) as refused:
        load(tmp_path, data)
    assert message in str(refused.value)


# --- forms_for ------------------------------------------------------------------------------------


def keys(forms: list[FormSpec]) -> list[str]:
    return [f.key for f in forms]


def test_triage_is_answered_by_a_dispatch_or_a_direct_answer(catalogue: Catalogue) -> None:
    assert keys(catalogue.forms_for("triage", "routing")) == ["routing/on-site-dispatch", "routing/direct-answer"]


def test_a_product_quality_remedy_is_recorded_at_quality(catalogue: Catalogue) -> None:
    assert keys(catalogue.forms_for("remedy", "routing", "product_quality")) == ["quality/quality-remedy", "routing/remedy"]
    assert keys(catalogue.forms_for("remedy", "routing", "staff")) == ["routing/remedy"]
    assert keys(catalogue.forms_for("remedy", "routing")) == ["routing/remedy"]


def test_an_unlisted_step_is_the_segment_at_the_sources_service(catalogue: Catalogue) -> None:
    assert keys(catalogue.forms_for("customer-reply", "routing")) == ["routing/customer-reply"]
    assert keys(catalogue.forms_for("adjudication", "quality")) == ["quality/adjudication"]
    proposal = catalogue.forms_for("proposal", f"capa:{ACTION}")
    assert keys(proposal) == ["capa/proposal"] and "{target}" in proposal[0].path


def test_a_notice_to_acknowledge_and_a_customer_to_phone(catalogue: Catalogue) -> None:
    assert keys(catalogue.forms_for("acknowledge", f"notify:{NOTICE}")) == ["notify/acknowledgement"]
    assert keys(catalogue.forms_for("phone-customer", f"notify:{NOTICE}")) == ["notify/read"]


def test_a_step_without_a_form_gives_none(catalogue: Catalogue) -> None:
    assert catalogue.forms_for("teleport", "routing") == []
    assert catalogue.forms_for("proposal", "routing") == []


#: What each source awaits (services/routing/domain/case.py `awaited_actions`; HQ's projection for quality's
#: next steps, corrective actions' and notify's notices), and the services whose forms may take it.
ROUTING_STEPS = ("triage", "on-site-determination", "cause-and-solution", "memo", "memo-dispatch",
                 "staff-investigation", "department-reply", "approval", "customer-reply", "remedy", "follow-up",
                 "closure", "inquiry-answer", "suggestion-answer", "ruling", "handler", "urgent-meeting",
                 "negotiator", "repeat-link")
QUALITY_STEPS = ("defective-product-form", "defective-product-form-approval", "defective-product-form-forwarding",
                 "product-return", "product-return-shipment", "product-receipt", "adjudication",
                 "quality-decision-approval")
CAPA_STEPS = ("proposal", "approval", "implementation", "verification")
NOTIFY_STEPS = ("acknowledge", "phone-customer")


@pytest.mark.parametrize("step", ROUTING_STEPS)
def test_every_step_routing_awaits_has_a_form(catalogue: Catalogue, step: str) -> None:
    assert catalogue.forms_for(step, "routing")
    assert catalogue.forms_for(step, "routing", "product_quality")


@pytest.mark.parametrize(("source", "step"), [
    *[pytest.param("quality", s, id=f"quality-{s}") for s in QUALITY_STEPS],
    *[pytest.param(f"capa:{ACTION}", s, id=f"capa-{s}")
      for s in CAPA_STEPS],
    *[pytest.param(f"notify:{NOTICE}", s, id=f"notify-{s}") for s in NOTIFY_STEPS],
])
def test_a_step_another_service_awaits_is_taken_at_that_service(catalogue: Catalogue, source: str,
                                                                 step: str) -> None:
    forms = catalogue.forms_for(step, source)
    assert forms
    assert {f.service for f in forms} == {source.split(":", 1)[0]}
    if ":" in source:
        assert all(f.needs_target for f in forms)


# --- resolve --------------------------------------------------------------------------------------

CONTEXT = {"role": "marketing_director", "revision": 3,
           "investigation": {"form": {"defect_form_id": "d-1"}, "product_return": {"quantity": 4}},
           "history": {"DisputeRaised": {"dispute_id": "disp-1"}}, "ledger": {"total": "12.00"}}


def test_resolve_reads_a_dotted_path_into_the_context() -> None:
    assert resolve("investigation.form.defect_form_id", CONTEXT) == "d-1"
    assert resolve("investigation.product_return.quantity", CONTEXT) == 4
    assert resolve("history.DisputeRaised.dispute_id", CONTEXT) == "disp-1"
    assert resolve("investigation.form", CONTEXT) == {"defect_form_id": "d-1"}


def test_resolve_gives_none_for_what_is_not_there() -> None:
    assert resolve("investigation.adjudication.adjudication_id", CONTEXT) is None
    assert resolve("ledger.total.cents", CONTEXT) is None         # through a value that is not a mapping
    assert resolve("history.DisputeRaised.dispute_id", {}) is None


def test_resolve_knows_role_revision_and_new() -> None:
    assert resolve("role", CONTEXT) == "marketing_director"
    assert resolve("revision", CONTEXT) == 3
    first, second = resolve("new", CONTEXT), resolve("new", CONTEXT)
    assert uuid.UUID(first).version == 4 and first != second


# --- the words ------------------------------------------------------------------------------------

MESSAGES = {"only.zh": {"zh": "只有中文"}, "only.en": {"en": "English only"}, "both": {"zh": "中", "en": "en"},
            "count": {"zh": "{n} 项", "en": "{n} items"}, "empty": {"zh": "", "en": ""}}
LABELS = {"fields": {"name": {"zh": "名称", "en": "Name"}}, "values": {"phone": {"en": "Phone"}},
          "steps": {"memo": {"zh": "内联单", "en": "Memo"}}, "states": {"closed": {"zh": "已结案", "en": "Closed"}},
          "roles": {"hq_clerk": {"zh": "营业总部文员", "en": "HQ clerk"}}}


def test_chinese_is_the_default_language() -> None:
    assert Translator(MESSAGES, LABELS, "fr").language == "zh"
    assert Translator(MESSAGES, LABELS, "fr")("both") == "中"
    assert Translator(MESSAGES, LABELS, "en")("both") == "en"


def test_a_missing_language_falls_back_to_the_other_then_to_the_key() -> None:
    en, zh = Translator(MESSAGES, LABELS, "en"), Translator(MESSAGES, LABELS, "zh")
    assert en("only.zh") == "只有中文" and zh("only.en") == "English only"
    assert en("no.such.key") == "no.such.key" and en("empty") == "empty"


def test_values_are_formatted_in() -> None:
    assert Translator(MESSAGES, LABELS, "en")("count", n=3) == "3 items"
    assert Translator(MESSAGES, LABELS, "zh")("count", n=3) == "3 项"


def test_labels_fall_back_to_the_schema_title_then_the_key() -> None:
    en = Translator(MESSAGES, LABELS, "en")
    assert en.field("name", "Title") == "Name"
    assert en.field("unknown_field", "Unknown Field") == "Unknown Field"
    assert en.field("unknown_field") == "unknown_field"
    assert Translator(MESSAGES, LABELS, "zh").value("phone") == "Phone"   # the other language
    assert en.value(3) == "3"
    assert en.step("memo") == "Memo" and en.state("closed") == "Closed" and en.role("hq_clerk") == "HQ clerk"
    assert en.state(None) == "" and en.role(None) == "" and en.label("values", None) == ""
    assert en.label("no_such_section", "x") == "x"


def test_the_real_files_read_in_both_languages() -> None:
    assert translator("en")("inbox.summary", count=3, overdue=1) == "3 steps, 1 overdue (oldest deadline first)"
    assert translator("zh")("inbox.summary", count=3, overdue=1) == "共 3 项，其中超期 1 项（按期限先后）"
    assert translator("xx").language == "zh"
    assert translator("en").step("triage") and translator("en").step("triage") != "triage"
    assert translator("en").role("hq_clerk") == "HQ clerk"


def _data(name: str) -> dict[str, Any]:
    return yaml.safe_load((HERE / name).read_text(encoding="utf-8"))


def _entries() -> list[tuple[str, str, Any]]:
    out = [("messages", k, v) for k, v in _data("messages.yaml")["messages"].items()]
    for section, entries in _data("labels.yaml").items():
        if section != "version":
            out += [(section, k, v) for k, v in entries.items()]
    return out


def test_every_message_and_label_has_chinese_and_english() -> None:
    entries = _entries()
    assert len(entries) > 300
    incomplete = [(s, k) for s, k, v in entries
                  if not isinstance(v, dict) or not all(isinstance(v.get(lang), str) and v[lang].strip()
                                                        for lang in LANGUAGES)]
    assert incomplete == []
    assert [(s, k) for s, k, _ in entries if not isinstance(k, str)] == []   # YAML's yes/no/on read as text


def test_both_languages_of_a_message_take_the_same_values() -> None:
    differing = [k for _, k, v in _entries()
                 if set(re.findall(r"{(\w+)}", v["zh"])) != set(re.findall(r"{(\w+)}", v["en"]))]
    assert differing == []


def test_every_message_the_pages_name_is_in_the_file() -> None:
    known = _data("messages.yaml")["messages"].keys()
    sources = [*(HERE / "templates").glob("*.html"), *(HERE / "entrypoints").glob("*.py")]
    named = {(m, p.name) for p in sources
             for m in re.findall(r"""\bt\(\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']""", p.read_text(encoding="utf-8"))}
    assert len(named) > 50
    assert sorted((m, p) for m, p in named if m not in known) == []


def test_labels_cover_every_role_state_deadline_branch_region_and_step(catalogue: Catalogue) -> None:
    labels = _data("labels.yaml")
    access = rules()
    assert set(access.roles) <= labels["roles"].keys()
    assert {s.value for s in CaseState} | set(QUALITY_STAGES.values()) <= labels["states"].keys()
    assert {d.value for d in DeadlineKind} <= labels["deadlines"].keys()
    assert set(access.branch_region) <= labels["branches"].keys()
    assert set(access.regions) <= labels["regions"].keys()
    steps = {f.segment for f in catalogue.forms.values()} | {k.split("@")[0] for k in catalogue.awaited}
    assert steps | set(ROUTING_STEPS) | set(QUALITY_STEPS) | set(NOTIFY_STEPS) <= labels["steps"].keys()
