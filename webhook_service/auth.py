"""Who is calling: the bearer token's actor, as a dependency (`CurrentActor`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.identity.actor import Actor
from core.identity.api_tokens import NotAuthenticated, read_token
from webhook_service.deps import ContextDep

bearer = HTTPBearer(auto_error=False, description="A token from `python -m core.cli token`")


def current_actor(
    context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("Send 'Authorization: Bearer <token>'.")
    return read_token(context.settings, credentials.credentials)


CurrentActor = Annotated[Actor, Depends(current_actor)]
