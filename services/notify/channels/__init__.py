"""Delivery channels for notifications: e-mail over SMTP and signed webhooks.

Each channel sends one notification and either returns a receipt or raises a
``DeliveryError`` that says whether the failure is transient (retry later) or
permanent (give up and record the reason). The channels know nothing of the
notification aggregate; the caller decides what to do with the outcome.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A send that did not go through. ``transient`` tells the caller whether to retry."""

    transient: bool = False

    def __init__(self, reason: str, *, attempts: int = 1, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.status = status


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: connection refused, timeout, 4xx SMTP reply, 5xx/408/429 HTTP."""

    transient = True


class PermanentDeliveryError(DeliveryError):
    """Retrying will not help: recipient refused (5xx SMTP), HTTP 4xx other than 408/429."""

    transient = False


__all__ = ["DeliveryError", "PermanentDeliveryError", "TransientDeliveryError"]
