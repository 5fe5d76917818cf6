"""Provisioning the bus: topics with their replication and retention, and each principal's ACLs.

Topics are infrastructure (architecture rule 7): made here, by an explicit step, never by a service at
start. A service that finds one of its topics missing says so in its health and waits.

    complaints topics apply [--watch SECONDS]   # create what is missing, align retention, report drift
    complaints topics check                     # what is missing or differs, exit 1 if anything
    complaints acls apply [--prune]             # each principal's least-privilege ACLs

Both read `contracts.topics` (the topics, who reads what, in which group) and the settings below. Run
them as a principal allowed to create topics and ACLs (the cluster's admin, or Strimzi's operators in
deploy/, which apply the same table as KafkaTopics and KafkaUsers). With `--watch`, `topics apply`
keeps reconciling, as a topic operator does: after the cluster lost its data, the topics are back
within the interval and the relays republish into them with no one at a keyboard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Annotated, Any

from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest
from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from contracts.envelope import ServiceName
from contracts.topics import (
    CONSUMERS, INTAKE_COMMAND_RESULTS_TOPIC, INTAKE_COMMANDS_GROUP, INTAKE_COMMANDS_TOPIC,
    PARTITIONS, TopicKind, events_topic, topic_kinds,
)
from services.common.bus import Bus
from services.common.settings import BusSettings

log = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
#: The processes that run under a principal of their own: every service and the read side's HQ.
PROCESSES = sorted({*(s.value for s in ServiceName), *(c.process for c in CONSUMERS.values())})


def principal_of(process: str) -> str:
    """The SCRAM user (or certificate CN) a process runs as: `complaints-<process>`."""
    return f"complaints-{process}"


class ProvisionSettings(BusSettings):
    """How topics are made; read by the provisioning commands only (never by a service)."""

    replication_factor: int = Field(
        default=1, ge=1, validation_alias="KAFKA_TOPIC_REPLICATION_FACTOR",
        description="Replicas of every topic's partitions: 3 on a production cluster, 1 on the single dev node")
    min_insync_replicas: int = Field(
        default=1, ge=1, validation_alias="KAFKA_TOPIC_MIN_INSYNC_REPLICAS",
        description="Replicas that must have a message before it counts as written (acks=all): 2 of 3")
    dead_letter_retention_days: int = Field(
        default=90, ge=1, validation_alias="KAFKA_DEAD_LETTER_RETENTION_DAYS",
        description="How long dead letters wait for an operator to fix their cause and redrive them")
    command_retention_days: int = Field(
        default=7, ge=1, validation_alias="KAFKA_COMMAND_RETENTION_DAYS",
        description="How long intake's command and result topics keep a message")
    branch_principals: Annotated[list[str], NoDecode] = Field(
        default=["complaints-branch"], validation_alias="KAFKA_BRANCH_PRINCIPALS",
        description="Users of branch systems (comma-separated): write commands, read results")
    subscriber_principals: Annotated[list[str], NoDecode] = Field(
        default=["complaints-subscriber"], validation_alias="KAFKA_SUBSCRIBER_PRINCIPALS",
        description="Users of analytics subscribers (comma-separated): read the events topics, in consumer "
                    "groups whose names start with the user's name")
    operator_principals: Annotated[list[str], NoDecode] = Field(
        default=["complaints-operator"], validation_alias="KAFKA_OPERATOR_PRINCIPALS",
        description="Users of the operations command (replay, check, redrive): read every topic")

    @field_validator("branch_principals", "subscriber_principals", "operator_principals", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def model_post_init(self, _context: object) -> None:
        if self.min_insync_replicas > self.replication_factor:
            raise ValueError(f"KAFKA_TOPIC_MIN_INSYNC_REPLICAS: {self.min_insync_replicas} is more than the "
                             f"replication factor {self.replication_factor}: nothing could be written")


# --- topics -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicPlan:
    name: str
    kind: TopicKind
    partitions: int
    replication_factor: int
    configs: dict[str, str]


def topic_configs(kind: TopicKind, settings: ProvisionSettings) -> dict[str, str]:
    """What each kind of topic keeps, and how many replicas must have a message."""
    retention = {TopicKind.EVENTS: -1, TopicKind.DEAD_LETTERS: settings.dead_letter_retention_days * DAY_MS,
                 TopicKind.COMMANDS: settings.command_retention_days * DAY_MS}[kind]
    return {"cleanup.policy": "delete", "retention.ms": str(retention), "retention.bytes": "-1",
            "min.insync.replicas": str(settings.min_insync_replicas)}


def plan_topics(settings: ProvisionSettings) -> list[TopicPlan]:
    return [TopicPlan(name, kind, PARTITIONS, settings.replication_factor, topic_configs(kind, settings))
            for name, kind in topic_kinds().items()]


@dataclass
class TopicReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: What provisioning cannot fix by itself (a partition count, a replication factor): for an operator.
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"created {t}" for t in self.created] + [f"updated {t}" for t in self.updated]
        out.append(f"{len(self.unchanged)} topic(s) already as planned")
        return out + [f"PROBLEM: {p}" for p in self.problems]


async def apply_topics(bus: Bus, plans: list[TopicPlan]) -> TopicReport:
    """Create what is missing; set the retention and min.insync.replicas of what exists; report a partition
    count or replication factor that differs (changing either is an operator's decision)."""
    report = TopicReport()
    admin = bus.admin(request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [p for p in plans if p.name not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(p.name, p.partitions, p.replication_factor, topic_configs=p.configs) for p in missing])
            for topic, code, message in response.topic_errors:
                if code == 0:
                    report.created.append(topic)
                elif code == 36:  # created meanwhile (another provisioner)
                    existing.add(topic)
                else:
                    report.problems.append(f"could not create {topic}: error {code} {message}")
        present = [p for p in plans if p.name in existing]
        if present:
            described = {d["topic"]: d for d in await admin.describe_topics([p.name for p in present])}
            configs = await _current_configs(admin, [p.name for p in present])
            to_alter: list[TopicPlan] = []
            for plan in present:
                partitions = described.get(plan.name, {}).get("partitions", [])
                if len(partitions) != plan.partitions:
                    report.problems.append(
                        f"{plan.name} has {len(partitions)} partitions, the contract says {plan.partitions}: "
                        "positions are tracked per partition, so this must be fixed before the services run")
                replicas = {len(p["replicas"]) for p in partitions}
                if replicas and replicas != {plan.replication_factor}:
                    report.problems.append(
                        f"{plan.name} has replication factor {sorted(replicas)}, the settings say "
                        f"{plan.replication_factor}: reassign its partitions (kafka-reassign-partitions)")
                current = configs.get(plan.name, {})
                if any(current.get(k) != v for k, v in plan.configs.items()):
                    to_alter.append(plan)
                else:
                    report.unchanged.append(plan.name)
            if to_alter:
                # AlterConfigs replaces a topic's dynamic configs as a whole: the plan is the whole of them.
                await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, p.name, p.configs)
                                           for p in to_alter])
                report.updated += [p.name for p in to_alter]
    finally:
        await admin.close()
    return report


async def _current_configs(admin: Any, topics: list[str]) -> dict[str, dict[str, str]]:
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
    out: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            _code, _message, _type, name, entries = resource[:5]
            out[name] = {entry[0]: entry[1] for entry in entries}
    return out


async def missing_topics(bus: Bus, topics: list[str], admin: Any = None) -> list[str]:
    """Which of `topics` the cluster does not have (or does not show this principal), or has with another
    partition count than the contract's: each named with what to do."""
    own = admin is None
    admin = admin or bus.admin(request_timeout_ms=5000)
    if own:
        await admin.start()
    try:
        existing = set(await admin.list_topics())
        problems = [f"topic {t} is missing: provision it with `complaints topics apply`"
                    for t in topics if t not in existing]
        present = [t for t in topics if t in existing]
        if present:
            for item in await admin.describe_topics(present):
                count = len(item.get("partitions") or [])
                if count and count != PARTITIONS:
                    problems.append(f"topic {item['topic']} has {count} partitions, the contract says {PARTITIONS}; "
                                    "positions are tracked per partition, so this must be fixed first")
        return problems
    finally:
        if own:
            await admin.close()


# --- ACLs -------------------------------------------------------------------------------------------------


class Resource(IntEnum):
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class Pattern(IntEnum):
    ANY = 1
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    ANY = 1
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8


ALLOW = 3
ANY = 1


@dataclass(frozen=True, order=True)
class Acl:
    principal: str  # "User:<name>"
    resource: Resource
    name: str
    operation: Operation
    pattern: Pattern = Pattern.LITERAL

    def describe(self) -> str:
        pattern = "prefix " if self.pattern is Pattern.PREFIXED else ""
        return f"{self.principal} may {self.operation.name} {self.resource.name.lower()} {pattern}{self.name}"


def _topic(principal: str, topic: str, *operations: Operation) -> list[Acl]:
    return [Acl(f"User:{principal}", Resource.TOPIC, topic, op) for op in operations]


def plan_acls(settings: ProvisionSettings) -> list[Acl]:
    """Least privilege, from the bus's table: a service writes its own events topic and its consumers'
    dead-letter topics, reads its upstreams in its own groups; branch systems write commands and read
    results; subscribers read events; operators read every topic, in no group."""
    read, write, describe = Operation.READ, Operation.WRITE, Operation.DESCRIBE
    acls: set[Acl] = set()
    for service in ServiceName:
        # The relay writes the topic, and reads back the last message of each partition (loss check).
        acls.update(_topic(principal_of(service.value), events_topic(service), write, read, describe))
    for c in CONSUMERS.values():
        principal = principal_of(c.process)
        for topic in c.topics:
            acls.update(_topic(principal, topic, read, describe))
        acls.add(Acl(f"User:{principal}", Resource.GROUP, c.group, read))
        acls.update(_topic(principal, c.dead_letters, write, describe))
    intake = principal_of(ServiceName.INTAKE.value)
    acls.update(_topic(intake, INTAKE_COMMANDS_TOPIC, read, describe))
    acls.add(Acl(f"User:{intake}", Resource.GROUP, INTAKE_COMMANDS_GROUP, read))
    acls.update(_topic(intake, INTAKE_COMMAND_RESULTS_TOPIC, write, describe))
    for branch in settings.branch_principals:
        acls.update(_topic(branch, INTAKE_COMMANDS_TOPIC, write, describe))
        acls.update(_topic(branch, INTAKE_COMMAND_RESULTS_TOPIC, read, describe))
        acls.add(Acl(f"User:{branch}", Resource.GROUP, branch, read, Pattern.PREFIXED))
    for subscriber in settings.subscriber_principals:
        for service in ServiceName:
            acls.update(_topic(subscriber, events_topic(service), read, describe))
        acls.add(Acl(f"User:{subscriber}", Resource.GROUP, subscriber, read, Pattern.PREFIXED))
    for operator in settings.operator_principals:
        for topic in topic_kinds():
            acls.update(_topic(operator, topic, read, describe))
    return sorted(acls)


def managed_principals(settings: ProvisionSettings) -> list[str]:
    return [f"User:{p}" for p in (*[principal_of(p) for p in PROCESSES], *settings.branch_principals,
                                  *settings.subscriber_principals, *settings.operator_principals)]


@dataclass
class AclReport:
    created: list[Acl] = field(default_factory=list)
    removed: list[Acl] = field(default_factory=list)
    unchanged: int = 0

    def lines(self) -> list[str]:
        return ([f"granted: {a.describe()}" for a in self.created] + [f"revoked: {a.describe()}" for a in self.removed]
                + [f"{self.unchanged} ACL(s) already in place"])


async def current_acls(bus: Bus, principals: list[str]) -> set[Acl]:
    admin = bus.admin(request_timeout_ms=15000)
    await admin.start()
    try:
        return await _describe(admin, principals)
    finally:
        await admin.close()


async def _describe(admin: Any, principals: list[str]) -> set[Acl]:
    found: set[Acl] = set()
    for principal in principals:
        response = await admin._send_request(DescribeAclsRequest(  # noqa: SLF001 - aiokafka has no ACL API yet
            ANY, None, Pattern.ANY, principal, None, ANY, ANY))
        _raise_for(response.error_code, response.error_message, f"describing the ACLs of {principal}")
        for resource_type, name, pattern, entries in response.resources:
            for entry_principal, _host, operation, permission in entries:
                if permission == ALLOW and resource_type in Resource._value2member_map_ \
                        and operation in Operation._value2member_map_ and pattern in Pattern._value2member_map_:
                    found.add(Acl(entry_principal, Resource(resource_type), name, Operation(operation),
                                  Pattern(pattern)))
    return found


async def apply_acls(bus: Bus, settings: ProvisionSettings, prune: bool = False) -> AclReport:
    """Grant every planned ACL that is missing; with `prune`, revoke those of the managed principals that
    the plan no longer has (a service that stopped reading a topic loses the right to)."""
    planned = set(plan_acls(settings))
    report = AclReport()
    admin = bus.admin(request_timeout_ms=15000)
    await admin.start()
    try:
        existing = await _describe(admin, managed_principals(settings))
        missing = sorted(planned - existing)
        responses = await asyncio.gather(*(admin._send_request(CreateAclsRequest(  # noqa: SLF001
            acl.resource, acl.name, acl.pattern, acl.principal, "*", acl.operation, ALLOW)) for acl in missing))
        for acl, response in zip(missing, responses, strict=True):
            for code, message in response.creation_responses:
                _raise_for(code, message, f"granting {acl.describe()}")
            report.created.append(acl)
        report.unchanged = len(planned & existing)
        if prune:
            for acl in sorted(existing - planned):
                response = await admin._send_request(DeleteAclsRequest(  # noqa: SLF001
                    acl.resource, acl.name, acl.pattern, acl.principal, "*", acl.operation, ALLOW))
                for code, message, _matches in response.filter_responses:
                    _raise_for(code, message, f"revoking {acl.describe()}")
                report.removed.append(acl)
    finally:
        await admin.close()
    return report


def _raise_for(code: int, message: str | None, what: str) -> None:
    if code:
        raise RuntimeError(f"{what} failed: error {code} {message or ''}".strip())


# --- the whole step ---------------------------------------------------------------------------------------


async def provision(bus: Bus, settings: ProvisionSettings, acls: bool = False) -> list[str]:
    """Topics, and ACLs when asked; the report's lines. Raises when a topic could not be made as planned."""
    topics = await apply_topics(bus, plan_topics(settings))
    lines = topics.lines()
    if acls:
        lines += (await apply_acls(bus, settings)).lines()
    return lines


def provision_local(bus: Bus, replication_factor: int = 1, acls: bool = False) -> list[str]:
    """Provision a cluster this machine runs (the dev node, the tests' clusters), from synchronous code."""
    from services.common.kafkaserver import _run_async
    settings = ProvisionSettings(replication_factor=replication_factor,
                                 min_insync_replicas=min(2, replication_factor))
    return _run_async(provision(bus, settings, acls))  # type: ignore[no-any-return]


async def watch(bus: Bus, settings: ProvisionSettings, interval: float, acls: bool = False,
                report: Callable[[str], None] = print) -> None:
    """Reconcile for ever, every `interval` seconds (what a topic operator does); errors are reported and
    tried again."""
    while True:
        try:
            lines = await provision(bus, settings, acls)
            for line in lines:
                if not line.endswith("already as planned") and not line.endswith("already in place"):
                    report(line)
        except Exception as e:  # noqa: BLE001 - the cluster may be away: try again next round
            report(f"provisioning failed, trying again in {interval:.0f}s: {type(e).__name__}: {e}")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.sleep(interval)
