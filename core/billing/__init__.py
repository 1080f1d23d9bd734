"""Money in through Stripe: the gateway (the only `stripe` import), invoicing, our invoice
copies and the current-invoice rule, webhooks, payments applied, reconciliation, replay."""
