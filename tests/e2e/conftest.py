"""One cluster for the whole e2e package: Apache Kafka and the five services as OS processes on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from contracts.envelope import ServiceName
from services.common.cluster import SERVICES, LocalCluster
from services.demo import samples
from tests.support import postgres
from tests.support.servers import Inbox, free_port, start_smtp


@pytest.fixture(scope="package")
def mail() -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) the cluster's notify sends its e-mail to."""
    inbox, port = Inbox(), free_port()
    controller = start_smtp(inbox, port)
    inbox.port = port  # type: ignore[attr-defined]
    yield inbox
    controller.stop()


@pytest.fixture(scope="package")
def cluster(postgres_ready: None, mail: Inbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    databases = {service: postgres.create_database(f"e2e_{service.value}") for service in SERVICES}
    workdir = tmp_path_factory.mktemp("cluster")
    env = {"NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": str(mail.port),  # type: ignore[attr-defined]
           "NOTIFY_SMTP_SENDER": "Complaints <notify@complaints.example>"}
    try:
        with LocalCluster(workdir, {s: postgres.url_for(db) for s, db in databases.items()}, env=env) as running:
            yield running
    finally:
        for db in databases.values():
            postgres.drop_database(db)


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[httpx.Client]:
    """Reads as an operator (every branch, every service); commands pass their own `headers=`."""
    with httpx.Client(timeout=15, headers=cluster.auth(**samples.OPERATOR)) as c:
        yield c


def open_quality_investigation(cluster: LocalCluster) -> dict:
    """Register a Shanghai (EAST) product-quality complaint as its clerk, have the HQ clerk dispatch the
    regional manager on site (only that routes it to quality); return the receipt once quality has
    opened the investigation."""
    from services.demo.journey import dispatch_on_site, wait_for_events
    with httpx.Client(timeout=15, headers=cluster.auth(**samples.OPERATOR)) as c:
        receipt = c.post(f"{cluster.url(ServiceName.INTAKE)}/complaints", json=samples.quality_complaint(),
                         headers=cluster.auth(**samples.CLERK))
        assert receipt.status_code == 201, receipt.text
        complaint_id = receipt.json()["complaint_id"]
        dispatch_on_site(c, cluster.url(ServiceName.ROUTING), complaint_id, cluster.auth(**samples.HQ_CLERK),
                         regional_manager=samples.MANAGER["user"])
        wait_for_events(c, cluster.url(ServiceName.QUALITY), complaint_id, "Opened")
        return receipt.json()
