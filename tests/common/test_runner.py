"""`python -m services.<name>`: `--help` lists the settings the service reads; logs are structured."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices, Field, SecretStr

from contracts.envelope import ServiceName
from services.common import runner
from services.common.logs import JsonFormatter
from services.common.runner import env_names, serve, settings_help
from services.common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_intake_help_lists_its_settings_and_exits() -> None:
    # A broken value in the environment does not stand in the way of reading the help.
    done = run("services.intake", "--help", env={"INTAKE_HTTP_PORT": "not-a-port",
                                                  "INTAKE_DATABASE_URL": "postgresql://u:hunter2@db/intake"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for name in ("INTAKE_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "COMPLAINTS_DATA_DIR", "INTAKE_HTTP_PORT",
                 "INTAKE_LOG_LEVEL", "INTAKE_RECEIVED_AT_WINDOW", "COMPLAINTS_LOG_FORMAT"):
        assert name in out
    assert "127.0.0.1:9092" in out
    assert "8001" in out  # the service's own port, not the field's placeholder 0
    assert "postgresql://user:password@host:port/dbname" in out  # the field's description
    assert "hunter2" not in out
    assert "ROUTING_" not in out


@pytest.mark.parametrize("service", ["routing", "notify"])
def test_each_service_has_help(service: str) -> None:
    done = run(f"services.{service}", "-h")
    assert done.returncode == 0, done.stderr
    assert f"{service.upper()}_DATABASE_URL" in done.stdout
    assert f"python -m services.{service}" in done.stdout


def test_an_unknown_argument_is_an_error_with_usage() -> None:
    done = run("services.intake", "--port", "9000")
    assert done.returncode == 2
    assert "usage: python -m services.intake" in done.stderr
    assert "unrecognized arguments: --port 9000" in done.stderr


class Sample(ServiceSettings.for_service(ServiceName.BILLING)):  # type: ignore[misc]
    api_token: SecretStr = Field(default=SecretStr("s3cr3t-default"), description="Token for the ledger API")
    signing_key: str = Field(default="dev-signing-key", description="Key that signs receipts")
    upstream_url: str = Field(default="https://svc:pa55word@ledger.example/api")
    region: str = Field(default="east", validation_alias=AliasChoices("LEDGER_REGION", "BILLING_REGION"))
    #: BILLING_BATCH_LIMIT: the most lines one allocation may carry.
    batch_limit: int = 50


def test_help_reads_the_fields_at_runtime_and_hides_secrets() -> None:
    text = settings_help(Sample, prog="python -m services.billing")
    assert "BILLING_API_TOKEN" in text and "Token for the ledger API" in text
    assert "BILLING_SIGNING_KEY" in text
    for secret in ("s3cr3t-default", "dev-signing-key", "pa55word"):
        assert secret not in text
    assert "https://svc:***@ledger.example/api" in text
    assert "LEDGER_REGION" in text and "BILLING_REGION" in text
    assert "the most lines one allocation may carry" in text  # from the `#:` comment above the field
    assert "8004" in text


def test_env_names_follow_prefix_and_aliases() -> None:
    assert env_names(Sample, "database_url") == ["BILLING_DATABASE_URL"]
    assert env_names(Sample, "kafka_bootstrap_servers") == ["KAFKA_BOOTSTRAP_SERVERS"]
    assert env_names(Sample, "data_dir") == ["COMPLAINTS_DATA_DIR"]
    assert env_names(Sample, "region") == ["LEDGER_REGION", "BILLING_REGION"]


def test_serve_configures_structured_logs_and_runs_the_app(monkeypatch) -> None:
    calls = {}
    monkeypatch.setattr(runner.uvicorn, "run", lambda app, **kwargs: calls.update(app=app, **kwargs))
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        serve(lambda settings: f"app for {settings.service.value}", Sample, argv=[])
        [ours] = [h for h in root.handlers if h.get_name() == "complaints"]
        assert isinstance(ours.formatter, JsonFormatter) or os.environ.get("COMPLAINTS_LOG_FORMAT") == "text"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert calls["app"] == "app for billing"
    assert calls["port"] == 8004
    assert calls["log_config"] is None  # uvicorn's records go through the structured handler


def test_a_service_waits_for_its_database_saying_which_instead_of_dying(caplog) -> None:
    from services.common.runner import build_with_retry
    from services.common.store import DatabaseUnavailable
    from services.intake.settings import IntakeSettings

    calls = {"n": 0}

    def create_app(settings):
        calls["n"] += 1
        if calls["n"] < 3:
            raise DatabaseUnavailable("PostgreSQL at 127.0.0.1:1 (database intake) is not reachable")
        return "the app"

    assert build_with_retry(create_app, IntakeSettings(), pause=0.01) == "the app"
    assert calls["n"] == 3
    assert sum("127.0.0.1:1 (database intake) is not reachable; retrying" in r.getMessage()
               for r in caplog.records) == 2


def test_an_unreachable_database_is_named_with_how_to_fix_it() -> None:
    import pytest

    from services.common.store import DatabaseUnavailable, ensure_postgres_database
    with pytest.raises(DatabaseUnavailable) as caught:
        ensure_postgres_database("postgresql://postgres@127.0.0.1:1/complaints_intake")
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "complaints_intake" in message and "DATABASE_URL" in message
