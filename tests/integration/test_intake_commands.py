"""Registrations straight onto Kafka: intake consumes `complaints.intake.commands` and answers each
command on `complaints.intake.command-results`, against Apache Kafka and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from contracts.envelope import ServiceName
from contracts.topics import INTAKE_COMMAND_RESULTS_TOPIC, INTAKE_COMMANDS_TOPIC
from services.common.tokens import mint_token
from services.demo import samples
from services.intake.bootstrap import create_app
from tests.integration.conftest import eventually, read_topic

pytestmark = pytest.mark.integration

ACTOR = {"user_id": "branch-system-sh01", "role": "branch_clerk", "branch": "SH01"}


def command(**overrides) -> dict:
    """A registration command as a branch system sends it: the form and its command id. Who sends it is
    the signed token in the message's `authorization` header, never the body."""
    body = samples.quality_complaint(branch="SH01") | {"command_type": "RegisterComplaint", "schema_version": 1,
                                                        "issued_at": "2026-01-01T00:00:00+00:00"}
    return body | overrides


def bearer(data_dir, user: str = "branch-system-sh01", role: str = "branch_clerk", branch: str | None = "SH01",
           **options) -> str:
    return f"Bearer {mint_token(data_dir, user, role, branch, None, **options)}"


async def send(producer, value: bytes | dict, key: str | None = None, token: str | None = None) -> None:
    raw = json.dumps(value).encode() if isinstance(value, dict) else value
    headers = [("authorization", token.encode())] if token else None
    await producer.send_and_wait(INTAKE_COMMANDS_TOPIC, value=raw, key=key.encode() if key else None,
                                 headers=headers)


def results_of(records) -> dict[str, list[dict]]:
    by_id: dict[str, list[dict]] = {}
    for r in records:
        by_id.setdefault(r.key.decode(), []).append(json.loads(r.value))
    return by_id


async def test_commands_on_kafka_register_once_and_refusals_name_the_field(pg_settings, producer, broker):
    settings = pg_settings(ServiceName.INTAKE)
    api = create_app(settings)
    runtime = api.state.runtime
    token = bearer(settings.data_dir)
    await runtime.start()
    try:
        good, twice, bad_branch, missing, not_json_id, after = (command() for _ in range(6))
        bad_branch |= {"branch": "XX99"}
        del missing["customer"]
        await send(producer, good, good["command_id"], token)
        await send(producer, twice, twice["command_id"], token)
        await send(producer, twice, twice["command_id"], token)
        await send(producer, bad_branch, bad_branch["command_id"], bearer(settings.data_dir, role="hq_clerk",
                                                                          branch=None))
        await send(producer, missing, missing["command_id"], token)
        await send(producer, b"{not json", not_json_id["command_id"], token)
        await send(producer, b"\xff\xfe garbage without any id", None, token)
        await send(producer, after, after["command_id"], token)  # the consumer went on

        records = await read_topic(broker.bootstrap_servers, INTAKE_COMMAND_RESULTS_TOPIC, expected=7, timeout=40)
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
        [registered] = results[after["command_id"]]
        assert registered["outcome"] == "registered"

        def complaints() -> int:
            return sum(1 for n in runtime.app.recorder.select_notifications(1, 1000)
                       if n.topic.endswith("ComplaintRegistration.Registered"))
        assert await eventually(lambda: complaints() == 3, what="three registrations")
        report = runtime.parts.reports[0][1]()
        assert report["skipped"] == 1 and report["refused"] == 3
    finally:
        await runtime.stop()


async def test_a_command_is_from_whoever_signed_its_token_never_from_its_body(pg_settings, producer, broker):
    """Architecture rule 11 on the commands topic (issue 20): the actor in a command's body was trusted, so
    anyone who could write the topic registered complaints as any branch. A command now carries the branch
    system's signed token in its `authorization` header, verified as over HTTP: a command for another
    branch than the token's, a body naming another actor, no token, or a token that does not verify, is
    refused with its reason on the results topic, and nothing is stored."""
    settings = pg_settings(ServiceName.INTAKE)
    api = create_app(settings)
    runtime = api.state.runtime
    sh01 = bearer(settings.data_dir)
    await runtime.start()
    try:
        other_branch, claims_actor, no_token, expired, foreign, good = (command() for _ in range(6))
        other_branch |= {"branch": "BJ02"}
        claims_actor |= {"actor": ACTOR | {"branch": "BJ02", "user_id": "someone-else"}}
        await send(producer, other_branch, other_branch["command_id"], sh01)
        await send(producer, claims_actor, claims_actor["command_id"], sh01)
        await send(producer, no_token, no_token["command_id"])
        await send(producer, expired, expired["command_id"],
                   bearer(settings.data_dir, now=datetime.now(timezone.utc) - timedelta(days=1)))
        await send(producer, foreign, foreign["command_id"], bearer(settings.data_dir.parent / "elsewhere"))
        await send(producer, good, good["command_id"], sh01)

        records = await read_topic(broker.bootstrap_servers, INTAKE_COMMAND_RESULTS_TOPIC, expected=6, timeout=40)
        results = results_of(records)
        [refused] = results[other_branch["command_id"]]
        assert (refused["outcome"], refused["field"], refused["status"]) == ("refused", "branch", 403)
        assert "BJ02" in refused["reason"]
        [refused] = results[claims_actor["command_id"]]
        assert (refused["outcome"], refused["field"], refused["status"]) == ("refused", "actor", 422)
        for unsigned in (no_token, expired, foreign):
            [refused] = results[unsigned["command_id"]]
            assert (refused["outcome"], refused["field"], refused["status"]) == ("refused", "authorization", 401)
        assert "token" in results[no_token["command_id"]][0]["reason"]
        assert "expired" in results[expired["command_id"]][0]["reason"]
        [registered] = results[good["command_id"]]
        assert registered["outcome"] == "registered" and registered["form_number"].startswith("SH01-")

        stored = [n for n in runtime.app.recorder.select_notifications(1, 1000)
                  if n.topic.endswith("ComplaintRegistration.Registered")]
        assert len(stored) == 1, "only the signed command for the token's own branch stored anything"
    finally:
        await runtime.stop()
