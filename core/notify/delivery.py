"""The e-mail delivery worker: sends what the outbox holds, each message once.

A pass (`DeliveryWorker.deliver_due`) claims due rows (queued or not_configured, or left in
`sending` by a worker whose lease ran out before it handed them over) in one statement:
`UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)` on PostgreSQL, so workers
running side by side take disjoint rows; on SQLite the same UPDATE is a claim because
writers hold the one write lock from BEGIN. The claim marks them `sending` with a lease
and commits; then, with no transaction open, each is rendered, handed to the SMTP server,
and `handed_at` is committed the moment the server accepts it; at the end of the batch
the handed rows become `sent`. A temporary failure (the server unreachable, a 4xx)
queues the row again after an exponential backoff with jitter; a permanent one (5xx, an
address that is none) or the last allowed attempt marks it `failed` with the reason.

Never twice: a row in `sending` whose lease ran out is sent again only if `handed_at` is
empty; one with `handed_at` was taken by the server and is recorded `sent`. What remains
is the moment between the server's acceptance (its reply to DATA) and the commit of
`handed_at`: a crash, a lost connection to the database or to the server just then, and
the message goes again after the lease, with the same Message-ID, by which mail systems
and readers can tell the copy. A worker does not start a message once its lease has less
than a few SMTP timeouts left, so another worker cannot re-claim a message still in hand.

Why no task library: procrastinate is PostgreSQL-only, huey's SQL storage has no
exactly-once claim with leases, and dramatiq and celery need a broker (Redis, RabbitMQ)
this system does not run; the outbox table already is the queue, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.config import SmtpServer
from core.db.models import Base, EmailMessage, utcnow
from core.db.session import session_scope
from core.notify.emails import RenderedEmail, render_message
from core.notify.smtp import SendFailure, SmtpMailer
from core.observability.metrics import EMAILS

log = logging.getLogger(__name__)

OUTBOX = Base.metadata.tables["email_outbox"]
LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 10
FIRST_DELAY = timedelta(seconds=30)  # then doubled each attempt ...
LONGEST_DELAY = timedelta(hours=2)  # ... up to this: 10 attempts span about 4 hours
NOT_CONFIGURED = "SMTP_URL is not set"


@dataclass(frozen=True)
class Claimed:
    """An outbox row this worker holds in `sending` until `lease_until`."""

    id: int
    message_key: str
    to_address: str
    attempts: int  # this one included
    lease_until: datetime


@dataclass
class DeliveryReport:
    """What a pass did, in numbers."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0  # queued again, for after their backoff
    failed: int = 0
    not_configured: int = 0  # waiting for SMTP_URL
    recovered: int = 0  # handed over before a crash, now recorded sent
    released: int = 0  # claimed but left for later (a stop, or a lease running short)
    unreachable: bool = False  # the SMTP server could not be reached: the pass ended there

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)

    @property
    def did_anything(self) -> bool:
        return any(self.to_dict().values())


def backoff(attempts: int, rng: random.Random) -> timedelta:
    """The wait after the `attempts`-th failed try: doubling, capped, and jittered between
    half and all of it, so messages that failed together do not come back together."""
    doublings = min(max(attempts - 1, 0), 20)
    ceiling: timedelta = min(LONGEST_DELAY, FIRST_DELAY * (2**doublings))
    return ceiling / 2 + ceiling / 2 * rng.random()


def message_id(row_id: int, message_key: str, mail_from: str) -> str:
    """The same Message-ID each time a row is sent, so a copy can be told for one."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    key = re.sub(r"[^A-Za-z0-9]+", "-", message_key).strip("-")
    return f"<email-{row_id}.{key}@{domain}>"


def is_address(text: str) -> bool:
    name, address = parseaddr(text)
    local, at, domain = address.rpartition("@")
    return (
        not name
        and address == text
        and bool(at and local and domain)
        and "@" not in local
        and not any(c.isspace() for c in text)
    )


def compose(
    row: EmailMessage, rendered: RenderedEmail, *, mail_from: str, now: datetime
) -> MimeMessage:
    address = row.to_address.strip()
    if not is_address(address):
        raise SendFailure(f"not an e-mail address: {address!r}", temporary=False)
    message = MimeMessage()
    try:
        message["From"] = mail_from
        message["To"] = address
        message["Subject"] = rendered.subject
    except ValueError as error:  # a line break in a header
        raise SendFailure(f"cannot be written as e-mail: {error}", temporary=False) from None
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(row.id, row.message_key, mail_from)
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def _expired_unhanded(now: datetime) -> Any:
    return and_(
        OUTBOX.c.status == "sending", OUTBOX.c.lease_until <= now, OUTBOX.c.handed_at.is_(None)
    )


def _never_stop() -> bool:
    return False


@dataclass
class DeliveryWorker:
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    smtp: SmtpServer | None
    mail_from: str
    clock: Callable[[], datetime] = utcnow
    batch_size: int = 50
    lease: timedelta = LEASE
    max_attempts: int = MAX_ATTEMPTS
    rng: random.Random = field(default_factory=random.Random)

    @property
    def _margin(self) -> timedelta:
        # A send is a handful of exchanges, each allowed the timeout.
        return timedelta(seconds=4 * (self.smtp.timeout if self.smtp else 30.0))

    def deliver_due(self, should_stop: Callable[[], bool] = _never_stop) -> DeliveryReport:
        """Send everything due now, batch after batch; stop early when `should_stop` says so
        (between messages: what was claimed and not tried is released)."""
        report = DeliveryReport(recovered=self.recover_handed())
        if self.smtp is None:
            report.not_configured = self.mark_not_configured()
            return report
        while not should_stop():
            claimed = self.claim()
            report.claimed += len(claimed)
            if claimed:
                handed = self.hand_over(claimed, report, should_stop)
                report.sent += self.finish(handed)
            if len(claimed) < self.batch_size or report.unreachable:
                break
        return report

    def recover_handed(self) -> int:
        """Rows a worker handed over and then lost (a crash before `sent`): they are sent."""
        now = self.clock()
        statement = (
            update(OUTBOX)
            .where(
                OUTBOX.c.status == "sending",
                OUTBOX.c.handed_at.is_not(None),
                OUTBOX.c.lease_until <= now,
            )
            .values(status="sent", sent_at=OUTBOX.c.handed_at, lease_until=None)
        )
        with session_scope(self.sessions) as session:
            return int(getattr(session.execute(statement), "rowcount", 0))

    def mark_not_configured(self) -> int:
        """Without SMTP_URL, due rows say so; returns how many wait for it."""
        now = self.clock()
        statement = (
            update(OUTBOX)
            .where(
                OUTBOX.c.next_attempt_at <= now,
                or_(OUTBOX.c.status == "queued", _expired_unhanded(now)),
            )
            .values(status="not_configured", lease_until=None, last_error=NOT_CONFIGURED)
        )
        waiting = select(func.count()).where(OUTBOX.c.status == "not_configured")
        with session_scope(self.sessions) as session:
            session.execute(statement)
            return int(session.scalar(waiting) or 0)

    def claim(self) -> list[Claimed]:
        """Take up to `batch_size` due rows into `sending` under a lease, and commit."""
        now = self.clock()
        lease_until = now + self.lease
        due = (
            select(OUTBOX.c.id)
            .where(
                OUTBOX.c.next_attempt_at <= now,
                or_(OUTBOX.c.status.in_(("queued", "not_configured")), _expired_unhanded(now)),
            )
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has its write lock
        )
        statement = (
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(due.scalar_subquery()))
            .values(status="sending", lease_until=lease_until, attempts=OUTBOX.c.attempts + 1)
            .returning(OUTBOX.c.id, OUTBOX.c.message_key, OUTBOX.c.to_address, OUTBOX.c.attempts)
        )
        with session_scope(self.sessions) as session:
            rows = session.execute(statement).all()
        claimed = [
            Claimed(row.id, row.message_key, row.to_address, row.attempts, lease_until)
            for row in rows
        ]
        return sorted(claimed, key=lambda item: item.id)

    def hand_over(
        self,
        claimed: Sequence[Claimed],
        report: DeliveryReport | None = None,
        should_stop: Callable[[], bool] = _never_stop,
    ) -> list[int]:
        """Render and send the claimed rows, committing `handed_at` for each the server
        accepts; returns their ids (for `finish`)."""
        assert self.smtp is not None, "claimed rows are only sent with an SMTP server"
        report = report if report is not None else DeliveryReport()
        messages = self._render(claimed)
        handed: list[int] = []
        with SmtpMailer(self.smtp) as mailer:
            for index, item in enumerate(claimed):
                if should_stop() or self.clock() >= item.lease_until - self._margin:
                    report.released += self._release(claimed[index:])
                    break
                message = messages.get(item.id, SendFailure("the row is gone", temporary=False))
                try:
                    if isinstance(message, SendFailure):
                        raise message
                    mailer.send(message)
                except SendFailure as failure:
                    self._record_failure(item, failure, report)
                    if failure.connection:  # no server to talk to: the rest waits as well
                        for rest in claimed[index + 1 :]:
                            self._record_failure(rest, failure, report)
                        report.unreachable = True
                        break
                    continue
                self._record_handed(item, str(message["Subject"]))
                handed.append(item.id)
        return handed

    def finish(self, handed: Sequence[int]) -> int:
        """Handed-over rows become `sent`."""
        if not handed:
            return 0
        statement = (
            update(OUTBOX)
            .where(
                OUTBOX.c.id.in_(handed),
                OUTBOX.c.status == "sending",
                OUTBOX.c.handed_at.is_not(None),
            )
            .values(status="sent", sent_at=self.clock(), lease_until=None)
        )
        with session_scope(self.sessions) as session:
            sent = int(getattr(session.execute(statement), "rowcount", 0))
        EMAILS.labels(result="sent").inc(sent)
        return sent

    def _render(self, claimed: Sequence[Claimed]) -> dict[int, MimeMessage | SendFailure]:
        now = self.clock()
        out: dict[int, MimeMessage | SendFailure] = {}
        with session_scope(self.readers) as session:
            rows = session.scalars(
                select(EmailMessage).where(EmailMessage.id.in_([c.id for c in claimed]))
            )
            for row in rows:
                try:
                    out[row.id] = compose(
                        row, render_message(session, row), mail_from=self.mail_from, now=now
                    )
                except SendFailure as failure:
                    out[row.id] = failure
                except LookupError as error:
                    out[row.id] = SendFailure(f"nothing to send: {error}", temporary=False)
                except Exception as error:  # a rendering fault: worth another try once fixed
                    log.exception("email.render_failed", extra={"message_id": row.id})
                    out[row.id] = SendFailure(
                        f"could not be rendered: {type(error).__name__}: {error}", temporary=True
                    )
        return out

    def _mine(self, item: Claimed) -> Any:
        # The lease's end is the claim's token: a row re-claimed by another worker after
        # this one's lease ran out carries another.
        return and_(
            OUTBOX.c.id == item.id,
            OUTBOX.c.status == "sending",
            OUTBOX.c.lease_until == item.lease_until,
            OUTBOX.c.handed_at.is_(None),
        )

    def _record_handed(self, item: Claimed, subject: str) -> None:
        statement = (
            update(OUTBOX)
            .where(OUTBOX.c.id == item.id, OUTBOX.c.handed_at.is_(None))
            .values(handed_at=self.clock(), subject=subject[:200])
        )
        with session_scope(self.sessions) as session:
            session.execute(statement)
        log.info("email.handed", extra={"message_id": item.id, "message_key": item.message_key})

    def _record_failure(self, item: Claimed, failure: SendFailure, report: DeliveryReport) -> None:
        now = self.clock()
        if failure.temporary and item.attempts < self.max_attempts:
            values: dict[str, Any] = {
                "status": "queued",
                "next_attempt_at": now + backoff(item.attempts, self.rng),
                "last_error": failure.reason,
            }
            report.retrying += 1
            EMAILS.labels(result="retry").inc()
        else:
            reason = failure.reason
            if failure.temporary:
                reason = f"gave up after {item.attempts} attempts: {reason}"
            values = {"status": "failed", "last_error": reason}
            report.failed += 1
            EMAILS.labels(result="failed").inc()
        statement = update(OUTBOX).where(self._mine(item)).values(lease_until=None, **values)
        with session_scope(self.sessions) as session:
            session.execute(statement)
        log.warning(
            f"email.{values['status']}",
            extra={"message_id": item.id, "attempts": item.attempts, "reason": failure.reason},
        )

    def _release(self, items: Sequence[Claimed]) -> int:
        """Give back claimed rows not tried, without counting the claim as an attempt."""
        with session_scope(self.sessions) as session:
            for item in items:
                session.execute(
                    update(OUTBOX)
                    .where(self._mine(item))
                    .values(status="queued", lease_until=None, attempts=OUTBOX.c.attempts - 1)
                )
        return len(items)
