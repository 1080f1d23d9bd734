"""What a running process holds: settings, the database, and the Stripe gateway."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.billing.stripe_gateway import StripeGateway
from core.config import Settings, get_settings
from core.db.session import make_engine, make_read_session_factory, make_session_factory


@dataclass
class AppContext:
    """`sessions` for units of work that write; `readers` for those that only read (on
    SQLite they take no write lock, so a reader never holds up a webhook, and they refuse
    to write). Both share `engine`'s pool."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    gateway: StripeGateway

    @classmethod
    def create(cls, settings: Settings | None = None) -> AppContext:
        settings = settings or get_settings()
        engine = make_engine(settings.database_url)
        return cls(
            settings,
            engine,
            make_session_factory(engine),
            make_read_session_factory(engine),
            StripeGateway(settings),
        )

    def reading(self) -> AppContext:
        """This context with `sessions` bound to the readers, for a core function that takes
        a context and only reads (a write through it raises). Do not close it: the engine
        is this context's."""
        return replace(self, sessions=self.readers)

    def close(self) -> None:
        self.engine.dispose()
