"""The e-mail that needs a person, as counts that open the Outbox page."""

from __future__ import annotations

import streamlit as st

from core.billing.webhook_activity import EmailTrouble
from dashboard.components.home_tiles import count_of, link

OUTBOX = "app_pages/outbox.py"


def email_trouble_links(trouble: EmailTrouble) -> None:
    """Failed deliveries and messages held for want of SMTP_URL, each a link to the outbox."""
    link(OUTBOX, f"{count_of(trouble.failed, 'e-mail')} failed")
    link(OUTBOX, f"{count_of(trouble.not_configured, 'e-mail')} waiting: e-mail is not configured")
    if not trouble.failed and not trouble.not_configured:
        st.caption("Every e-mail went out or is on its way.")
