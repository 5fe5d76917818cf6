"""Session-wide real parts: one Apache Kafka node, and PostgreSQL databases made and dropped per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from contracts.envelope import ServiceName
from services.common.kafkaserver import KafkaCluster
from services.common.settings import ServiceSettings
from services.common.tokens import mint_token
from tests.support import postgres
from tests.support.kafka import start_kafka

#: The services the tests start hold no notice for office hours, whatever the hour (see the file).
ROUND_THE_CLOCK = Path(__file__).parent / "support" / "round_the_clock.yaml"
os.environ.setdefault("NOTIFY_CALENDAR_FILE", str(ROUND_THE_CLOCK))


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """One Kafka node for the session, every topic provisioned."""
    cluster = start_kafka(tmp_path_factory.mktemp("kafka"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def broker(kafka: KafkaCluster) -> KafkaCluster:
    return kafka


@pytest.fixture(scope="session")
def postgres_ready() -> None:
    problem = postgres.reachable()
    if problem:
        pytest.exit(f"PostgreSQL is not reachable at {postgres.ADMIN_URL}: {problem}. "
                    "Start it, or set TEST_POSTGRES_URL (see `make check-postgres`).", returncode=3)


@pytest.fixture
def new_database(postgres_ready: None) -> Iterator[Callable[[], str]]:
    """Creates empty databases on demand; drops them after the test. Returns their URLs."""
    created: list[str] = []

    def make() -> str:
        name = postgres.create_database()
        created.append(name)
        return postgres.url_for(name)

    yield make
    for name in created:
        postgres.drop_database(name)


@pytest.fixture
def settings_for(broker: KafkaCluster, tmp_path: Path) -> Callable[..., ServiceSettings]:
    def make(service: ServiceName, database_url: str | None = None, **overrides: object) -> ServiceSettings:
        cls = ServiceSettings.for_service(service)
        values = dict(kafka_bootstrap_servers=broker.bootstrap_servers, database_url=database_url,
                      data_dir=tmp_path)
        return cls(**(values | overrides))
    return make


@pytest.fixture
def client(api: FastAPI) -> Iterator[TestClient]:
    """The module's `api` (a service's app, in process, on `tmp_path`) served for one test."""
    with TestClient(api) as test_client:
        yield test_client


@pytest.fixture
def auth(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """Bearer headers for a user and role, signed with the key of the service on `tmp_path`."""
    def make(user: str, role: str, branch: str | None = None, region: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(tmp_path, user, role, branch, region)}"}
    return make
