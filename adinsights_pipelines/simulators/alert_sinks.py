"""Loopback sinks that receive alerts as Slack and an SMTP relay would.

- :class:`WebhookSink`: an HTTP server accepting Slack incoming-webhook POSTs (JSON body with
  ``text``/``blocks``), answering ``ok`` like Slack, or a chosen error status for fault tests.
- :class:`SmtpSink`: a real SMTP server (aiosmtpd) keeping every message it accepts.

Used by ``adinsights simulate-alerts`` when no real channel is configured, by the tests and by
the alert-latency benchmark.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from adinsights_pipelines.ports import free_port


@dataclass(frozen=True)
class ReceivedPost:
    at: float
    path: str
    body: dict[str, Any]


class WebhookSink:
    """``with WebhookSink() as sink: sink.url`` — collects POSTed JSON in ``sink.posts``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.posts: list[ReceivedPost] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                with sink._lock:
                    status = sink._failures.pop(0) if sink._failures else 200
                    if status == 200:
                        try:
                            body = json.loads(raw)
                        except ValueError:
                            status = 400
                        else:
                            sink.posts.append(ReceivedPost(time.time(), self.path, body))
                reply = b"ok" if status == 200 else b"error"
                self.send_response(status)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/services/T000/B000/sink"

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` POSTs with ``status`` (and keep nothing from them)."""
        with self._lock:
            self._failures.extend([status] * count)

    def texts(self) -> list[str]:
        with self._lock:
            return [str(p.body.get("text", "")) for p in self.posts]

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class ReceivedMail:
    at: float
    sender: str
    recipients: list[str]
    message: Message

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        payload = self.message.get_payload(decode=True)
        return payload.decode() if isinstance(payload, bytes) else str(payload)

    def header(self, name: str) -> str:
        return " ".join(str(self.message[name] or "").split())  # unfolded


class _Collector:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        mail = ReceivedMail(
            at=time.time(),
            sender=str(envelope.mail_from),
            recipients=list(envelope.rcpt_tos),
            message=email.message_from_bytes(raw, policy=email.policy.default),
        )
        with self.sink._lock:
            self.sink.messages.append(mail)
        return "250 Message accepted for delivery"


class SmtpSink:
    """``with SmtpSink() as smtp: smtp.host, smtp.port`` — collects mail in ``smtp.messages``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.messages: list[ReceivedMail] = []
        self._lock = threading.Lock()
        if port == 0:
            port = free_port(host)
        self._controller = Controller(_Collector(self), hostname=host, port=port)
        self.host, self.port = host, port

    def subjects(self) -> list[str]:
        with self._lock:
            return [m.subject for m in self.messages]

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
