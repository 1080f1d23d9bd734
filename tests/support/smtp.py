"""A real SMTP server for tests (aiosmtpd in a thread) that records what it accepts.

    with running_smtp() as smtp:              # a free port on 127.0.0.1
        settings.smtp_url = SecretStr(smtp.url)
        ...
        assert [m["To"] for m in smtp.messages] == ["ann@example.com"]

`smtp.refuse(address, "550 5.1.1 no such user")` answers that reply to RCPT TO for the
address; `SmtpServer(port).start()` later on a port chosen before (`free_port()`) plays a
server that was down; `login=("user", "pass")` requires AUTH with those credentials.
"""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RecordingHandler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TOs)
        self.refusals: dict[str, str] = {}

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        with self.lock:
            refusal = self.refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, port: int | None = None, login: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.login = login
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """SMTP_URL for this server (with the credentials, when it asks for them)."""
        who = f"{self.login[0]}:{self.login[1]}@" if self.login else ""
        return f"smtp://{who}127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        with self.handler.lock:
            return list(self.handler.envelopes)

    def refuse(self, address: str, reply: str) -> None:
        with self.handler.lock:
            self.handler.refusals[address.lower()] = reply

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            self.login is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == self.login
        )
        return AuthResult(success=True) if ok else AuthResult(success=False, handled=False)

    def start(self) -> SmtpServer:
        options: dict[str, Any] = {}
        if self.login is not None:
            options = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,  # a test server on loopback, without a certificate
            }
        self._controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10, **options
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextmanager
def running_smtp(
    port: int | None = None, login: tuple[str, str] | None = None
) -> Iterator[SmtpServer]:
    server = SmtpServer(port, login).start()
    try:
        yield server
    finally:
        server.stop()
