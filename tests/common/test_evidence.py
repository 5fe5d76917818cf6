"""The evidence store: what a file is comes from its bytes; files are stored once, under their
SHA-256, atomically in a directory or on a real S3-protocol server."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from PIL import Image

from services.common.evidence import (
    DEFAULT_MAX_BYTES,
    DirectoryEvidenceStore,
    EmptyEvidence,
    EvidenceCorrupted,
    EvidenceTooLarge,
    EvidenceUnavailable,
    InMemoryEvidenceStore,
    S3EvidenceStore,
    StoredEvidence,
    UnsupportedEvidenceType,
    evidence_store_from,
    examine,
    sniff,
)
from services.quality.settings import QualitySettings


# --- real files, made here --------------------------------------------------------------------------

def image_bytes(fmt: str, colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (16, 12)) -> bytes:
    """A small real image (PNG, JPEG, WEBP, TIFF) or a one-page PDF scan, written by Pillow."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def heif_bytes(major: bytes = b"heic", compatible: tuple[bytes, ...] = (b"mif1", b"heic")) -> bytes:
    """The head of an ISO-BMFF (HEIF) file: an `ftyp` box, then a `meta` box (what a phone writes first)."""
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    ftyp = (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body
    return ftyp + (24).to_bytes(4, "big") + b"meta" + bytes(16)


PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")
PDF = image_bytes("PDF")
TEXT = b"This is not a photo, whatever its name says.\n"
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(56)


# --- what a file is -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "content_type", "kind"), [
    (JPEG, "image/jpeg", "photo"),
    (PNG, "image/png", "photo"),
    (image_bytes("WEBP"), "image/webp", "photo"),
    (heif_bytes(), "image/heic", "photo"),
    (heif_bytes(b"mif1", (b"mif1", b"heic")), "image/heic", "photo"),
    (heif_bytes(b"mif1", (b"mif1",)), "image/heif", "photo"),
    (PDF, "application/pdf", "scan"),
    (image_bytes("TIFF"), "image/tiff", "scan"),
])
def test_photos_and_scans_are_recognised_by_their_bytes(data: bytes, content_type: str, kind: str) -> None:
    stored = examine(data)
    assert stored == StoredEvidence(sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                                    content_type=content_type, kind=kind)


@pytest.mark.parametrize("data", [
    TEXT, ELF, b"MZ\x90\x00" + bytes(60), image_bytes("GIF"), image_bytes("BMP"),
    heif_bytes(b"avif", (b"mif1", b"avif")), b"PK\x03\x04" + bytes(40), b"\x00" * 64,
], ids=["text", "elf", "windows-exe", "gif", "bmp", "avif", "zip", "zeros"])
def test_anything_but_a_photo_or_scan_is_refused_naming_the_file(data: bytes) -> None:
    with pytest.raises(UnsupportedEvidenceType) as refused:
        examine(data)
    assert refused.value.status == 415 and refused.value.field == "file"


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(EmptyEvidence) as refused:
        examine(b"")
    assert refused.value.status == 422 and refused.value.field == "file"


def test_the_size_limit_is_inclusive_and_checked_before_the_type() -> None:
    assert examine(PNG, max_bytes=len(PNG)).size == len(PNG)
    with pytest.raises(EvidenceTooLarge) as refused:
        examine(PNG, max_bytes=len(PNG) - 1)
    assert refused.value.status == 413 and refused.value.field == "file"
    with pytest.raises(EvidenceTooLarge):  # too large wins over not a photo: nothing more is read
        examine(TEXT * 1000, max_bytes=100)
    assert DEFAULT_MAX_BYTES == 20 * 1024 * 1024


def test_a_pdf_is_a_scan_whatever_it_would_be_called() -> None:
    assert sniff(PDF) == "application/pdf"
    assert examine(PDF).kind == "scan"


# --- the directory store ---------------------------------------------------------------------------

@pytest.fixture
def directory(tmp_path: Path) -> DirectoryEvidenceStore:
    return DirectoryEvidenceStore(tmp_path / "evidence", max_bytes=64 * 1024)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_file_is_stored_under_its_sha256_and_read_back(directory: DirectoryEvidenceStore) -> None:
    stored = directory.put(JPEG)
    sha = hashlib.sha256(JPEG).hexdigest()
    assert stored == StoredEvidence(sha256=sha, size=len(JPEG), content_type="image/jpeg", kind="photo")
    assert files_under(directory.root) == [directory.root / sha[:2] / sha]
    assert directory.get(sha) == JPEG
    assert directory.info(sha) == stored


def test_the_same_bytes_are_stored_once(directory: DirectoryEvidenceStore) -> None:
    first = directory.put(PNG)
    path = directory.path_of(first.sha256)
    written = path.stat().st_mtime_ns, path.stat().st_ino
    assert directory.put(bytes(PNG)) == first
    assert files_under(directory.root) == [path]
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == written  # not even rewritten


def test_different_files_are_different_entries(directory: DirectoryEvidenceStore) -> None:
    a, b = directory.put(PNG), directory.put(image_bytes("PNG", colour=(0, 0, 255)))
    assert a.sha256 != b.sha256
    assert len(files_under(directory.root)) == 2


def test_a_refused_file_writes_nothing(directory: DirectoryEvidenceStore) -> None:
    for data in (b"", TEXT, PNG + bytes(64 * 1024)):
        with pytest.raises((EmptyEvidence, UnsupportedEvidenceType, EvidenceTooLarge)):
            directory.put(data)
    assert files_under(directory.root) == []


def test_unknown_or_malformed_hashes_are_absent_and_never_leave_the_root(directory: DirectoryEvidenceStore,
                                                                          tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(PNG)
    directory.put(PNG)
    for sha in ("0" * 64, "../secret", "../../secret", hashlib.sha256(PNG).hexdigest().upper(), ""):
        assert directory.info(sha) is None
        with pytest.raises(KeyError):
            directory.get(sha)


def test_a_write_that_fails_leaves_neither_the_file_nor_a_temporary(directory: DirectoryEvidenceStore,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(EvidenceUnavailable) as refused:  # a 503: try again later
        directory.put(PNG)
    assert refused.value.status == 503 and "No space left" in str(refused.value)
    monkeypatch.undo()
    assert files_under(directory.root) == []
    assert directory.info(hashlib.sha256(PNG).hexdigest()) is None
    assert directory.put(PNG).size == len(PNG)  # and a retry stores it


def test_the_file_appears_whole_by_a_rename_after_fsync(directory: DirectoryEvidenceStore,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Atomic: the bytes go to a temporary file beside the target, are fsynced, then renamed."""
    steps: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        steps.append("fsync")
        real_fsync(fd)

    def replace(src: str, dst: str | Path) -> None:
        assert Path(src).parent == Path(dst).parent and Path(src).name.startswith(".tmp-")
        assert Path(src).read_bytes() == PNG and not Path(dst).exists()
        steps.append("rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    directory.put(PNG)
    assert steps[:2] == ["fsync", "rename"]  # then the directory is fsynced
    assert "fsync" in steps[2:]


def test_leftover_temporaries_of_a_crash_are_not_evidence(directory: DirectoryEvidenceStore) -> None:
    sha = hashlib.sha256(PNG).hexdigest()
    (directory.root / sha[:2]).mkdir(parents=True)
    (directory.root / sha[:2] / ".tmp-crashed").write_bytes(PNG[:10])
    assert directory.info(sha) is None
    assert directory.put(PNG).sha256 == sha and directory.get(sha) == PNG


def test_concurrent_uploads_of_the_same_bytes_store_one_file(directory: DirectoryEvidenceStore) -> None:
    results: list[StoredEvidence] = []
    threads = [threading.Thread(target=lambda: results.append(directory.put(JPEG))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 8
    assert [p.name for p in files_under(directory.root)] == [results[0].sha256]


def test_a_directory_that_cannot_be_written_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the evidence root should be")
    store = DirectoryEvidenceStore(blocker / "evidence")
    with pytest.raises(EvidenceUnavailable):
        store.put(PNG)
    assert blocker.read_text() == "a file where the evidence root should be"


def test_bytes_changed_on_disk_are_not_served_as_the_evidence(directory: DirectoryEvidenceStore) -> None:
    stored = directory.put(PNG)
    directory.path_of(stored.sha256).write_bytes(image_bytes("PNG", colour=(1, 2, 3)))
    with pytest.raises(EvidenceCorrupted):
        directory.get(stored.sha256)


def test_the_in_memory_store_keeps_the_same_rules() -> None:
    store = InMemoryEvidenceStore(max_bytes=4096)
    assert store.put(PDF) == store.put(PDF) == examine(PDF)
    assert len(store) == 1 and store.get(examine(PDF).sha256) == PDF
    with pytest.raises(UnsupportedEvidenceType):
        store.put(TEXT)
    with pytest.raises(KeyError):
        store.get("0" * 64)
    assert store.info("0" * 64) is None


# --- configuration -----------------------------------------------------------------------------------

def test_the_default_store_is_a_directory_beside_quality_s_store(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("QUALITY_EVIDENCE_"):
            monkeypatch.delenv(name)
    settings = QualitySettings(data_dir=tmp_path)
    store = evidence_store_from(settings)
    assert isinstance(store, DirectoryEvidenceStore)
    assert store.root == tmp_path / "quality-evidence" and store.root.parent == settings.sqlite_path.parent
    assert store.max_bytes == 20 * 1024 * 1024


def test_the_environment_chooses_the_directory_the_limit_and_s3(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUALITY_EVIDENCE_DIR", str(tmp_path / "photos"))
    monkeypatch.setenv("QUALITY_EVIDENCE_MAX_BYTES", "5000")
    store = evidence_store_from(QualitySettings(data_dir=tmp_path))
    assert isinstance(store, DirectoryEvidenceStore)
    assert (store.root, store.max_bytes) == (tmp_path / "photos", 5000)

    monkeypatch.setenv("QUALITY_EVIDENCE_S3_ENDPOINT", "http://127.0.0.1:9000")
    monkeypatch.setenv("QUALITY_EVIDENCE_S3_BUCKET", "evidence")
    monkeypatch.setenv("QUALITY_EVIDENCE_S3_REGION", "cn-north-1")
    monkeypatch.setenv("QUALITY_EVIDENCE_S3_ACCESS_KEY_ID", "key-id")
    monkeypatch.setenv("QUALITY_EVIDENCE_S3_SECRET_ACCESS_KEY", "the-secret")
    settings = QualitySettings(data_dir=tmp_path)
    assert "the-secret" not in repr(settings)
    s3 = evidence_store_from(settings)
    assert isinstance(s3, S3EvidenceStore)
    assert (s3.bucket, s3.max_bytes) == ("evidence", 5000)
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9000"
    assert s3.client.meta.region_name == "cn-north-1"
    credentials = s3.client._request_signer._credentials  # noqa: SLF001
    assert (credentials.access_key, credentials.secret_key) == ("key-id", "the-secret")

    monkeypatch.delenv("QUALITY_EVIDENCE_S3_BUCKET")  # an endpoint alone is not S3
    assert isinstance(evidence_store_from(QualitySettings(data_dir=tmp_path)), DirectoryEvidenceStore)


# --- the S3 store, against a real S3-protocol server ------------------------------------------------
#
# MinIO cannot be installed here (no registry ships its server), so the S3 store is tested against
# moto's standalone server: a real HTTP server speaking the S3 protocol on a loopback port, reached
# through boto3 exactly as production reaches AWS S3, MinIO or Ceph.

S3_KEYS = {"access_key_id": "evidence-test", "secret_access_key": "evidence-test-secret"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str, request: pytest.FixtureRequest) -> S3EvidenceStore:
    bucket = f"evidence-{hashlib.sha1(request.node.name.encode()).hexdigest()[:12]}"
    admin = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                         aws_access_key_id=S3_KEYS["access_key_id"],
                         aws_secret_access_key=S3_KEYS["secret_access_key"])
    admin.create_bucket(Bucket=bucket)
    # Versioned, so that a second upload of the same bytes would show as a second version.
    admin.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return S3EvidenceStore(bucket=bucket, endpoint_url=s3_endpoint, region="us-east-1", max_bytes=64 * 1024,
                           **S3_KEYS)


def test_s3_stores_under_the_sha256_with_type_and_kind(s3: S3EvidenceStore) -> None:
    stored = s3.put(JPEG)
    sha = hashlib.sha256(JPEG).hexdigest()
    assert stored == StoredEvidence(sha256=sha, size=len(JPEG), content_type="image/jpeg", kind="photo")
    head = s3.client.head_object(Bucket=s3.bucket, Key=sha)
    assert head["ContentType"] == "image/jpeg" and head["Metadata"]["kind"] == "photo"
    assert s3.info(sha) == stored
    assert s3.get(sha) == JPEG
    assert [o["Key"] for o in s3.client.list_objects_v2(Bucket=s3.bucket)["Contents"]] == [sha]


def test_s3_stores_the_same_bytes_once(s3: S3EvidenceStore) -> None:
    first = s3.put(PDF)
    assert s3.put(bytes(PDF)) == first and first.kind == "scan"
    versions = s3.client.list_object_versions(Bucket=s3.bucket)["Versions"]
    assert [(v["Key"], v["IsLatest"]) for v in versions] == [(first.sha256, True)]


def test_s3_refuses_before_uploading(s3: S3EvidenceStore) -> None:
    for data, error in ((TEXT, UnsupportedEvidenceType), (b"", EmptyEvidence),
                        (PNG + bytes(64 * 1024), EvidenceTooLarge)):
        with pytest.raises(error):
            s3.put(data)
    assert "Contents" not in s3.client.list_objects_v2(Bucket=s3.bucket)


def test_s3_unknown_hashes_are_absent(s3: S3EvidenceStore) -> None:
    assert s3.info("0" * 64) is None and s3.info("../x") is None
    with pytest.raises(KeyError):
        s3.get("0" * 64)


def test_s3_missing_bucket_or_unreachable_storage_is_unavailable(s3_endpoint: str) -> None:
    missing = S3EvidenceStore(bucket="no-such-bucket", endpoint_url=s3_endpoint, **S3_KEYS)
    with pytest.raises(EvidenceUnavailable) as refused:
        missing.put(PNG)
    assert refused.value.status == 503
    unreachable = S3EvidenceStore(bucket="evidence", endpoint_url="http://127.0.0.1:1", **S3_KEYS)
    with pytest.raises(EvidenceUnavailable):
        unreachable.info("0" * 64)
