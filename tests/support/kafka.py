"""Apache Kafka for the tests: the session's node, and a clean slate of topics for a test that needs one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

from aiokafka.protocol.admin import DeleteGroupsRequest

from services.common.bus import Bus
from services.common.kafkaserver import KafkaCluster, _run_async
from services.common.provision import provision_local


NON_EMPTY_GROUP = 68


def start_kafka(directory: Path, nodes: int = 1, **options: object) -> KafkaCluster:
    """A started cluster with every topic provisioned (ACLs too, when it is secured)."""
    cluster = KafkaCluster(directory, nodes, **options).start()  # type: ignore[arg-type]
    try:
        provision_local(cluster.bus, replication_factor=min(3, nodes), acls=cluster.security is not None)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def kafka(directory: Path, nodes: int = 1, **options: object) -> Iterator[KafkaCluster]:
    cluster = start_kafka(directory, nodes, **options)
    try:
        yield cluster
    finally:
        cluster.stop()


async def _delete_everything(bus: Bus) -> None:
    admin = bus.admin(request_timeout_ms=15000)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith("complaints.")]
        if topics:
            await admin.delete_topics(topics)
        # A group still has a member when a test killed its consumer (SIGKILL leaves no goodbye): the
        # broker drops the member after its session timeout, and the group can be deleted then.
        deadline = asyncio.get_running_loop().time() + 30
        for group in [g[0] for g in await admin.list_consumer_groups()]:
            while True:
                node = await admin.find_coordinator(group)
                response = await admin._send_request(DeleteGroupsRequest([group]), node)  # noqa: SLF001
                code = response.results[0][1]
                if code != NON_EMPTY_GROUP or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.5)
        for _ in range(100):  # deletion is asynchronous: wait until the names are free
            if not any(t.startswith("complaints.") for t in await admin.list_topics()):
                return
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


def fresh_topics(cluster: KafkaCluster) -> None:
    """Every complaints topic and consumer group deleted and the topics provisioned anew: a test of its own
    on the session's cluster, without the seconds a new node takes to start."""
    _run_async(_delete_everything(cluster.bus))
    provision_local(cluster.bus, replication_factor=min(3, len(cluster.nodes)))
