from tests.support.receiver import Receiver
from tests.support.sandbox import SandboxControl


def test_send_invoice_then_pay_delivers_signed_invoice_paid(
    sandbox: SandboxControl, receiver: Receiver
) -> None:
    client = sandbox.client
    customer = client.v1.customers.create(params={"name": "Ann", "metadata": {"user_id": "7"}})
    invoice = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "collection_method": "send_invoice",
            "days_until_due": 7,
            "metadata": {"job_id": "1"},
        }
    )
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 15000}
    )
    sent = client.v1.invoices.send_invoice(invoice.id)
    assert sent.status == "open"
    paid = client.v1.invoices.pay(invoice.id, params={"payment_method": "pm_card_visa"})
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 15000, 0)
    assert sandbox.drain() == 0
    assert "invoice.paid" in receiver.types()
    assert receiver.rejected == []
