"""Who is acting: a customer, a provider, an admin, finance staff, or the system itself.

Core functions take an Actor and enforce scope themselves, so no caller can reach another
owner's data by passing a different id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["customer", "provider", "admin", "finance", "system"]


@dataclass(frozen=True)
class Actor:
    role: Role
    id: int | None = None

    @property
    def label(self) -> str:
        return f"{self.role}:{self.id}" if self.id is not None else self.role


SYSTEM = Actor("system")
