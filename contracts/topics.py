"""The bus in one place: every topic's name, who reads what, and in which group.

One events topic per producing service, keyed by complaint id; intake's command topics, keyed by
command id; and a dead-letter topic per consumer, which that consumer alone writes. The services
subscribe from `CONSUMERS`, and the provisioning step (`complaints topics apply`, `complaints acls
apply`, deploy/'s KafkaTopics and KafkaUsers) makes the topics and each principal's least-privilege
ACLs from the same table, so what a service reads and what it may read cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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
#: Intake's consumer group on the commands topic.
INTAKE_COMMANDS_GROUP = "complaints-intake-commands"


class TopicKind(StrEnum):
    """What a topic holds, which decides how long it keeps it (`complaints topics apply`)."""

    EVENTS = "events"  # the history: kept for ever (a new subscriber reads from the beginning)
    DEAD_LETTERS = "dead-letters"  # kept long enough for an operator to fix the cause and redrive
    COMMANDS = "commands"  # requests and their results: kept a few days


@dataclass(frozen=True)
class Consumer:
    """One reader of events topics: a service's policy or a read model's projection."""

    #: Its name: its consumer group is `complaints-<name>`, its dead-letter topic `complaints.<name>.dlq`.
    name: str
    #: The process it runs in, whose principal it reads under (`complaints-<process>`).
    process: str
    #: The services whose events topics it reads.
    reads: tuple[ServiceName, ...]

    @property
    def group(self) -> str:
        return f"complaints-{self.name}"

    @property
    def dead_letters(self) -> str:
        return dead_letter_topic(self.name)

    @property
    def topics(self) -> list[str]:
        return [events_topic(s) for s in self.reads]


_ALL = tuple(ServiceName)

#: Every consumer of the events topics. A service's policy is named after the service.
CONSUMERS: dict[str, Consumer] = {c.name: c for c in (
    Consumer("routing", "routing", (ServiceName.INTAKE, ServiceName.QUALITY)),
    Consumer("quality", "quality", (ServiceName.ROUTING, ServiceName.QUALITY, ServiceName.ANALYTICS)),
    Consumer("billing", "billing", (ServiceName.QUALITY, ServiceName.ROUTING)),
    Consumer("notify", "notify", (ServiceName.INTAKE, ServiceName.ROUTING, ServiceName.QUALITY,
                                  ServiceName.BILLING, ServiceName.ANALYTICS)),
    Consumer("analytics", "analytics", (ServiceName.INTAKE,)),
    Consumer("analytics-read", "analytics", _ALL),
    Consumer("hq", "hq", _ALL),
)}


def consumer(name: str) -> Consumer:
    try:
        return CONSUMERS[name]
    except KeyError:
        raise LookupError(f"no consumer named {name!r} in contracts.topics.CONSUMERS "
                          f"(known: {', '.join(CONSUMERS)})") from None


def upstreams(name: str) -> list[ServiceName]:
    """The services whose events the consumer `name` reads."""
    return list(consumer(name).reads)


def topics_of(process: str) -> list[str]:
    """The topics a process needs before it can run: its own events topic (if it publishes), what its
    consumers read and their dead-letter topics, and intake's command topics."""
    topics: list[str] = []
    if process in {s.value for s in ServiceName}:
        topics.append(events_topic(ServiceName(process)))
    for c in CONSUMERS.values():
        if c.process == process:
            topics += [t for t in (*c.topics, c.dead_letters) if t not in topics]
    if process == ServiceName.INTAKE.value:
        topics += COMMAND_TOPICS
    return topics


def events_topic(service: ServiceName) -> str:
    return EVENTS_TOPICS[service]


def dead_letter_topic(consumer_name: str) -> str:
    """The dead-letter topic of a consumer: only it writes there, and redrive reads it."""
    return f"complaints.{consumer_name}.dlq"


def topic_kinds() -> dict[str, TopicKind]:
    """Every topic the system uses, with what it holds (for provisioning)."""
    kinds = {topic: TopicKind.EVENTS for topic in EVENTS_TOPICS.values()}
    kinds |= {c.dead_letters: TopicKind.DEAD_LETTERS for c in CONSUMERS.values()}
    kinds |= {topic: TopicKind.COMMANDS for topic in COMMAND_TOPICS}
    return kinds


def all_topics() -> list[str]:
    """Every topic the system uses: events, each consumer's dead letters, intake's commands and results
    (commands need no dead-letter topic: a command that cannot be read gets a refused result instead)."""
    return list(topic_kinds())


def message_key(complaint_id: object) -> bytes:
    return str(complaint_id).encode()
