"""Webhook outcomes and repair results in words a person reads ("Amount does not match"
rather than `amount_mismatch`), for the admin pages and the CLI."""

from __future__ import annotations

import re

OUTCOME_TEXT = {
    "applied": "Payment applied",
    "already_applied": "Already applied",
    "duplicate": "Duplicate (handled before)",
    "customer_notified": "Customer notified",
    "recorded": "Recorded",
    "ignored": "Ignored",
    "ignored_already_paid": "Ignored (already paid)",
    "ignored_job_cancelled": "Ignored (the job was cancelled)",
    "pending": "Not handled yet",
    "failed": "Failed (Stripe retries it)",
    "error": "Error while handling",
    "rejected": "Refused",
    "orphan": "Names no job of ours",
    "amount_mismatch": "Amount does not match",
    "job_cancelled": "Paid for a cancelled job",
    "malformed": "Malformed",
}
# Only the identifiers (`already_applied`), never plain words such as "applied".
_OUTCOME = re.compile(r"\b(" + "|".join(k for k in OUTCOME_TEXT if "_" in k) + r")\b")


def describe_outcome(outcome: str | None) -> str:
    if outcome is None:
        return OUTCOME_TEXT["pending"]
    return OUTCOME_TEXT.get(outcome, outcome.replace("_", " ").capitalize())


def sentence(text: str) -> str:
    """A message as a sentence: outcome words spelled out, a capital first, a full stop."""
    text = _OUTCOME.sub(lambda match: OUTCOME_TEXT[match.group(1)].lower(), text.strip())
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."
