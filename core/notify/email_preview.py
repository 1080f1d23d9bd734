"""Every kind of e-mail rendered with sample facts, for admins to read before customers do."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from core.errors import InvalidInput
from core.identity.actor import Actor
from core.identity.permissions import require
from core.notify.email_facts import EmailFacts
from core.notify.emails import KINDS, RenderedEmail, render

# What each kind is, in the words an admin picks it by.
KIND_TITLES = {
    "invoice_sent": "Invoice waiting, with the pay link",
    "payment_confirmed": "Payment confirmed (to the customer)",
    "payment_failed": "Payment failed, with the retry link",
    "payment_received": "Payment received (to the provider)",
    "reminder": "Payment reminder",
    "refund": "Refund (to the customer)",
    "refund_recorded": "Refund (to the provider)",
    "dispute_opened": "Payment disputed (to the provider)",
    "dispute_won": "Dispute won (to the provider)",
    "dispute_lost": "Dispute lost (to the provider)",
}
# Every field a person or Stripe writes, filled with markup: the preview shows it as text.
MARKUP = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> **bold** [link](https://evil.example)"
)

SAMPLE = EmailFacts(
    recipient_name="Ann Lee",
    job_number=1042,
    service="Plumbing",
    provider="Rivera Plumbing & Heating",
    customer="Ann Lee",
    job_date=date(2026, 11, 28),
    description="Kitchen sink: replaced the trap and the tap's cartridge",
    amount=15000,
    currency="usd",
    pay_url="https://invoice.stripe.com/i/acct_sample/test_sample",
    due_date=date(2026, 12, 5),
    invoice_number="A1B2C3D4-0007",
    title="Sample notification",
    body="The text of the notification this e-mail was queued for.",
)
# A partial refund: half the price back, with the reason the admin wrote.
_REFUND: dict[str, object] = {
    "amount": 7500,
    "paid": 15000,
    "still_paid": 7500,
    "pay_url": None,
    "reason": "The visit was cut short; half the price back.",
}
_DISPUTE: dict[str, object] = {
    "recipient_name": SAMPLE.provider,
    "paid": 15000,
    "still_paid": 15000,
    "pay_url": None,
}
# What differs from the sample, per kind: whom it goes to and what only that kind says.
_PER_KIND: dict[str, dict[str, object]] = {
    "payment_received": {"recipient_name": SAMPLE.provider, "pay_url": None},
    "payment_confirmed": {"pay_url": None},
    "reminder": {"days": 3},
    "refund": _REFUND,
    "refund_recorded": {**_REFUND, "recipient_name": SAMPLE.provider},
    "dispute_opened": {**_DISPUTE, "evidence_due": date(2026, 12, 20)},
    "dispute_won": _DISPUTE,
    "dispute_lost": _DISPUTE,
}


def sample_for(kind: str, *, with_markup: bool = False) -> EmailFacts:
    """Made-up facts for `kind`; `with_markup` writes markup into every written field."""
    if kind not in KINDS:
        raise InvalidInput(f"{kind!r} is not a kind of e-mail; one of {', '.join(KINDS)}")
    facts = replace(SAMPLE, **_PER_KIND.get(kind, {}))  # type: ignore[arg-type]
    if not with_markup:
        return facts
    return replace(
        facts,
        recipient_name=f"Ann {MARKUP}",
        service=f"Plumbing {MARKUP}",
        provider=f"Rivera {MARKUP}",
        customer=f"Ann {MARKUP}",
        description=f"Kitchen sink\n{MARKUP}",
        invoice_number=f"A1B2 {MARKUP}",
        reason=f"Cut short\n{MARKUP}" if facts.reason else None,
        title=f"Notice {MARKUP}",
        body=f"Body\n{MARKUP}",
    )


def preview(
    actor: Actor, kind: str, sample: EmailFacts | None = None, *, with_markup: bool = False
) -> RenderedEmail:
    """The e-mail of `kind` as it would go out with `sample` (by default, made-up facts)."""
    require(actor, "emails.preview")
    facts = sample_for(kind, with_markup=with_markup)
    return render(kind, sample if sample is not None else facts)
