"""Webhook channel: a signed JSON POST, retried with exponential backoff and full jitter.

Headers sent with every attempt:
  X-Complaints-Timestamp: unix seconds when the attempt was signed
  X-Complaints-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">
  Idempotency-Key: the notification id (the same on every attempt and every resend)

A receiver checks a request with ``verify``; it rejects a bad signature and a
timestamp outside the tolerance window, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from services.notify.channels import PermanentDeliveryError, TransientDeliveryError

TIMESTAMP_HEADER = "X-Complaints-Timestamp"
SIGNATURE_HEADER = "X-Complaints-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class WebhookSettings:
    url: str
    secret: SecretStr
    timeout: float = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    base: float = 0.5
    factor: float = 2.0
    max_attempts: int = 5
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base < 0 or self.factor < 1 or self.max_delay < 0:
            raise ValueError(f"invalid retry policy {self!r}")

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * factor**(attempt-1))]."""
        ceiling = min(self.max_delay, self.base * self.factor ** (attempt - 1))
        return rand() * ceiling


@dataclass(frozen=True)
class WebhookReceipt:
    status: int
    attempts: int


def _secret_bytes(secret: str | bytes | SecretStr) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret if isinstance(secret, bytes) else secret.encode("utf-8")


def encode_body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str).encode("utf-8")


def sign(secret: str | bytes | SecretStr, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(_secret_bytes(secret), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str | bytes | SecretStr,
    timestamp: int | str | None,
    body: bytes,
    signature: str | None,
    now: float,
    tolerance: float = 300,
) -> bool:
    """True only for a correct signature over "<timestamp>.<body>" with a timestamp within ``tolerance`` of ``now``."""
    if timestamp is None or signature is None:
        return False
    try:
        stamp = int(str(timestamp).strip())
    except ValueError:
        return False
    if abs(now - stamp) > tolerance:
        return False
    expected = sign(secret, stamp, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("ascii", "replace"))


def _is_retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_4XX


async def deliver_webhook(
    notification_id: str,
    payload: Mapping[str, Any],
    settings: WebhookSettings,
    policy: RetryPolicy = RetryPolicy(),
    *,
    client: httpx.AsyncClient | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
    rand: Callable[[], float] = random.random,
) -> WebhookReceipt:
    """POST the payload until a 2xx, a permanent failure, or the attempts run out.

    Returns a receipt on 2xx; raises PermanentDeliveryError on a 4xx other than 408/429
    (no retry), TransientDeliveryError when every attempt failed on 5xx/408/429/network.
    """
    body = encode_body(payload)
    owned = client is None
    http = client or httpx.AsyncClient(timeout=settings.timeout)
    last_reason = "no attempt made"
    last_status: int | None = None
    try:
        for attempt in range(1, policy.max_attempts + 1):
            timestamp = int(clock())
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(settings.secret, timestamp, body),
                IDEMPOTENCY_HEADER: notification_id,
            }
            try:
                response = await http.post(settings.url, content=body, headers=headers, timeout=settings.timeout)
            except httpx.TransportError as error:  # connect refused, timeout, reset
                last_status, last_reason = None, f"{type(error).__name__}: {error}"
            else:
                status = response.status_code
                if 200 <= status < 300:
                    return WebhookReceipt(status=status, attempts=attempt)
                last_status, last_reason = status, f"HTTP {status}: {response.text[:200]}"
                if not _is_retryable(status):
                    raise PermanentDeliveryError(last_reason, attempts=attempt, status=status)
            if attempt < policy.max_attempts:
                await sleep(policy.delay(attempt, rand))
        raise TransientDeliveryError(
            f"gave up after {policy.max_attempts} attempts: {last_reason}",
            attempts=policy.max_attempts,
            status=last_status,
        )
    finally:
        if owned:
            await http.aclose()


__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "RetryPolicy",
    "WebhookReceipt",
    "WebhookSettings",
    "deliver_webhook",
    "encode_body",
    "sign",
    "verify",
]
