"""Dependencies that read as types: `ContextDep` is the process's AppContext."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.context import AppContext


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]
