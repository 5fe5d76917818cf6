"""Every topic name, in one place: one events topic per producing service, keyed by complaint id,
and intake's command topics, keyed by command id."""

from __future__ import annotations

from contracts.envelope import ServiceName

#: Partitions per topic. Part of the contract: keys map to partitions by this number, and
#: consumers track positions per partition, so it must not change once a topic holds data.
PARTITIONS = 4

EVENTS_TOPICS: dict[ServiceName, str] = {
    service: f"complaints.{service.value}.events" for service in ServiceName
}


#: Branch systems publish `RegisterComplaint` commands here (keyed by command id); intake consumes them.
INTAKE_COMMANDS_TOPIC = "complaints.intake.commands"
#: Intake publishes each command's `RegistrationCommandResult` here, keyed by the command id.
INTAKE_COMMAND_RESULTS_TOPIC = "complaints.intake.command-results"
COMMAND_TOPICS = [INTAKE_COMMANDS_TOPIC, INTAKE_COMMAND_RESULTS_TOPIC]


def events_topic(service: ServiceName) -> str:
    return EVENTS_TOPICS[service]


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def all_topics() -> list[str]:
    """Every topic the system uses, dead-letter topics and the command topics included (to create
    them up front). Commands need no dead-letter topic: a command that cannot be read gets a
    refused result instead."""
    topics = list(EVENTS_TOPICS.values())
    return topics + [dead_letter_topic(t) for t in topics] + COMMAND_TOPICS


def message_key(complaint_id: object) -> bytes:
    return str(complaint_id).encode()
