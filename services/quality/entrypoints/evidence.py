"""Quality's evidence edge: upload a photo or scan (multipart), read it back by its SHA-256.

The file's type and size are judged on its bytes (`services.common.evidence`), never on its name
or declared Content-Type. Events reference the stored file by the `sha256` answered here.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, File, Path, Request, UploadFile, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from services.common.access import authorize
from services.common.auth import CurrentPrincipal
from services.common.domain import NotFound
from services.common.evidence import (
    ACCEPTED,
    DEFAULT_MAX_BYTES,
    SHA256_PATTERN,
    EmptyEvidence,
    EvidenceStore,
    EvidenceTooLarge,
    StoredEvidence,
    examine,
)
from services.common.http import BodyAllowance, error_responses, runtime_of

router = APIRouter(tags=["evidence"])

UPLOAD = "quality.evidence.upload"
READ = "quality.evidence.read"
PATH = "/evidence"
#: Room for the multipart framing (boundaries, part headers, the file name) around the file itself.
MULTIPART_OVERHEAD = 64 * 1024

ContentType = Literal["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif", "application/pdf",
                      "image/tiff"]
assert set(ContentType.__args__) == set(ACCEPTED)  # type: ignore[attr-defined]


class StoredEvidenceReceipt(BaseModel):
    """What was stored: reference it by `sha256` in the commands that cite evidence."""

    sha256: str = Field(pattern=SHA256_PATTERN, description="SHA-256 of the bytes, 64 lowercase hex digits")
    size: int = Field(ge=1, description="Bytes")
    content_type: ContentType = Field(description="What the bytes are (sniffed, not the declared type)")
    kind: Literal["photo", "scan"] = Field(description="Images are photos; PDF and TIFF are scans")


def evidence_body_allowance(settings: Any) -> BodyAllowance:
    """The upload's own body cap: the evidence limit plus the multipart framing, for
    `POST /evidence` only (every other request keeps COMPLAINTS_MAX_BODY_BYTES)."""
    max_bytes = int(getattr(settings, "evidence_max_bytes", DEFAULT_MAX_BYTES))
    return BodyAllowance("POST", PATH, max_bytes + MULTIPART_OVERHEAD, field="file",
                         message=f"the file is larger than the limit of {max_bytes} bytes")


def store_of(request: Request) -> EvidenceStore:
    store: EvidenceStore = runtime_of(request).app.evidence
    return store


def _receipt(stored: StoredEvidence) -> dict[str, Any]:
    return {"sha256": stored.sha256, "size": stored.size, "content_type": stored.content_type, "kind": stored.kind}


@router.post(
    PATH, status_code=status.HTTP_201_CREATED, response_model=StoredEvidenceReceipt,
    responses={
        200: {"model": StoredEvidenceReceipt, "description": "The same bytes were already stored: nothing new"},
        **error_responses(
            403, 413, 422,
            _403="The caller's role may not upload evidence",
            _413="The file is larger than QUALITY_EVIDENCE_MAX_BYTES (default 20 MiB); `loc` names `file`",
            _415="The file's content is not a photo (JPEG, PNG, WebP, HEIC/HEIF) or a scan (PDF, TIFF), "
                 "whatever its name or declared type; `loc` names `file`",
            _422="No `file` part, or an empty file; `loc` names `file`"),
    },
)
async def upload_evidence(
    request: Request, principal: CurrentPrincipal,
    file: UploadFile = File(description="The photo or scan; its type is judged on its content"),
) -> JSONResponse:
    """Store a photo or scan content-addressed (SHA-256): 201 when new, 200 when the same bytes
    were already stored (stored once). Cite it in determinations by its `sha256`."""
    authorize(principal, UPLOAD)
    store = store_of(request)
    max_bytes = int(getattr(store, "max_bytes", DEFAULT_MAX_BYTES))
    try:
        if file.size is not None and file.size > max_bytes:
            raise EvidenceTooLarge(f"the file has {file.size} bytes, more than the limit of {max_bytes}")
        data = await file.read(max_bytes + 1)
    finally:
        await file.close()
    if not data:
        raise EmptyEvidence("the file is empty")
    expected = examine(data, max_bytes)  # refuses before any storage is touched
    already = await run_in_threadpool(store.info, expected.sha256)
    stored = await run_in_threadpool(store.put, data)
    return JSONResponse(status_code=status.HTTP_200_OK if already else status.HTTP_201_CREATED,
                        content=_receipt(stored))


@router.get(
    PATH + "/{sha256}", response_class=Response,
    responses={
        200: {"description": "The stored bytes, with their sniffed content type",
              "content": {ct: {"schema": {"type": "string", "format": "binary"}} for ct in ACCEPTED}},
        **error_responses(403, 404, 422,
                          _403="The caller's role may not read evidence",
                          _404="Nothing is stored under this SHA-256",
                          _422="`sha256` is not 64 lowercase hex digits"),
    },
)
async def read_evidence(
    request: Request, principal: CurrentPrincipal,
    sha256: str = Path(pattern=SHA256_PATTERN, description="SHA-256 of the file, 64 lowercase hex digits"),
) -> Response:
    """The photo or scan stored under this SHA-256."""
    authorize(principal, READ)
    store = store_of(request)
    stored = await run_in_threadpool(store.info, sha256)
    if stored is None:
        raise NotFound(f"no evidence {sha256}")
    try:
        data = await run_in_threadpool(store.get, sha256)
    except KeyError:
        raise NotFound(f"no evidence {sha256}") from None
    return Response(content=data, media_type=stored.content_type, headers={
        "ETag": f'"{sha256}"', "Cache-Control": "private, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"})
