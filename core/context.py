"""What a running process holds: settings, the database, and the Stripe gateway."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.billing.stripe_gateway import StripeGateway
from core.config import Settings, get_settings
from core.db.session import make_engine, make_session_factory


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    gateway: StripeGateway

    @classmethod
    def create(cls, settings: Settings | None = None) -> AppContext:
        settings = settings or get_settings()
        engine = make_engine(settings.database_url)
        return cls(settings, engine, make_session_factory(engine), StripeGateway(settings))

    def close(self) -> None:
        self.engine.dispose()
