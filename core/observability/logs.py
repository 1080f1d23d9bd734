"""Logs from every process (webhook service, delivery worker, CLI, dashboard, sandbox) in one
shape: an event name and its fields, as one JSON object a line (`LOG_FORMAT=json`, for a
log pipeline) or as a readable line (`console`, the default).

A line is `log.info("stripe.webhook.processed", extra={"event_id": ..., "job_id": ...})`:
the message is the event's name, and the fields ride in `extra`. Every line also carries
the request id of the HTTP request it was written in (`request_id`, set by the webhook
service for each request and echoed in its `X-Request-ID` header).

Nothing secret is written: fields named like a secret (`secret`, `token`, `password`,
`signature`, `authorization`, `cookie`, `api_key`) and anything in a message or a field
that looks like a Stripe key, a webhook signing secret or signature, a bearer token, a
JWT or a database URL's password are replaced by `[redacted]`, in both formats, before
the line is written. JSON lines are written by python-json-logger's formatter, which
turns a record's extras into fields and its exception into one string.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from contextvars import ContextVar
from typing import Any, Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["json", "console"]

# The HTTP request this code runs for, if any (core is called from the service's threads,
# which inherit the request's context).
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(
    r"secret|token|password|passwd|signature|authorization|cookie|api[_-]?key", re.IGNORECASE
)
_SECRET_TEXT = re.compile(
    r"(?:sk|rk|pk)_(?:test|live)_[0-9A-Za-z_]+"  # Stripe API keys
    r"|whsec_[0-9A-Za-z_\-]+"  # webhook signing secrets
    r"|\bv[01]=[0-9a-f]{16,}"  # Stripe-Signature's signatures
    r"|\bBearer\s+[0-9A-Za-z._~+/\-]+=*"  # Authorization headers
    r"|eyJ[0-9A-Za-z_\-]+\.[0-9A-Za-z_\-]+\.[0-9A-Za-z_\-]+"  # JWTs (our API tokens)
    r"|(?<=://)[^/\s?#]+(?=@[^@/\s]+)",  # a URL's user and password, up to its last "@"
    re.IGNORECASE,
)
# A secret in a query string or a form (`?token=...`): the name stays, the value goes.
_SECRET_PARAMETER = re.compile(
    r"\b((?:access_|api[_-]?|refresh_)?(?:token|secret|password|passwd|key|signature))="
    r"[^&\s\"']+",
    re.IGNORECASE,
)
# Not fields: LogRecord's own attributes, and uvicorn's coloured copy of its message.
_STANDARD = frozenset(RESERVED_ATTRS) | {"taskName", "request_id", "color_message"}
# Our loggers; a process's other libraries keep their level (warnings and up).
_OURS = ("core", "webhook_service", "dashboard", "stripe_sandbox")
_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


def redact_text(text: str) -> str:
    return _SECRET_PARAMETER.sub(rf"\1={REDACTED}", _SECRET_TEXT.sub(REDACTED, text))


def redact(name: str, value: Any) -> Any:
    """A field's value as it may be written: what is not a number, a flag, text, a list or
    a mapping is written as its text, redacted too."""
    if _SECRET_NAME.search(name):
        return REDACTED
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): redact(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(name, v) for v in value]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return redact_text(value if isinstance(value, str) else str(value))


def _message(record: logging.LogRecord) -> str:
    """The record's message; a call whose arguments do not fit its format is written as it
    came, rather than raising where it was logged."""
    try:
        return record.getMessage()
    except Exception:  # noqa: BLE001 - logging must never raise at the call site
        return f"{record.msg!s} {record.args!r}"


class _Context(logging.Filter):
    """Adds the request id to every record, and redacts its message and fields (the
    formatters then write what is left, and redact the traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        record.msg = redact_text(_message(record))
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                record.__dict__[key] = redact(key, value)
        return True


class _Json(JsonFormatter):
    # The traceback and the stack are redacted as text, before they are made JSON (in
    # which a line break is "\n" and a secret no longer starts a word).
    # (One string each: exc_info_as_array is off.)
    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return redact_text(str(super().formatException(ei)))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return redact_text(str(super().formatStack(stack_info)))

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        if log_data.get("request_id") is None:
            log_data.pop("request_id", None)


class _Console(logging.Formatter):
    """`2026-12-03 10:00:00,123 INFO core.billing.webhooks stripe.webhook.processed k=v`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if record.__dict__.get("request_id"):
            fields["request_id"] = record.__dict__["request_id"]
        if fields:
            # The fields before any traceback, so the line stays one line when there is none.
            head, newline, rest = line.partition("\n")
            head += "".join(f" {k}={v}" for k, v in fields.items())
            line = head + newline + rest
        return redact_text(line)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is written (as logging's last resort
    does), not to the one there was when it was made: a test's captured stream closes."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def log_format() -> LogFormat:
    value = (os.environ.get("LOG_FORMAT") or "console").strip().lower()
    if value not in ("json", "console"):
        raise ValueError(f"LOG_FORMAT must be json or console, not {value!r}")
    return "json" if value == "json" else "console"


def handler(fmt: LogFormat, stream: Any = None) -> logging.Handler:
    """A handler writing `fmt` lines to `stream` (stderr), redacted."""
    out: logging.Handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    out.addFilter(_Context())
    if fmt == "json":
        out.setFormatter(
            _Json(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger", "message": "event"},
                timestamp="time",
                json_ensure_ascii=False,
                reserved_attrs=sorted(_STANDARD - {"request_id"}),
            )
        )
    else:
        out.setFormatter(_Console())
    return out


def configure(fmt: LogFormat | None = None, *, level: int = logging.INFO) -> None:
    """Route this process's logs, ours and uvicorn's, through one handler of `fmt`
    (LOG_FORMAT when None). Idempotent: a second call replaces the first's handler."""
    chosen = fmt or log_format()
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_jobtopaid", False)]:
        root.removeHandler(old)
    out = handler(chosen)
    out._jobtopaid = True  # type: ignore[attr-defined]
    root.addHandler(out)
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)
    for name in _OURS:
        logging.getLogger(name).setLevel(level)
    for name in _UVICORN:
        # Uvicorn set up its own handlers before the app was imported: its lines go
        # through ours instead, in the same format.
        server_log = logging.getLogger(name)
        server_log.handlers.clear()
        server_log.propagate = True


__all__ = ["REQUEST_ID", "configure", "handler", "log_format", "redact", "redact_text"]
