"""The session cookie's name, the routes that set and clear it, and where they may send
the browser afterwards."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

COOKIE_NAME = "jtp_session"
START_PATH = "/session/start"
END_PATH = "/session/end"
HOME = "/"


def safe_next(target: str | None) -> str:
    """`target` if it is a path of this app (with its query), else the home page.

    Only a path that starts with a single "/" is kept: "//host", "/\\host", "https://..."
    and anything with a scheme or host would let a link send people to another site.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return HOME
    if any(ord(char) < 0x20 or char == "\\" for char in target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith("/session/"):
        return HOME
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start_url(ticket: str, next_path: str) -> str:
    return f"{START_PATH}?{urlencode({'ticket': ticket, 'next': safe_next(next_path)})}"
