"""The console's calls to the services: each with the signed-in user's bearer token, never a store.

HQ answers the lists, the inbox, a complaint and its merged history; each stage service takes
the steps; notify the notices; analytics the monthly figures. A service's refusal comes back as a
`ServiceError` carrying its status and `detail` (for a 422, the list whose `loc` names the field).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx

from services.console.catalog import FormSpec
from services.console.settings import ConsoleSettings

#: Largest evidence file the console passes on (quality refuses larger ones itself).
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ServiceError(Exception):
    def __init__(self, status: int, detail: Any, service: str):
        super().__init__(f"{service} answered {status}: {detail}")
        self.status = status
        self.detail = detail
        self.service = service


class TokenRejected(ServiceError):
    """A service answered 401: the session's token expired or was revoked; the person signs in again."""

    def __init__(self, detail: Any, service: str):
        super().__init__(401, detail, service)


class ServiceUnavailable(ServiceError):
    def __init__(self, service: str, reason: str):
        super().__init__(503, f"{service} cannot be reached: {reason}", service)


class Services:
    def __init__(self, settings: ConsoleSettings, transport: httpx.AsyncBaseTransport | None = None):
        self.urls = settings.service_urls()
        self.client = httpx.AsyncClient(timeout=settings.service_timeout_seconds, transport=transport)
        self._openapi: dict[str, dict[str, Any]] = {}

    async def close(self) -> None:
        await self.client.aclose()

    async def request(self, service: str, method: str, path: str, token: str | None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self.client.request(method, self.urls[service] + path, headers=headers, **kwargs)
        except httpx.HTTPError as e:
            raise ServiceUnavailable(service, type(e).__name__) from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except (ValueError, AttributeError):
                detail = response.text[:500]
            if response.status_code == 401 and token:
                raise TokenRejected(detail, service)
            raise ServiceError(response.status_code, detail, service)
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response

    async def get(self, service: str, path: str, token: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return await self.request(service, "GET", path, token, params=clean)

    async def optional(self, service: str, path: str, token: str, **params: Any) -> Any:
        """A read whose absence is normal (no investigation for a staff complaint): None for 403/404."""
        try:
            return await self.get(service, path, token, **params)
        except ServiceError as e:
            if e.status in (403, 404):
                return None
            raise

    async def post(self, service: str, path: str, token: str, body: Mapping[str, Any] | None) -> Any:
        kwargs = {"json": dict(body)} if body is not None else {}
        return await self.request(service, "POST", path, token, **kwargs)

    async def upload_evidence(self, token: str, name: str, data: bytes, content_type: str) -> str:
        """Store a photo or scan at quality (`POST /evidence`); its SHA-256."""
        result = await self.request("quality", "POST", "/evidence", token,
                                    files={"file": (name, data, content_type or "application/octet-stream")})
        return str(result["sha256"])

    async def evidence(self, token: str, sha256: str) -> httpx.Response:
        return await self.request("quality", "GET", f"/evidence/{sha256}", token)

    async def openapi(self, service: str) -> dict[str, Any]:
        if service not in self._openapi:
            self._openapi[service] = await self.request(service, "GET", "/openapi.json", None)
        return self._openapi[service]

    async def body_schema(self, form: FormSpec) -> tuple[dict[str, Any], dict[str, Any]]:
        """The request body schema of a step's endpoint, and the components it refers to."""
        if not form.body:
            return {"type": "object", "properties": {}}, {}
        api = await self.openapi(form.service)
        template = form.path.replace("{target}", "{" + _target_name(api, form) + "}") if form.needs_target else form.path
        operation = api["paths"][template]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        return schema, api.get("components", {}).get("schemas", {})

    # --- the pages' reads ---------------------------------------------------------------------

    async def complaint_view(self, ref: str, token: str) -> dict[str, Any]:
        """Everything a complaint's page shows, read at once; HQ's row first (its 404 is the page's:
        a complaint out of the user's scope does not exist for them)."""
        complaint = await self.get("hq", f"/complaints/{ref}", token)
        cid = complaint["complaint_id"]
        quality = complaint.get("subject") == "product_quality"
        history, deadlines, investigation, ledger, notices = await asyncio.gather(
            self.optional("hq", f"/complaints/{cid}/history", token),
            self.optional("routing", f"/complaints/{cid}/deadlines", token),
            self.optional("quality", f"/complaints/{cid}/investigation", token) if quality else _none(),
            self.optional("billing", f"/complaints/{cid}/ledger", token),
            self.optional("notify", f"/complaints/{cid}/notifications", token),
            return_exceptions=True)
        parts = {"history": history, "deadlines": deadlines, "investigation": investigation, "ledger": ledger,
                 "notifications": notices}
        unavailable = [name for name, value in parts.items() if isinstance(value, Exception)]
        parts = {k: (None if isinstance(v, Exception) else v) for k, v in parts.items()}
        return {"complaint": complaint, **parts, "unavailable": unavailable}


async def _none() -> None:
    return None


def _target_name(api: Mapping[str, Any], form: FormSpec) -> str:
    """The path parameter the `{target}` of a catalogue path stands for in the service's OpenAPI."""
    prefix, _, suffix = form.path.partition("{target}")
    for path in api.get("paths", {}):
        if path.startswith(prefix) and path.endswith(suffix) and path.count("{") == form.path.count("{"):
            middle = path[len(prefix):len(path) - len(suffix)]
            if middle.startswith("{") and middle.endswith("}"):
                return middle[1:-1]
    raise KeyError(f"{form.service} has no endpoint like {form.path}")
