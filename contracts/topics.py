"""Every topic name, in one place: one topic per producing service, keyed by complaint id."""

from __future__ import annotations

from contracts.envelope import ServiceName

#: Partitions per topic. Part of the contract: keys map to partitions by this number, and
#: consumers track positions per partition, so it must not change once a topic holds data.
PARTITIONS = 4

EVENTS_TOPICS: dict[ServiceName, str] = {
    service: f"complaints.{service.value}.events" for service in ServiceName
}


def events_topic(service: ServiceName) -> str:
    return EVENTS_TOPICS[service]


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def all_topics() -> list[str]:
    """Every topic the system uses, dead-letter topics included (to create them up front)."""
    topics = list(EVENTS_TOPICS.values())
    return topics + [dead_letter_topic(t) for t in topics]


def message_key(complaint_id: object) -> bytes:
    return str(complaint_id).encode()
