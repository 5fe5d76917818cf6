"""Quality's evidence edge, in process over the real bootstrap (no broker needed): uploads are
judged on their bytes, refused with the field named, stored once, and read back as stored."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.common.evidence import DirectoryEvidenceStore
from services.quality.bootstrap import create_app
from services.quality.settings import QualitySettings
from tests.common.test_evidence import ELF, JPEG, PDF, PNG, TEXT, image_bytes

LIMIT = 64 * 1024
MANAGER = {"user": "rm-east", "role": "regional_manager", "region": "EAST"}
CLERK = {"user": "clerk-li", "role": "branch_clerk", "branch": "SH01"}


@pytest.fixture
def api(tmp_path: Path) -> FastAPI:
    # No broker at this address: the runtime keeps retrying it in the background while the edge serves.
    return create_app(QualitySettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1",
                                      evidence_max_bytes=LIMIT))


def stored_files(tmp_path: Path) -> list[Path]:
    root = tmp_path / "quality-evidence"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def upload(client: TestClient, headers: dict[str, str], data: bytes, name: str = "photo.jpg",
           declared: str = "image/jpeg"):
    return client.post("/evidence", headers=headers, files={"file": (name, data, declared)})


def test_the_store_is_a_directory_beside_quality_s_store(api: FastAPI, tmp_path: Path) -> None:
    store = api.state.runtime.app.evidence
    assert isinstance(store, DirectoryEvidenceStore)
    assert store.root == tmp_path / "quality-evidence" and store.max_bytes == LIMIT


def test_a_photo_is_stored_and_read_back(client: TestClient, auth, tmp_path: Path) -> None:
    answer = upload(client, auth(**MANAGER), JPEG)
    sha = hashlib.sha256(JPEG).hexdigest()
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"sha256": sha, "size": len(JPEG), "content_type": "image/jpeg", "kind": "photo"}
    assert [p.name for p in stored_files(tmp_path)] == [sha]
    read = client.get(f"/evidence/{sha}", headers=auth(**CLERK))
    assert read.status_code == 200
    assert read.content == JPEG
    assert read.headers["content-type"] == "image/jpeg"
    assert read.headers["x-content-type-options"] == "nosniff"


def test_a_pdf_renamed_jpg_is_stored_as_a_scan_not_a_photo(client: TestClient, auth) -> None:
    answer = upload(client, auth(**MANAGER), PDF, name="IMG_0001.jpg", declared="image/jpeg")
    assert answer.status_code == 201, answer.text
    assert answer.json()["content_type"] == "application/pdf"
    assert answer.json()["kind"] == "scan"
    read = client.get(f"/evidence/{answer.json()['sha256']}", headers=auth(**MANAGER))
    assert read.headers["content-type"] == "application/pdf" and read.content == PDF


def test_a_photo_sent_under_a_wrong_name_and_type_is_still_a_photo(client: TestClient, auth) -> None:
    answer = upload(client, auth(**MANAGER), PNG, name="scan.pdf", declared="application/pdf")
    assert answer.status_code == 201
    assert (answer.json()["content_type"], answer.json()["kind"]) == ("image/png", "photo")


@pytest.mark.parametrize("data", [TEXT, ELF, image_bytes("GIF")], ids=["text", "executable", "gif"])
def test_a_file_that_is_no_photo_or_scan_is_415_naming_the_file(client: TestClient, auth, tmp_path: Path,
                                                                 data: bytes) -> None:
    answer = upload(client, auth(**MANAGER), data, name="photo.jpg", declared="image/jpeg")
    assert answer.status_code == 415, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "file"]
    assert stored_files(tmp_path) == []


def test_an_empty_file_is_422_naming_the_file(client: TestClient, auth, tmp_path: Path) -> None:
    answer = upload(client, auth(**MANAGER), b"")
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "file"]
    assert stored_files(tmp_path) == []


def test_no_file_part_is_422_naming_the_file(client: TestClient, auth) -> None:
    answer = client.post("/evidence", headers=auth(**MANAGER), data={"photo": "not a file"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "file"]


def test_a_file_just_over_the_limit_is_413_naming_the_file(client: TestClient, auth, tmp_path: Path) -> None:
    at_limit = PNG + bytes(LIMIT - len(PNG))
    assert upload(client, auth(**MANAGER), at_limit).status_code == 201
    answer = upload(client, auth(**MANAGER), at_limit + b"\x00")
    assert answer.status_code == 413, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "file"]
    assert len(stored_files(tmp_path)) == 1


def test_a_body_declared_oversize_is_413_naming_the_file(client: TestClient, auth, tmp_path: Path) -> None:
    """Judged on Content-Length before the body is parsed."""
    headers = auth(**MANAGER) | {"Content-Type": "multipart/form-data; boundary=x"}
    answer = client.post("/evidence", headers=headers, content=bytes(4 * 1024 * 1024))
    assert answer.status_code == 413
    assert answer.json()["detail"][0]["loc"] == ["body", "file"]
    assert answer.json()["detail"][0]["msg"].startswith(f"the file is larger than the limit of {LIMIT} bytes")
    assert stored_files(tmp_path) == []


def test_an_oversize_chunked_body_is_413_while_it_is_read(client: TestClient, auth, tmp_path: Path) -> None:
    def body() -> Iterator[bytes]:
        yield b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n" + PNG
        for _ in range(4):
            yield bytes(64 * 1024)
        yield b"\r\n--x--\r\n"

    answer = client.post("/evidence", content=body(),
                         headers=auth(**MANAGER) | {"Content-Type": "multipart/form-data; boundary=x"})
    assert answer.status_code == 413
    assert answer.json()["detail"][0]["loc"] == ["body", "file"]
    assert stored_files(tmp_path) == []


def test_the_same_photo_uploaded_twice_is_stored_once(client: TestClient, auth, tmp_path: Path) -> None:
    first = upload(client, auth(**MANAGER), PNG, name="a.png", declared="image/png")
    second = upload(client, auth(**CLERK), PNG, name="copy of a.jpg", declared="application/octet-stream")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    assert [p.name for p in stored_files(tmp_path)] == [first.json()["sha256"]]


def test_unknown_and_malformed_hashes(client: TestClient, auth) -> None:
    assert client.get(f"/evidence/{'0' * 64}", headers=auth(**MANAGER)).status_code == 404
    for bad in ("abc", "0" * 63, "G" * 64, hashlib.sha256(PNG).hexdigest().upper()):
        answer = client.get(f"/evidence/{bad}", headers=auth(**MANAGER))
        assert answer.status_code == 422, bad
        assert answer.json()["detail"][0]["loc"] == ["path", "sha256"]


@pytest.mark.parametrize("role", ["salesperson", "customer", "marketing_director", "operator"])
def test_a_role_without_the_upload_action_is_403(client: TestClient, auth, tmp_path: Path, role: str) -> None:
    answer = upload(client, auth(user="someone", role=role, region="EAST"), PNG)
    assert answer.status_code == 403
    assert "quality.evidence.upload" in answer.json()["detail"][0]["msg"]
    assert stored_files(tmp_path) == []


@pytest.mark.parametrize("role", ["regional_manager", "quality_department", "hq_clerk", "branch_clerk",
                                  "supervisor"])
def test_the_roles_that_collect_evidence_may_upload_it(client: TestClient, auth, role: str) -> None:
    answer = upload(client, auth(user="someone", role=role, branch="SH01", region="EAST"), PNG)
    assert answer.status_code in (200, 201), answer.text


def test_reading_needs_the_read_action(client: TestClient, auth) -> None:
    sha = upload(client, auth(**MANAGER), PNG).json()["sha256"]
    for role in ("salesperson", "customer"):
        answer = client.get(f"/evidence/{sha}", headers=auth(user="someone", role=role, region="EAST"))
        assert answer.status_code == 403
        assert "quality.evidence.read" in answer.json()["detail"][0]["msg"]
    for role in ("marketing_director", "general_manager", "operator"):
        assert client.get(f"/evidence/{sha}", headers=auth(user="someone", role=role)).content == PNG


def test_no_token_is_401(client: TestClient) -> None:
    assert client.post("/evidence", files={"file": ("a.png", PNG, "image/png")}).status_code == 401
    assert client.get(f"/evidence/{hashlib.sha256(PNG).hexdigest()}").status_code == 401


def test_only_the_upload_may_carry_a_body_beyond_the_service_wide_cap(tmp_path: Path, auth) -> None:
    """COMPLAINTS_MAX_BODY_BYTES (1 MiB) still caps every other request; the upload's cap is the
    evidence limit plus the multipart framing."""
    api = create_app(QualitySettings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1",
                                     evidence_max_bytes=3 * 1024 * 1024))
    big_photo = PNG + bytes(2 * 1024 * 1024)
    with TestClient(api) as client:
        answer = upload(client, auth(**MANAGER), big_photo)
        assert answer.status_code == 201, answer.text
        assert answer.json()["size"] == len(big_photo)
        elsewhere = client.post(f"/complaints/{uuid4()}/on-site-determination", headers=auth(**MANAGER),
                                json={"memo": "x" * (2 * 1024 * 1024)})
        assert elsewhere.status_code == 413
        assert elsewhere.json()["detail"][0]["loc"] == ["body"]
        # A GET on the evidence path gets no allowance either.
        assert client.request("GET", f"/evidence/{'0' * 64}", headers=auth(**MANAGER),
                              content=bytes(2 * 1024 * 1024)).status_code == 413


def test_the_openapi_documents_the_multipart_body_and_every_status(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/evidence"]["post"]
    body_schema = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert post["requestBody"]["required"] is True
    body = spec["components"]["schemas"][body_schema["$ref"].rsplit("/", 1)[-1]]
    assert body["required"] == ["file"] and body["properties"]["file"]["type"] == "string"
    assert {"200", "201", "401", "403", "413", "415", "422", "503"} <= set(post["responses"])
    get = spec["paths"]["/evidence/{sha256}"]["get"]
    assert {"200", "401", "403", "404", "422"} <= set(get["responses"])
    assert {"image/jpeg", "image/png", "application/pdf"} <= set(get["responses"]["200"]["content"])
    sha = next(p for p in get["parameters"] if p["name"] == "sha256")
    assert sha["in"] == "path" and sha["schema"]["pattern"] == "^[0-9a-f]{64}$"


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary=b"])
def test_malformed_multipart_is_the_documented_422_not_a_400(client: TestClient, auth, content_type: str) -> None:
    answer = client.post("/evidence", headers=auth(**MANAGER) | {"Content-Type": content_type},
                         content=b"--b\r\n[[[], None]]--b--\r\n")
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body"]
    assert answer.json()["detail"][0]["type"] == "form_invalid"
