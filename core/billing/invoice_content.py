"""What a customer reads on a job's Stripe invoice: who did the work, which job, when, and what.

Stripe shows an invoice's memo (`description`), up to four custom fields, its footer and
each line's description on the hosted page, the PDF and the e-mail. Each has a length
Stripe refuses past, so every text is cut to fit here (with an ellipsis) rather than have
a long job description stop the invoice from being made. The content is built from our
own rows only, so a retried create sends the very same parameters under its idempotency
key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# Stripe's limits, in characters: the memo 500, the footer 5000; a custom field's name 30
# (what the API answers, tighter than the 40 its reference says) and value 140.
MEMO_LIMIT = 500
FOOTER_LIMIT = 5000
FIELD_NAME_LIMIT = 30
FIELD_VALUE_LIMIT = 140
LINE_LIMIT = 500
MAX_CUSTOM_FIELDS = 4
ELLIPSIS = "…"


def fit(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, the cut marked with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def one_line(text: str) -> str:
    """Custom fields and line descriptions are shown on one line: whitespace runs become one
    space."""
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class InvoiceContent:
    memo: str
    footer: str
    custom_fields: tuple[tuple[str, str], ...]
    line_description: str


def service_date(moment: datetime | None) -> str:
    return moment.strftime("%B %d, %Y").replace(" 0", " ") if moment else "not recorded"


def invoice_content(
    *,
    job_id: int,
    provider: str,
    service: str,
    category: str,
    done_on: datetime | None,
    description: str | None,
) -> InvoiceContent:
    """The invoice's texts for one job, each within Stripe's limit."""
    when = service_date(done_on)
    work = f"{service} - {category}"
    note = (description or "").strip()
    memo = f"{service} by {provider} on {when} (job #{job_id})."
    if note:
        memo += f"\n{note}"
    fields = (
        ("Job", f"#{job_id}"),
        ("Service date", when),
        ("Provider", provider),
    )
    line = f"{work}: {note}" if note else work
    return InvoiceContent(
        memo=fit(memo, MEMO_LIMIT),
        footer=fit(
            f"{provider} did this work through our marketplace. Questions about it? Reply to "
            f"this e-mail and quote job #{job_id}.",
            FOOTER_LIMIT,
        ),
        custom_fields=tuple(
            (fit(name, FIELD_NAME_LIMIT), fit(one_line(value), FIELD_VALUE_LIMIT))
            for name, value in fields[:MAX_CUSTOM_FIELDS]
        ),
        line_description=fit(one_line(line), LINE_LIMIT),
    )
