"""REMINDER_SCHEDULE as days, and how a step's day and words are worked out."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from core.audit import describe_action
from core.billing.reminders import ACTION, step_day, stripe_emails_customers, timing
from core.config import Settings, parse_reminder_schedule


def test_the_schedule_is_distinct_days_in_order() -> None:
    assert parse_reminder_schedule("-3,0,3,7,14") == (-3, 0, 3, 7, 14)
    assert parse_reminder_schedule(" 7, -1 ,2") == (-1, 2, 7)
    assert parse_reminder_schedule("") == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [("3,x", "whole days"), ("1.5", "whole days"), ("3,3", "twice"), ("400", "within a year")],
)
def test_a_bad_schedule_is_refused_by_name(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_reminder_schedule(text)
    with pytest.raises(ValidationError, match=says):
        Settings(_env_file=None, reminder_schedule=text)  # type: ignore[call-arg]


def test_settings_default_to_the_usual_schedule() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.reminder_steps == (-3, 0, 3, 7, 14)


def test_a_step_falls_on_a_utc_calendar_day_from_the_due_date() -> None:
    due = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    assert step_day(due, -3) == date(2026, 3, 6)
    assert step_day(due, 0) == date(2026, 3, 9)
    assert step_day(due, 14) == date(2026, 3, 23)


def test_steps_in_words() -> None:
    assert [timing(s) for s in (-3, -1, 0, 1, 7)] == [
        "due in 3 days",
        "due in 1 day",
        "due today",
        "1 day late",
        "7 days late",
    ]


def test_only_live_mode_keys_mean_stripe_e_mails_the_customer() -> None:
    assert stripe_emails_customers("sk_live_abc") and stripe_emails_customers("rk_live_abc")
    assert not stripe_emails_customers("sk_test_abc")
    assert not stripe_emails_customers("sk_test_sandbox")


def test_reminder_actions_read_as_words_in_the_audit_log() -> None:
    assert describe_action(ACTION) == "Payment reminder sent"
    assert describe_action("reminders.paused") == "Payment reminders paused"
    assert describe_action("reminders.resumed") == "Payment reminders resumed"
