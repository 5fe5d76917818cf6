"""HQ's settings: where its read model lives, the broker, its HTTP port (`HQ_*`)."""

from __future__ import annotations

from services.common.settings import ReadSide, ServiceSettings


class HqSettings(ServiceSettings.for_service(ReadSide.HQ)):  # type: ignore[misc]
    """`HQ_DATABASE_URL` (PostgreSQL) or, unset, `hq.sqlite` in the data dir; `HQ_HTTP_PORT` (8006)."""
