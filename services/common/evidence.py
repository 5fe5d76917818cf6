"""Evidence: photos and scans, stored content-addressed (SHA-256) and referenced by events by hash.

What a file is comes from its bytes (its magic numbers, sniffed with `filetype`), never from the
name or the Content-Type the client declared: a PDF renamed `.jpg` is a scan, a text file renamed
`.jpg` is refused. Accepted are photos (JPEG, PNG, WebP, HEIC/HEIF) and scans (PDF, TIFF); an
empty file, anything else and anything above the size limit are refused before anything is
stored (`EvidenceRefused`, an HTTP 413, 415 or 422 naming the field `file`).

Stores (the `EvidenceStore` protocol): `DirectoryEvidenceStore` (the default: `<root>/<aa>/<sha256>`,
written atomically), `S3EvidenceStore` (S3-compatible object storage: key = sha256, content type
and kind as metadata) and `InMemoryEvidenceStore` (tests). The same bytes are stored once.
`evidence_store_from(settings)` builds the configured one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import filetype

from services.common.domain import DomainError

#: The default largest file (20 MiB).
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: How much of the head the type is sniffed from.
SNIFF_BYTES = 8192
SHA256_PATTERN = r"^[0-9a-f]{64}$"
_SHA256 = re.compile(SHA256_PATTERN)

Kind = Literal["photo", "scan"]

#: Accepted content types (sniffed) and what they are.
ACCEPTED: dict[str, Kind] = {
    "image/jpeg": "photo",
    "image/png": "photo",
    "image/webp": "photo",
    "image/heic": "photo",
    "image/heif": "photo",
    "application/pdf": "scan",
    "image/tiff": "scan",
}

#: ISO-BMFF brands of HEIF images (ISO/IEC 23008-12): HEVC-coded (`image/heic`) and generic (`image/heif`).
_HEIC_BRANDS = frozenset({"heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs"})
_HEIF_BRANDS = frozenset({"mif1", "msf1"})


# --- refusals --------------------------------------------------------------------------------------

class EvidenceRefused(DomainError):
    """The upload is not acceptable evidence; nothing was stored."""

    def __init__(self, message: str):
        super().__init__(message, field="file")


class EmptyEvidence(EvidenceRefused):
    status = 422


class EvidenceTooLarge(EvidenceRefused):
    status = 413


class UnsupportedEvidenceType(EvidenceRefused):
    status = 415


class EvidenceUnavailable(DomainError):
    """The evidence storage cannot be reached or refused the request; try again later."""

    status = 503


class EvidenceCorrupted(RuntimeError):
    """Stored bytes no longer hash to their name."""


# --- what a file is --------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredEvidence:
    sha256: str                 # 64 lowercase hex digits
    size: int                   # bytes
    content_type: str           # sniffed from the bytes
    kind: Kind                  # photos are images, scans PDF or TIFF


def _heif_type(head: bytes) -> str | None:
    """HEIC/HEIF from the `ftyp` box, or None (AVIF and other ISO-BMFF files are not HEIF photos)."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(head[0:4], "big")
    if box_size < 16:
        return None
    major = head[8:12].decode("latin-1")
    compatible = {head[i:i + 4].decode("latin-1") for i in range(16, min(box_size, len(head)) - 3, 4)}
    brands = {major} | compatible
    if "avif" in brands or "avis" in brands:
        return None
    if major in _HEIC_BRANDS or (major in _HEIF_BRANDS and brands & _HEIC_BRANDS):
        return "image/heic"
    if major in _HEIF_BRANDS:
        return "image/heif"
    return None


def sniff(data: bytes) -> str | None:
    """The content type the bytes are (e.g. `image/jpeg`), or None when not recognised."""
    head = bytes(data[:SNIFF_BYTES])
    heif = _heif_type(head)
    if heif:
        return heif
    guessed = filetype.guess(head)
    return guessed.mime if guessed is not None else None


def sha256_ok(sha256: str) -> bool:
    return isinstance(sha256, str) and _SHA256.fullmatch(sha256) is not None


def kind_of(content_type: str) -> Kind:
    return ACCEPTED[content_type]


def examine(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> StoredEvidence:
    """What these bytes would be stored as, or `EvidenceRefused` (empty, too large, not a photo or scan)."""
    size = len(data)
    if size == 0:
        raise EmptyEvidence("the file is empty")
    if size > max_bytes:
        raise EvidenceTooLarge(f"the file has {size} bytes, more than the limit of {max_bytes}")
    content_type = sniff(data)
    if content_type not in ACCEPTED:
        found = f"its content is {content_type}" if content_type else "its content is of no known type"
        raise UnsupportedEvidenceType(
            f"a photo (JPEG, PNG, WebP, HEIC) or a scan (PDF, TIFF) is needed; {found} "
            "(judged on the bytes, not on the file name or declared type)")
    return StoredEvidence(sha256=hashlib.sha256(data).hexdigest(), size=size, content_type=content_type,
                          kind=ACCEPTED[content_type])


# --- the stores ------------------------------------------------------------------------------------

class EvidenceStore(Protocol):
    """Each implementation also has `max_bytes`, the largest file it takes."""

    def put(self, data: bytes) -> StoredEvidence:
        """Store the bytes (once: the same bytes again change nothing) or raise `EvidenceRefused`."""
        ...

    def info(self, sha256: str) -> StoredEvidence | None:
        """What is stored under the hash, or None."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes stored under the hash; `KeyError` when there are none."""
        ...


class InMemoryEvidenceStore:
    """For tests: the same rules, kept in a dict."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self._items: dict[str, tuple[StoredEvidence, bytes]] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes) -> StoredEvidence:
        stored = examine(data, self.max_bytes)
        with self._lock:
            return self._items.setdefault(stored.sha256, (stored, bytes(data)))[0]

    def info(self, sha256: str) -> StoredEvidence | None:
        item = self._items.get(sha256)
        return item[0] if item else None

    def get(self, sha256: str) -> bytes:
        return self._items[sha256][1]

    def __len__(self) -> int:
        return len(self._items)


class DirectoryEvidenceStore:
    """`<root>/<first two hex digits>/<sha256>`, each file written to a temporary file beside it,
    fsynced and renamed into place (a reader never sees half a file; a crash leaves at most a
    `.tmp-*` file, never a wrong one). The type is sniffed again from the stored bytes."""

    def __init__(self, root: Path | str, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path_of(self, sha256: str) -> Path:
        if not sha256_ok(sha256):
            raise KeyError(sha256)
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> StoredEvidence:
        stored = examine(data, self.max_bytes)
        target = self.path_of(stored.sha256)
        try:
            if target.is_file() and target.stat().st_size == stored.size:
                return stored
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            _fsync_dir(target.parent)
        except OSError as error:  # disk full, read-only or missing volume: nothing was stored
            raise EvidenceUnavailable(f"the evidence directory cannot be written ({error.strerror or error})") \
                from error
        return stored

    def info(self, sha256: str) -> StoredEvidence | None:
        try:
            path = self.path_of(sha256)
            with path.open("rb") as f:
                head = f.read(SNIFF_BYTES)
                size = os.fstat(f.fileno()).st_size
        except (KeyError, FileNotFoundError, NotADirectoryError):
            return None
        except OSError as error:
            raise EvidenceUnavailable(f"the evidence directory cannot be read ({error.strerror or error})") \
                from error
        content_type = sniff(head)
        if content_type not in ACCEPTED:
            raise EvidenceCorrupted(f"{path} is no longer a photo or scan")
        return StoredEvidence(sha256=sha256, size=size, content_type=content_type, kind=ACCEPTED[content_type])

    def get(self, sha256: str) -> bytes:
        try:
            data = self.path_of(sha256).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise KeyError(sha256) from None
        except OSError as error:
            raise EvidenceUnavailable(f"the evidence directory cannot be read ({error.strerror or error})") \
                from error
        if hashlib.sha256(data).hexdigest() != sha256:
            raise EvidenceCorrupted(f"{self.path_of(sha256)} does not hash to its name")
        return data


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class S3EvidenceStore:
    """S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...): one object per file, its key the
    sha256, its sniffed content type the object's Content-Type and its kind in the metadata. `put`
    asks `head_object` first, so the same bytes are uploaded once; the upload carries its SHA-256
    checksum, which the storage verifies. The bucket must exist, and the credentials need
    s3:GetObject, s3:PutObject and s3:ListBucket on it (without ListBucket, S3 answers a missing
    key with 403 instead of 404, and every upload would be refused as unavailable)."""

    def __init__(self, *, bucket: str, endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None, secret_access_key: str | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES, client: Any = None):
        self.bucket = bucket
        self.max_bytes = max_bytes
        if client is None:
            import boto3  # only needed when S3 is configured
            from botocore.config import Config

            client = boto3.client(
                "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1",
                aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
                config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=60,
                              retries={"max_attempts": 3, "mode": "standard"},
                              # S3-compatible servers do not all take the newer default checksums.
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
        self.client = client

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in {"404", "NoSuchKey", "NotFound"}:
                raise KeyError(kwargs.get("Key")) from None
            raise EvidenceUnavailable(f"the evidence storage refused {operation} ({code or error})") from error
        except BotoCoreError as error:
            raise EvidenceUnavailable(f"the evidence storage cannot be reached ({type(error).__name__})") from error

    def put(self, data: bytes) -> StoredEvidence:
        stored = examine(data, self.max_bytes)
        if self.info(stored.sha256) is not None:
            return stored
        self._call("put_object", Key=stored.sha256, Body=bytes(data), ContentType=stored.content_type,
                   ContentLength=stored.size, Metadata={"kind": stored.kind, "sha256": stored.sha256},
                   ChecksumSHA256=base64.b64encode(bytes.fromhex(stored.sha256)).decode("ascii"))
        return stored

    def info(self, sha256: str) -> StoredEvidence | None:
        if not sha256_ok(sha256):
            return None
        try:
            head = self._call("head_object", Key=sha256)
        except KeyError:
            return None
        content_type = str(head.get("ContentType") or "")
        if content_type not in ACCEPTED:
            raise EvidenceCorrupted(f"object {sha256} has content type {content_type!r}")
        return StoredEvidence(sha256=sha256, size=int(head["ContentLength"]), content_type=content_type,
                              kind=ACCEPTED[content_type])

    def get(self, sha256: str) -> bytes:
        if not sha256_ok(sha256):
            raise KeyError(sha256)
        body = self._call("get_object", Key=sha256)["Body"]
        try:
            data: bytes = body.read()
        finally:
            body.close()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise EvidenceCorrupted(f"object {sha256} does not hash to its key")
        return data


# --- configuration ---------------------------------------------------------------------------------

def evidence_store_from(settings: Any) -> EvidenceStore:
    """S3 when an endpoint and a bucket are configured, else a directory (by default beside the
    service's SQLite store in its data dir). Reads `evidence_max_bytes`, `evidence_root` and
    `evidence_s3_*` (quality's settings: `QUALITY_EVIDENCE_*`); settings without them get the defaults."""
    max_bytes = int(getattr(settings, "evidence_max_bytes", DEFAULT_MAX_BYTES))
    endpoint = getattr(settings, "evidence_s3_endpoint", None)
    bucket = getattr(settings, "evidence_s3_bucket", None)
    if endpoint and bucket:
        secret = getattr(settings, "evidence_s3_secret_access_key", None)
        if hasattr(secret, "get_secret_value"):
            secret = secret.get_secret_value()
        return S3EvidenceStore(bucket=bucket, endpoint_url=endpoint, region=getattr(settings, "evidence_s3_region", None),
                               access_key_id=getattr(settings, "evidence_s3_access_key_id", None),
                               secret_access_key=secret, max_bytes=max_bytes)
    root = getattr(settings, "evidence_root", None)
    if root is None:
        root = Path(settings.data_dir) / f"{settings.service.value}-evidence"
    return DirectoryEvidenceStore(root, max_bytes=max_bytes)
