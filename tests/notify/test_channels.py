"""The e-mail and webhook channels against real servers started here: aiosmtpd and http.server."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from services.notify.channels import PermanentDeliveryError, TransientDeliveryError
from services.notify.channels.email import EmailNotice, SmtpSettings, message_id_for, send_email
from services.notify.channels.webhook import (
    RetryPolicy,
    WebhookSettings,
    deliver_webhook,
    encode_body,
    sign,
    verify,
)

from tests.support.servers import SECRET, Inbox, Receiver, free_port, start_smtp


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(refuse=frozenset({"nobody@example.com"})), free_port()
    controller = start_smtp(handler, port)
    try:
        yield handler, port
    finally:
        controller.stop()


def settings(port: int, **overrides: Any) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender="Complaints <notify@complaints.example>", **overrides)


NOTICE = EmailNotice(
    notification_id="ntf-0001",
    to="gm@example.com",
    language="zh",
    context={
        "form_number": "KS-2026-0042",
        "subject": "【质量处理决定】KS-2026-0042",
        "body": "王经理，您好：\n质量投诉已作出处理决定\n处理决定：退换货并赔偿运费 <含税> & 加急",
        "link": "https://complaints.example/receipts/abc",
    },
)


def body_parts(message: email.message.EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


async def test_email_arrives_once_as_multipart_text_and_html_with_stable_message_id(smtp):
    inbox, port = smtp
    receipt = await send_email(NOTICE, settings(port))

    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert inbox.envelopes == [("notify@complaints.example", ["gm@example.com"])]
    assert message.get_content_type() == "multipart/alternative"
    parts = body_parts(message)
    assert set(parts) == {"text/plain", "text/html"}
    assert "王经理，您好" in parts["text/plain"]
    assert "KS-2026-0042" in parts["text/html"]
    assert "退换货并赔偿运费 <含税> & 加急" in parts["text/plain"]  # text is not HTML-escaped
    assert "质量投诉已作出处理决定" in parts["text/html"]
    assert "请确认收到此通知：https://complaints.example/receipts/abc" in parts["text/plain"]
    assert '<a href="https://complaints.example/receipts/abc">' in parts["text/html"]
    assert "退换货并赔偿运费 &lt;含税&gt; &amp; 加急" in parts["text/html"]  # HTML is autoescaped
    assert "<含税>" not in parts["text/html"]
    assert str(message["Subject"]) == "【质量处理决定】KS-2026-0042"
    assert message["Message-ID"] == receipt.message_id == message_id_for("ntf-0001", "notify@complaints.example")

    # a resend of the same notification (say after a crash) carries the same Message-ID
    await send_email(NOTICE, settings(port))
    assert inbox.messages[1]["Message-ID"] == message["Message-ID"]


async def test_english_template_when_the_language_is_english(smtp):
    inbox, port = smtp
    notice = EmailNotice("ntf-en", "customer@example.com", {**NOTICE.context, "subject": "[Complaint] KS-2026-0042",
                                                             "body": "Dear Ms Smith,\nyour complaint has a result."}, "en")
    await send_email(notice, settings(port))
    parts = body_parts(inbox.messages[0])
    assert "Dear Ms Smith," in parts["text/plain"]
    assert "Please acknowledge this notice: https://complaints.example/receipts/abc" in parts["text/plain"]
    assert "Complaint KS-2026-0042" in parts["text/html"]
    assert str(inbox.messages[0]["Subject"]).startswith("[Complaint] KS-2026-0042")


async def test_smtp_down_then_up_is_transient_then_delivered_exactly_once():
    inbox, port = Inbox(), free_port()
    with pytest.raises(TransientDeliveryError) as failure:
        await send_email(NOTICE, settings(port, timeout=5))
    assert failure.value.transient

    controller = start_smtp(inbox, port)
    try:
        receipt = await send_email(NOTICE, settings(port))
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    assert inbox.messages[0]["Message-ID"] == receipt.message_id


async def test_recipient_refused_with_550_is_permanent(smtp):
    inbox, port = smtp
    notice = EmailNotice("ntf-0002", "nobody@example.com", NOTICE.context)
    with pytest.raises(PermanentDeliveryError) as failure:
        await send_email(notice, settings(port))
    assert failure.value.status == 550
    assert not failure.value.transient
    assert inbox.messages == []


async def test_login_when_configured():
    seen: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            seen.append((auth_data.login.decode(), auth_data.password.decode()))
            return AuthResult(success=auth_data.password == b"pa55", handled=False)
        return AuthResult(success=False, handled=False)

    inbox, port = Inbox(), free_port()
    controller = start_smtp(inbox, port, authenticator=authenticator, auth_required=True, auth_require_tls=False)
    try:
        await send_email(NOTICE, settings(port, username="notify", password=SecretStr("pa55")))
        with pytest.raises(PermanentDeliveryError) as failure:  # 535: a configuration error, not worth retrying
            await send_email(NOTICE, settings(port, username="notify", password=SecretStr("wrong")))
    finally:
        controller.stop()
    assert failure.value.status == 535
    assert seen[0] == ("notify", "pa55") and set(seen[1:]) == {("notify", "wrong")}  # may try PLAIN then LOGIN
    assert len(inbox.messages) == 1


def self_signed(directory) -> tuple[str, str]:
    """A certificate for 127.0.0.1 (its own CA) and its key, written to files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


async def test_starttls_and_login_when_configured(tmp_path):
    import ssl

    cert, key = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    sessions: list[bool] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        sessions.append(session.ssl is not None)
        return AuthResult(success=auth_data.login == b"notify" and auth_data.password == b"pa55", handled=False)

    inbox, port = Inbox(), free_port()
    controller = start_smtp(
        inbox, port, tls_context=server_tls, require_starttls=True, authenticator=authenticator, auth_required=True
    )
    try:
        with pytest.raises(PermanentDeliveryError):  # 530 the server insists on STARTTLS first
            await send_email(NOTICE, settings(port, starttls=False))
        await send_email(
            NOTICE,
            settings(port, starttls=True, cert_bundle=cert, username="notify", password=SecretStr("pa55")),
        )
    finally:
        controller.stop()
    assert sessions == [True]  # the login went over the encrypted channel
    assert len(inbox.messages) == 1


# --- webhooks ---------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


PAYLOAD = {"notification_id": "ntf-0003", "form_number": "KS-2026-0042", "text": "质量投诉已作出处理决定"}


async def test_webhook_failing_twice_is_delivered_on_the_third_attempt_and_verified(receiver):
    receiver.script["/hook"] = [503, 503]
    sleeps = Sleeps()
    policy = RetryPolicy(base=1.0, factor=2.0, max_attempts=5, max_delay=30.0)
    receipt = await deliver_webhook(
        "ntf-0003", PAYLOAD, WebhookSettings(receiver.url("/hook"), SecretStr(SECRET)), policy,
        sleep=sleeps, rand=lambda: 1.0,
    )
    assert receipt.attempts == 3 and receipt.status == 200
    requests = receiver.at("/hook")
    assert [r["status"] for r in requests] == [503, 503, 200]
    assert all(r["verified"] for r in requests)
    assert {r["idempotency_key"] for r in requests} == {"ntf-0003"}
    assert json.loads(requests[-1]["body"]) == PAYLOAD
    assert sleeps.delays == [1.0, 2.0]  # exponential ceilings (rand = 1.0 picks the top of the jitter)


async def test_backoff_is_full_jitter_capped_at_max_delay(receiver):
    receiver.script["/down"] = [503] * 10
    sleeps = Sleeps()
    policy = RetryPolicy(base=1.0, factor=3.0, max_attempts=5, max_delay=10.0)
    with pytest.raises(TransientDeliveryError) as failure:
        await deliver_webhook(
            "ntf-0004", PAYLOAD, WebhookSettings(receiver.url("/down"), SecretStr(SECRET)), policy,
            sleep=sleeps, rand=lambda: 0.5,
        )
    assert failure.value.attempts == 5 and failure.value.status == 503
    assert len(receiver.at("/down")) == 5
    assert sleeps.delays == [0.5, 1.5, 4.5, 5.0]  # 0.5 * min(10, 1 * 3**n)
    assert all(0 <= policy.delay(n) <= min(10.0, 3.0 ** (n - 1)) for n in range(1, 8) for _ in range(20))


@pytest.mark.parametrize("status", [408, 429])
async def test_408_and_429_are_retried(receiver, status):
    receiver.script["/busy"] = [status]
    receipt = await deliver_webhook(
        "ntf-0005", PAYLOAD, WebhookSettings(receiver.url("/busy"), SecretStr(SECRET)), sleep=Sleeps()
    )
    assert receipt.attempts == 2


async def test_400_is_permanent_without_retry(receiver):
    receiver.script["/bad"] = [400, 400, 400]
    sleeps = Sleeps()
    with pytest.raises(PermanentDeliveryError) as failure:
        await deliver_webhook(
            "ntf-0006", PAYLOAD, WebhookSettings(receiver.url("/bad"), SecretStr(SECRET)), sleep=sleeps
        )
    assert failure.value.status == 400 and failure.value.attempts == 1
    assert len(receiver.at("/bad")) == 1
    assert sleeps.delays == []


async def test_receiver_down_is_retried_then_transient():
    sleeps = Sleeps()
    with pytest.raises(TransientDeliveryError) as failure:
        await deliver_webhook(
            "ntf-0007", PAYLOAD, WebhookSettings(f"http://127.0.0.1:{free_port()}/hook", SecretStr(SECRET)),
            RetryPolicy(max_attempts=3), sleep=sleeps,
        )
    assert failure.value.attempts == 3 and failure.value.status is None
    assert len(sleeps.delays) == 2


async def test_wrong_secret_is_rejected_by_the_receiver(receiver):
    with pytest.raises(PermanentDeliveryError) as failure:
        await deliver_webhook(
            "ntf-0008", PAYLOAD, WebhookSettings(receiver.url("/hook"), SecretStr("not-the-secret")), sleep=Sleeps()
        )
    assert failure.value.status == 401
    assert receiver.at("/hook")[0]["verified"] is False


def test_verify_rejects_replays_tampering_and_bad_signatures():
    body = encode_body(PAYLOAD)
    now = 1_800_000_000
    good = sign(SECRET, now, body)
    assert good.startswith("sha256=") and len(good) == len("sha256=") + 64
    assert verify(SECRET, str(now), body, good, now=now)
    assert verify(SECRET, now, body, good, now=now + 300)
    # a replay of the same signed request after the window
    assert not verify(SECRET, now, body, good, now=now + 301)
    old = now - 3600
    assert not verify(SECRET, old, body, sign(SECRET, old, body), now=now)
    # a timestamp far in the future is not accepted either
    future = now + 3600
    assert not verify(SECRET, future, body, sign(SECRET, future, body), now=now)
    # the timestamp is part of what is signed: swapping it breaks the signature
    assert not verify(SECRET, now + 1, body, good, now=now)
    assert not verify(SECRET, now, body + b" ", good, now=now)
    assert not verify("other", now, body, good, now=now)
    assert not verify(SECRET, now, body, "sha256=" + "0" * 64, now=now)
    assert not verify(SECRET, now, body, "garbage", now=now)
    assert not verify(SECRET, "not-a-number", body, good, now=now)
    assert not verify(SECRET, None, body, good, now=now)
    assert not verify(SECRET, now, body, None, now=now)
    assert verify(SecretStr(SECRET), now, body, good, now=now, tolerance=0)


def test_the_pickup_directory_holds_one_file_per_notice_and_address_whichever_process_wrote_it(tmp_path):
    """Without an SMTP relay an e-mail is a file; a send retried by another process (after a crash)
    must overwrite it, not add a second one. Python's str hash differs per process."""
    import subprocess
    import sys
    script = (
        "import sys; from datetime import timedelta; from pathlib import Path\n"
        "from services.notify.delivery import Channels, ReceiptLinks\n"
        "from services.notify.channels.email import EmailNotice\n"
        "c = Channels(smtp=None, mail_dir=Path(sys.argv[1]), webhook_secret=lambda u, w: None, webhook_timeout=1,"
        " links=ReceiptLinks(b'k', 'http://x', timedelta(days=1)))\n"
        "c._pickup(EmailNotice('n-1', 'gm@example.com', {'subject': 's', 'body': 'b', 'form_number': 'f'}))\n")
    for seed in ("1", "2", "3"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True,
                       env={**__import__("os").environ, "PYTHONHASHSEED": seed})
    assert len(list(tmp_path.glob("*.eml"))) == 1
