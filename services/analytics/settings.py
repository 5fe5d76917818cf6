"""Analytics' settings: the generic service settings plus the alert rules and the calendar."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from contracts.envelope import ServiceName
from services.common.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings.for_service(ServiceName.ANALYTICS)):  # type: ignore[misc]
    """`ANALYTICS_DATABASE_URL` holds both analytics' event store (its alerts) and its read model;
    unset, SQLite files in the data dir."""

    read_database_url: str | None = Field(
        default=None, description="postgresql://... of the read model, when it is not in ANALYTICS_DATABASE_URL's "
                                  "database; unset with no database URL: analytics-read.sqlite in the data dir")
    alert_rules_file: Path | None = Field(
        default=None, description="The batch-defect alert rules (YAML); unset: services/analytics/batch_alerts.yaml")
    calendar_file: Path | None = Field(
        default=None, description="The company calendar (YAML; months and working hours); unset: "
                                  "services/common/calendar.yaml")

    @property
    def read_model_url(self) -> str | None:
        return self.read_database_url or self.database_url

    @property
    def read_model_sqlite_path(self) -> Path:
        return self.data_dir / "analytics-read.sqlite"
