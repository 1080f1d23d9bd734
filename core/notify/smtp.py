"""Handing messages to an SMTP server (the standard library's smtplib), and telling a
temporary refusal, worth trying again later, from a permanent one.

One connection serves a batch: it opens on the first message and again after a failure
that lost it. The password goes to the server's AUTH and nowhere else; errors carry the
server's reply, which never includes it.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from types import TracebackType

from core.config import SmtpServer


class SendFailure(Exception):
    """A message the server did not take. `temporary`: try it again later (the server is
    down, busy, or answered 4xx); otherwise it never will be taken (5xx, a bad address).
    `connection`: the server could not be reached at all, so the rest of a batch waits
    too instead of trying to connect once per message."""

    def __init__(self, reason: str, *, temporary: bool, connection: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.temporary = temporary
        self.connection = connection


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {text}".strip()


def _refusal(code: int, message: bytes | str, what: str) -> SendFailure:
    # 4xx is "not now", 5xx is "never" (RFC 5321 4.2.1); anything else is not a refusal
    # the server meant for this message, so it is worth another try.
    return SendFailure(f"{what}: {_reply(code, message)}", temporary=not 500 <= code < 600)


class SmtpMailer:
    """`with SmtpMailer(server) as mailer: mailer.send(message)`; `send` returns once the
    server has accepted the message (its reply to DATA) and raises `SendFailure` otherwise."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        context = ssl.create_default_context()
        client: smtplib.SMTP
        try:
            if server.implicit_tls:
                client = smtplib.SMTP_SSL(
                    server.host, server.port, timeout=server.timeout, context=context
                )
            else:
                client = smtplib.SMTP(server.host, server.port, timeout=server.timeout)
            try:
                if server.starttls:
                    client.starttls(context=context)
                if server.username:
                    client.login(server.username, server.password or "")
            except BaseException:
                client.close()
                raise
        except (smtplib.SMTPException, OSError) as error:
            raise SendFailure(
                f"could not reach {server.describe()}: {_describe(error)}",
                temporary=True,
                connection=True,
            ) from None
        return client

    def send(self, message: EmailMessage) -> None:
        if self._client is None:
            self._client = self._connect()
        try:
            refused = self._client.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise _refusal(code, reply, "recipient refused") from None
        except smtplib.SMTPSenderRefused as error:
            raise _refusal(error.smtp_code, error.smtp_error, "sender refused") from None
        except smtplib.SMTPDataError as error:
            raise _refusal(error.smtp_code, error.smtp_error, "message refused") from None
        except smtplib.SMTPNotSupportedError as error:  # e.g. a non-ASCII address, no SMTPUTF8
            raise SendFailure(f"not supported by the server: {error}", temporary=False) from None
        except (smtplib.SMTPException, OSError) as error:
            self.close()  # the connection is gone or in an unknown state: a new one next
            raise SendFailure(f"lost the connection: {_describe(error)}", temporary=True) from None
        if refused:  # only some recipients taken; we send to one, so this is that one
            code, reply = next(iter(refused.values()))
            raise _refusal(code, reply, "recipient refused")

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return _reply(error.smtp_code, error.smtp_error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
