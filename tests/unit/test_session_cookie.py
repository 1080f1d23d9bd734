"""Where the session routes may send the browser: paths of this app only, never another
site."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from dashboard.components.session_cookie import safe_next, start_url


@pytest.mark.parametrize(
    "target",
    [
        "/",
        "/all_jobs",
        "/all_jobs?job=123",
        "/all_jobs?job=123&status=open&status=paid",
        "/reports?from=2026-01-01#ignored",
    ],
)
def test_paths_of_this_app_are_kept_with_their_query(target: str) -> None:
    assert safe_next(target) == target.split("#")[0]


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "all_jobs",
        "https://evil.example/",
        "//evil.example/all_jobs",
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "/all_jobs\\..\\x",
        "/all_jobs\r\nSet-Cookie: x=1",
        "/\t/evil.example",
        "javascript:alert(1)",
        "/session/start?ticket=abc",
        "/session/end",
    ],
)
def test_anything_else_goes_home(target: str | None) -> None:
    assert safe_next(target) == "/"


def test_the_start_url_carries_the_ticket_and_a_safe_next() -> None:
    url = urlsplit(start_url("tic-ket_1", "/all_jobs?job=5&status=open"))
    assert url.path == "/session/start"
    assert parse_qs(url.query) == {"ticket": ["tic-ket_1"], "next": ["/all_jobs?job=5&status=open"]}
    assert parse_qs(urlsplit(start_url("t", "//evil.example")).query)["next"] == ["/"]
