"""Disputes, as Stripe's test card 4000 0000 0000 0259 (`pm_card_createDispute`) makes them.

The payment succeeds, then the cardholder disputes it: the dispute opens needing a
response and the amount is withdrawn. Evidence whose `uncategorized_text` is
`winning_evidence` or `losing_evidence`, once submitted, closes it won (the funds are
reinstated) or lost, as Stripe's test mode closes it; other evidence leaves it under review.
"""

from __future__ import annotations

from typing import Any

from stripe_sandbox.errors import invalid_request
from stripe_sandbox.objects import clean_metadata
from stripe_sandbox.sandbox import Sandbox
from stripe_sandbox.store import StripeObject, new_id

DISPUTING_METHODS = {"pm_card_createDispute"}
# Stripe gives the merchant about a week to answer a dispute.
RESPONSE_WINDOW_SECONDS = 7 * 86400
OUTCOMES = {"winning_evidence": "won", "losing_evidence": "lost"}
CLOSED = ("won", "lost")


def open_dispute(sandbox: Sandbox, charge: StripeObject) -> StripeObject:
    now = sandbox.now()
    dispute = sandbox.store.add(
        "dispute",
        {
            "id": new_id("dispute"),
            "object": "dispute",
            "amount": charge["amount"],
            "charge": charge["id"],
            "created": now,
            "currency": charge["currency"],
            "evidence": {"uncategorized_text": None},
            "evidence_details": {
                "due_by": now + RESPONSE_WINDOW_SECONDS,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            # Stripe copies no metadata onto a dispute; its payment_intent leads, through
            # the InvoicePayment, back to what was invoiced.
            "metadata": {},
            "payment_intent": charge["payment_intent"],
            "reason": "fraudulent",
            "status": "needs_response",
        },
    )
    charge["disputed"] = True
    sandbox.store.touch()
    sandbox.emit("charge.dispute.created", dispute)
    sandbox.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def update(sandbox: Sandbox, dispute: StripeObject, p: dict[str, Any]) -> StripeObject:
    if dispute["status"] in CLOSED:
        raise invalid_request(
            f"This dispute is already closed ({dispute['status']}); it cannot be updated."
        )
    before = {key: _copy(dispute[key]) for key in ("evidence", "evidence_details", "status")}
    before["metadata"] = dict(dispute["metadata"])
    text = (p.get("evidence") or {}).get("uncategorized_text")
    if text is not None:
        dispute["evidence"]["uncategorized_text"] = text
        dispute["evidence_details"]["has_evidence"] = True
    if p.get("metadata") is not None:
        merged = {**dispute["metadata"], **p["metadata"]}
        dispute["metadata"] = clean_metadata(merged)
    # Stripe submits the evidence at once unless told not to.
    if p.get("submit", True):
        dispute["evidence_details"]["submission_count"] += 1
        outcome = OUTCOMES.get(dispute["evidence"]["uncategorized_text"] or "")
        dispute["status"] = outcome or "under_review"
    sandbox.store.touch()
    changed = {key: value for key, value in before.items() if dispute[key] != value}
    if dispute["status"] in CLOSED:
        sandbox.emit("charge.dispute.closed", dispute, previous_attributes=changed)
        if dispute["status"] == "won":
            sandbox.emit("charge.dispute.funds_reinstated", dispute)
    elif changed:
        sandbox.emit("charge.dispute.updated", dispute, previous_attributes=changed)
    return dispute


def evidence(name: str, value: Any) -> dict[str, str]:
    """The `evidence` hash; the sandbox reads the free text Stripe's test mode acts on."""
    if not isinstance(value, dict):
        raise invalid_request(f"Invalid object: {name} must be an object.", param=name)
    for key in value:
        if key != "uncategorized_text":
            raise invalid_request(f"Received unknown parameter: {name}[{key}]", param=name)
    text = value.get("uncategorized_text", "")
    if not isinstance(text, str) or len(text) > 20000:
        raise invalid_request(
            f"Invalid {name}[uncategorized_text]: at most 20000 characters.", param=name
        )
    return {"uncategorized_text": text}


def _copy(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else value
