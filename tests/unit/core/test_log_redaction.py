"""What the log formats write when secrets come their way: in a traceback (line by line, as
JSON escapes line breaks), in bytes, URLs, query strings and fields named like secrets, in
both formats; and a call whose arguments do not fit its format still logs, never raises."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.observability import logs
from core.observability.logs import LogFormat

SECRETS = [
    "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
    "whsec_abcdefABCDEF0123456789",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
    "v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
    "hunter2",
    "p@ss:word",
    "query-token-value",
]


@pytest.fixture(params=["json", "console"])
def written(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    fmt: LogFormat = request.param
    out = logs.handler(fmt, stream)
    logger = logging.getLogger(f"core.test_redaction.{request.param}")
    logger.addHandler(out)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(out)


def test_no_secret_is_written_whatever_carries_it(
    written: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = written
    try:
        raise ValueError(
            f"refused:\n{SECRETS[0]}\n{SECRETS[1]}\nBearer {SECRETS[2]}\nt=1,{SECRETS[3]}"
        )
    except ValueError:
        logger.exception("stripe.call.failed")
    logger.error(
        "db at postgresql://app:%s@db.internal/app, smtp at smtp://ann@example.com:%s@mail",
        SECRETS[4],
        SECRETS[5],
        extra={
            "raw": f"Stripe-Signature: t=1,{SECRETS[3]}".encode(),
            "x-api-key": "plain-key-value",
            "path": f"/x?page=2&access_token={SECRETS[6]}",
            "nested": {"headers": [{"Authorization": "Basic dXNlcjpwYXNz"}]},
        },
    )
    text = stream.getvalue()
    assert [s for s in SECRETS if s in text] == []
    assert "plain-key-value" not in text and "dXNlcjpwYXNz" not in text
    assert "page=2" in text and "db.internal/app" in text  # only the secrets went


def test_a_call_whose_arguments_do_not_fit_logs_and_does_not_raise(
    written: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = written
    logger.info("two places, one value: %s %s", 1)
    assert "two places, one value" in stream.getvalue()


def test_a_json_line_is_one_object_without_uvicorns_coloured_copy() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("core.test_redaction.one_line")
    logger.addHandler(logs.handler("json", stream))
    logger.propagate = False
    logger.warning("uvicorn.said", extra={"color_message": "\x1b[32mhi\x1b[0m", "job_id": 7})
    [line] = stream.getvalue().splitlines()
    written = json.loads(line)
    assert (written["event"], written["job_id"], written["level"]) == ("uvicorn.said", 7, "WARNING")
    assert "color_message" not in written
