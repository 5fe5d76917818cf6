"""Quality's settings: the generic service settings plus where evidence (photos, scans) is kept.

Evidence goes to S3-compatible storage when an endpoint and a bucket are set, else to a directory
(by default `quality-evidence` beside quality's SQLite store in the data dir).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from contracts.envelope import ServiceName
from services.common.evidence import DEFAULT_MAX_BYTES
from services.common.settings import ServiceSettings


class QualitySettings(ServiceSettings.for_service(ServiceName.QUALITY)):  # type: ignore[misc]
    #: QUALITY_EVIDENCE_DIR: the directory store's root (unset: `<data_dir>/quality-evidence`).
    evidence_dir: Path | None = Field(default=None, description="Where uploaded photos and scans are kept "
                                                                "(unset: quality-evidence in the data dir)")
    #: QUALITY_EVIDENCE_MAX_BYTES: the largest photo or scan accepted (default 20 MiB).
    evidence_max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1024)
    #: QUALITY_EVIDENCE_S3_ENDPOINT and QUALITY_EVIDENCE_S3_BUCKET: both set, evidence goes to S3-compatible storage.
    evidence_s3_endpoint: str | None = Field(default=None, description="e.g. https://s3.example.com")
    evidence_s3_bucket: str | None = None
    #: QUALITY_EVIDENCE_S3_REGION (default us-east-1).
    evidence_s3_region: str | None = None
    #: QUALITY_EVIDENCE_S3_ACCESS_KEY_ID / QUALITY_EVIDENCE_S3_SECRET_ACCESS_KEY (unset: boto3's own lookup).
    evidence_s3_access_key_id: str | None = None
    evidence_s3_secret_access_key: SecretStr | None = None

    @property
    def evidence_root(self) -> Path:
        return self.evidence_dir or self.data_dir / f"{self.SERVICE.value}-evidence"
