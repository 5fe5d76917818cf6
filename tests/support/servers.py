"""Real servers for notify's tests: an SMTP server (aiosmtpd) that keeps what it receives, and a
local HTTP receiver that answers with scripted statuses and verifies each webhook's signature."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from services.notify.channels.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

SECRET = "s3cret-webhook-key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """aiosmtpd handler that keeps what it receives and refuses listed recipients with 550."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.lock = threading.Lock()  # aiosmtpd's thread appends while a test reads
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(message)
        return "250 Message accepted for delivery"


def start_smtp(handler: Inbox, port: int, **kwargs: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller


class Receiver:
    """A local HTTP receiver: answers each path with a scripted list of statuses, verifying signatures."""

    def __init__(self) -> None:
        self.script: dict[str, list[int]] = {}
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                verified = verify(
                    SECRET, self.headers.get(TIMESTAMP_HEADER), body, self.headers.get(SIGNATURE_HEADER), time.time()
                )
                with receiver.lock:
                    statuses = receiver.script.setdefault(self.path, [])
                    status = statuses.pop(0) if statuses else 200
                    if not verified:
                        status = 401
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "body": body,
                            "verified": verified,
                            "status": status,
                            "idempotency_key": self.headers.get(IDEMPOTENCY_HEADER),
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == path]

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
