"""Every event and command: shape rules, and a lossless JSON round trip through the registry."""

from __future__ import annotations

import json
import typing

import pytest

from contracts import analytics, billing, corrective, notify, quality, registration, routing
from contracts.envelope import CommandEnvelope, Envelope, ServiceName
from contracts.registry import (
    COMMAND_CLASSES, COMMAND_TYPES, EVENT_CLASSES, EVENT_TYPES, parse_command, parse_event,
    serialize_command, serialize_event,
)

MODULES_OF = {
    ServiceName.INTAKE: {registration}, ServiceName.ROUTING: {routing},
    ServiceName.QUALITY: {quality, corrective}, ServiceName.BILLING: {billing}, ServiceName.NOTIFY: {notify},
    ServiceName.ANALYTICS: {analytics},
}


def _ids(classes: list[type]) -> list[str]:
    return [c.__name__ for c in classes]


def test_registry_holds_the_whole_procedure() -> None:
    expected_events = {
        "ComplaintRegistered", "MinorComplaintClosedAtIntake", "ReadBackConfirmed", "InquiryAnswered",
        "RegistrationCorrected", "ComplaintClassified", "InternalMemoFiled", "InternalMemoDispatched",
        "DepartmentReplyReceived", "ReplyApproved", "SeriousComplaintEscalated", "DeadlineSet",
        "DeadlineMissed", "OverdueHandlingEscalated", "CustomerReplied", "DisputeRaised", "DisputeRuled",
        "ComplaintClosed", "SatisfactionFollowUpRecorded", "EvidenceAdded", "DefectiveProductFormFiled",
        "DefectiveProductFormApproved", "DefectiveProductFormForwarded", "ProductReturnRequested",
        "ProductReceived", "QualityAdjudicationRecorded", "QualityDecisionApproved",
        "CorrectiveActionRaised", "CorrectiveActionProposed", "CorrectiveActionApproved",
        "CorrectiveActionImplemented", "CorrectiveActionVerified", "CorrectiveActionReopened",
        "CorrectiveActionSuperseded",
        "ExceptionReportIssued", "ExceptionReportAnswered", "CostRecorded", "SalespersonPenaltyCharged", "CostAllocationRevised",
        "NotificationDelivered", "NotificationDeliveryFailed", "ReceiptAcknowledged", "NotificationAcknowledgementOverdue",
        "BatchDefectAlertRaised",
    }
    expected_commands = {
        "RegisterComplaint", "FileInternalMemo", "ApproveReply", "RaiseDispute", "CloseComplaint",
        "RecordOnSiteDetermination", "ChargeSalespersonPenalty",
    }
    assert expected_events <= set(EVENT_TYPES), expected_events - set(EVENT_TYPES)
    assert expected_commands <= set(COMMAND_TYPES), expected_commands - set(COMMAND_TYPES)


def test_every_message_has_a_sample(sampled_event_types: set[str], sampled_command_types: set[str]) -> None:
    assert sampled_event_types == set(EVENT_TYPES)
    assert sampled_command_types == set(COMMAND_TYPES)


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=_ids(EVENT_CLASSES))
def test_event_shape(cls: type[Envelope]) -> None:
    assert isinstance(cls.PRODUCER, ServiceName)
    assert cls.__module__ in {m.__name__ for m in MODULES_OF[cls.PRODUCER]}, "an event lives in its producer's modules"
    event_type = cls.model_fields["event_type"]
    assert typing.get_origin(event_type.annotation) is typing.Literal
    assert typing.get_args(event_type.annotation) == (cls.__name__,)
    assert event_type.default == cls.__name__
    version = cls.model_fields["schema_version"]
    assert typing.get_origin(version.annotation) is typing.Literal
    assert isinstance(version.default, int) and version.default >= 1
    assert cls.model_config.get("frozen") and cls.model_config.get("extra") == "forbid"


@pytest.mark.parametrize("cls", COMMAND_CLASSES, ids=_ids(COMMAND_CLASSES))
def test_command_shape(cls: type[CommandEnvelope]) -> None:
    command_type = cls.model_fields["command_type"]
    assert typing.get_args(command_type.annotation) == (cls.__name__,)
    assert command_type.default == cls.__name__
    assert cls.model_fields["schema_version"].default >= 1
    if cls is not registration.RegisterComplaint:
        assert cls.model_fields["complaint_id"].is_required(), "a command targets an existing complaint"


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=_ids(EVENT_CLASSES))
def test_event_round_trip(cls: type[Envelope], make_event, event_json) -> None:
    event = make_event(cls)
    raw = serialize_event(event)
    parsed = parse_event(raw)
    assert type(parsed) is cls
    assert parsed == event
    assert serialize_event(parsed) == raw
    # the same from already-decoded JSON, and from the factory's JSON-ready data
    assert parse_event(json.loads(raw)) == event
    assert parse_event(json.dumps(event_json(cls))) == event
    assert event.producer is cls.PRODUCER


@pytest.mark.parametrize("cls", COMMAND_CLASSES, ids=_ids(COMMAND_CLASSES))
def test_command_round_trip(cls: type[CommandEnvelope], make_command) -> None:
    command = make_command(cls)
    raw = serialize_command(command)
    parsed = parse_command(raw)
    assert type(parsed) is cls
    assert parsed == command
    assert serialize_command(parsed) == raw


def test_money_is_a_decimal_string_in_json(make_event) -> None:
    event = make_event(billing.CostRecorded)
    assert json.loads(serialize_event(event))["amount"] == "380.00"
    assert str(event.amount) == "380.00"


def test_commands_default_their_id_and_time(command_json) -> None:
    data = command_json(routing.CloseComplaint)
    del data["command_id"], data["issued_at"]
    command = parse_command(data)
    assert command.command_id is not None
    assert command.issued_at.tzinfo is not None
