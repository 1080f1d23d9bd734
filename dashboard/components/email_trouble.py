"""The e-mail that needs a person, as counts that open the Outbox page."""

from __future__ import annotations

import streamlit as st

from core.billing.webhook_activity import EmailTrouble
from dashboard.components.home_tiles import count_of, link

OUTBOX = "app_pages/outbox.py"


def email_trouble_links(trouble: EmailTrouble) -> None:
    """Failed deliveries and messages held for want of SMTP_URL, each a link to the outbox."""
    link(OUTBOX, f"{count_of(trouble.failed, 'e-mail')} failed")
    # Short enough for a tile's width (a link's label does not wrap); the help says why.
    st.page_link(
        OUTBOX,
        label=f"{trouble.not_configured} waiting for SMTP",
        icon=":material/arrow_forward:",
        help="E-mail is not configured (SMTP_URL is not set): these go out once it is",
    )
