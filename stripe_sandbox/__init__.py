"""A local, stateful server that speaks Stripe's API for the calls this system makes."""
