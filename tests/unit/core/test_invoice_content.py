"""The texts a job's invoice carries, each cut to Stripe's limit rather than refused."""

from __future__ import annotations

from datetime import UTC, datetime

from core.billing.invoice_content import (
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    LINE_LIMIT,
    MEMO_LIMIT,
    fit,
    invoice_content,
)

DONE = datetime(2026, 6, 5, 15, 30, tzinfo=UTC)


def test_the_invoice_names_provider_job_date_and_work() -> None:
    made = invoice_content(
        job_id=42,
        provider="Rivera Plumbing",
        service="Plumbing",
        category="Home Repair",
        done_on=DONE,
        description="Kitchen sink\nleaks at the joint",
    )
    assert made.custom_fields == (
        ("Job", "#42"),
        ("Service date", "June 5, 2026"),
        ("Provider", "Rivera Plumbing"),
    )
    assert made.memo == (
        "Plumbing by Rivera Plumbing on June 5, 2026 (job #42).\nKitchen sink\nleaks at the joint"
    )
    assert made.line_description == "Plumbing - Home Repair: Kitchen sink leaks at the joint"
    assert "job #42" in made.footer and "Rivera Plumbing" in made.footer


def test_without_a_description_the_line_is_the_service() -> None:
    made = invoice_content(
        job_id=7,
        provider="P",
        service="Plumbing",
        category="Home Repair",
        done_on=None,
        description=None,
    )
    assert made.line_description == "Plumbing - Home Repair"
    assert made.memo == "Plumbing by P on not recorded (job #7)."


def test_long_texts_are_cut_to_stripes_limits() -> None:
    made = invoice_content(
        job_id=42,
        provider="A provider with a very long trading name " * 10,
        service="Plumbing",
        category="Home Repair",
        done_on=DONE,
        description="word " * 2000,
    )
    assert len(made.memo) == MEMO_LIMIT and made.memo.endswith("…")
    assert len(made.line_description) <= LINE_LIMIT and made.line_description.endswith("…")
    for name, value in made.custom_fields:
        assert len(name) <= FIELD_NAME_LIMIT and len(value) <= FIELD_VALUE_LIMIT
    assert dict(made.custom_fields)["Provider"].endswith("…")


def test_fit_keeps_short_text_and_marks_a_cut() -> None:
    assert fit("  short  ", 10) == "short"
    assert fit("x" * 10, 10) == "x" * 10
    assert fit("x" * 11, 10) == "x" * 9 + "…"
