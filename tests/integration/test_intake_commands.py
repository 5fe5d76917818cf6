"""Registrations straight onto Kafka: intake consumes `complaints.intake.commands` and answers each
command on `complaints.intake.command-results`, against Apache Kafka and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from contracts.envelope import ServiceName
from contracts.registration import RegisterComplaint
from contracts.topics import INTAKE_COMMAND_RESULTS_TOPIC, INTAKE_COMMANDS_TOPIC
from services.demo import samples
from services.intake.bootstrap import create_app
from tests.integration.conftest import eventually, read_topic

pytestmark = pytest.mark.integration

ACTOR = {"user_id": "branch-system-sh01", "role": "branch_clerk", "branch": "SH01"}


def command(**overrides) -> dict:
    body = samples.quality_complaint(branch="SH01") | {"actor": ACTOR, "command_type": "RegisterComplaint",
                                                        "schema_version": 1,
                                                        "issued_at": "2026-01-01T00:00:00+00:00"}
    return body | overrides


async def send(producer, value: bytes | dict, key: str | None = None) -> None:
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    await producer.send_and_wait(INTAKE_COMMANDS_TOPIC, value=raw, key=key.encode() if key else None)


def results_of(records) -> dict[str, list[dict]]:
    by_id: dict[str, list[dict]] = {}
    for r in records:
        by_id.setdefault(r.key.decode(), []).append(json.loads(r.value))
    return by_id


async def test_commands_on_kafka_register_once_and_refusals_name_the_field(pg_settings, producer, broker):
    api = create_app(pg_settings(ServiceName.INTAKE))
    runtime = api.state.runtime
    await runtime.start()
    try:
        good, twice, bad_branch, missing, not_json_id, after = (command() for _ in range(6))
        RegisterComplaint.model_validate(good)  # the sample is a valid command
        bad_branch |= {"branch": "XX99", "actor": ACTOR | {"branch": "XX99"}}
        del missing["customer"]
        other_branch = command(actor=ACTOR | {"branch": "BJ02"})
        await send(producer, good, good["command_id"])
        await send(producer, twice, twice["command_id"])
        await send(producer, twice, twice["command_id"])
        await send(producer, bad_branch, bad_branch["command_id"])
        await send(producer, missing, missing["command_id"])
        await send(producer, b"{not json", not_json_id["command_id"])
        await send(producer, b"\xff\xfe garbage without any id")
        await send(producer, other_branch, other_branch["command_id"])
        await send(producer, after, after["command_id"])  # the consumer went on

        records = await read_topic(broker.bootstrap_servers, INTAKE_COMMAND_RESULTS_TOPIC, expected=8, timeout=40)
        results = results_of(records)

        [registered] = results[good["command_id"]]
        assert registered["outcome"] == "registered" and registered["state"] == "registered"
        assert registered["form_number"].startswith("SH01-")
        # The same command twice: one complaint, two identical results (the relay's and the repeat's).
        first, second = results[twice["command_id"]]
        assert first == second and first["outcome"] == "registered"

        [refused] = results[bad_branch["command_id"]]
        assert (refused["outcome"], refused["field"], refused["status"]) == ("refused", "branch", 422)
        [refused] = results[missing["command_id"]]
        assert (refused["outcome"], refused["field"]) == ("refused", "customer")
        [refused] = results[not_json_id["command_id"]]
        assert refused["outcome"] == "refused" and "JSON" in refused["reason"]
        [refused] = results[other_branch["command_id"]]
        assert (refused["field"], refused["status"]) == ("branch", 403)
        [registered] = results[after["command_id"]]
        assert registered["outcome"] == "registered"

        def complaints() -> int:
            return sum(1 for n in runtime.app.recorder.select_notifications(1, 1000)
                       if n.topic.endswith("ComplaintRegistration.Registered"))
        assert await eventually(lambda: complaints() == 3, what="three registrations")
        report = runtime.parts.reports[0][1]()
        assert report["skipped"] == 1 and report["refused"] == 4
    finally:
        await runtime.stop()
