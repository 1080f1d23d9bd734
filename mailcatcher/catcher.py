"""Catch every message handed to a local SMTP server and keep it as an .eml file.

Files are named `<UTC time>-<sequence>-<subject>.eml`, so that the newest sorts last and
the subject can be read from a directory listing; the file holds the message as received.
Nothing is delivered onward: this is for a demo or development, where no e-mail should
leave the machine.
"""

from __future__ import annotations

import email
import itertools
import os
import re
import socket
import threading
from datetime import UTC, datetime
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

SUBJECT_CHARACTERS = 60


def file_name(subject: str, received: datetime, sequence: int) -> str:
    """`20261202-041501-123456-0001-New-invoice-from-Marketplace.eml`."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", subject).strip("-")[:SUBJECT_CHARACTERS].rstrip("-")
    stamp = received.astimezone(UTC).strftime("%Y%m%d-%H%M%S-%f")
    return f"{stamp}-{sequence:04d}-{slug or 'no-subject'}.eml"


class FolderHandler:
    """aiosmtpd handler that writes each message into `folder`, whole or not at all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def keep(self, content: bytes, received: datetime) -> Path:
        message = email.message_from_bytes(content, policy=default_policy)
        subject = str(message.get("Subject", ""))
        with self._lock:  # the sequence breaks ties between messages of the same microsecond
            target = self.folder / file_name(subject, received, next(self._sequence))
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(content)
        os.replace(partial, target)
        return target

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        self.keep(content if isinstance(content, bytes) else content.encode(), datetime.now(UTC))
        return "250 Message accepted for delivery"


class MailCatcher:
    """The SMTP server on `host:port` (port 0: any free one, known after `start`)."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = FolderHandler(folder)
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> MailCatcher:
        if self.port == 0:
            self.port = _free_port(self.host)
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, ready_timeout=10
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
