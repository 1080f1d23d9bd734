"""A webhook receiver on a free port that verifies signatures the way our service will."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import stripe


@dataclass
class Receiver:
    url: str
    secret: str = ""
    # Statuses to answer, in order; once used up every delivery gets 200.
    answers: list[int] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)  # verified stripe.Event objects
    rejected: list[str] = field(default_factory=list)
    raw: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def types(self) -> list[str]:
        with self.lock:
            return [event.type for event in self.events]

    def ids(self) -> list[str]:
        with self.lock:
            return [event.id for event in self.events]


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            signature = self.headers.get("Stripe-Signature", "")
            with receiver.lock:
                receiver.raw.append((dict(self.headers), body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                try:
                    event = stripe.Webhook.construct_event(body, signature, receiver.secret)
                except (ValueError, stripe.SignatureVerificationError) as exc:
                    receiver.rejected.append(str(exc))
                    status = 400
                else:
                    if status < 300:
                        receiver.events.append(event)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/webhook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
