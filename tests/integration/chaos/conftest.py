"""The chaos runs' figures, printed after the test session's summary (in one process, as
`make chaos` runs it; under xdist each worker keeps its own)."""

from __future__ import annotations

import pytest

FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def chaos_figures(request: pytest.FixtureRequest) -> list[str]:
    """Lines a chaos run adds for the summary."""
    return request.config.stash.setdefault(FIGURES, [])


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("chaos run")
        for line in lines:
            terminalreporter.write_line(line)
