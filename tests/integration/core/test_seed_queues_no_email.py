"""The demo's history is loaded, not lived: its notifications queue no e-mail, so that a
fresh `make run` with a mail server does not send a year of old payments."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from core.db.models import EmailMessage, Notification
from core.db.session import make_engine, make_session_factory, session_scope
from core.notify.outbox import is_emailed
from core.seed import seed_demo


def test_the_seed_writes_emailed_kinds_of_notification_but_no_outbox_row(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        seed_demo(session, jobs=40, customers=6, now=datetime(2026, 6, 1, tzinfo=UTC))
    with session_scope(sessions) as session:
        kinds = session.scalars(select(Notification.kind)).all()
        queued = session.scalar(select(func.count()).select_from(EmailMessage))
    engine.dispose()
    assert any(is_emailed(kind) for kind in kinds)  # without email=False these would mail
    assert queued == 0
