"""The job drawer's money that moved back: what was paid, refunded, held or lost in
disputes, and each refund and dispute with its date, status and reason.

It reads the job's view (core.jobs.view.job_details, `money_back`), which has the same
words as the job's REST view and timeline. A refund's reason is a person's words and a
dispute's Stripe's: shown in tables, as text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.components.formatting import dollars, money, when

DOLLARS = st.column_config.NumberColumn("Amount", format="dollar")


def _day(value: object) -> str:
    return when(datetime.fromisoformat(value)) if isinstance(value, str) else "—"


def _refunds(lines: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Date": _day(line["created"]),
                "Amount": dollars(line["amount"]),
                "Status": line["status_text"],
                "Reason": line["memo"] or (line["reason"] or "").replace("_", " "),
            }
            for line in lines
        ]
    )


def _disputes(lines: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Opened": _day(line["created"]),
                "Amount": dollars(line["amount"]),
                "Status": line["status_text"],
                "Evidence due by": _day(line["evidence_due_by"]) if not line["outcome"] else "—",
                "Outcome": line["outcome"] or "open: the money is held",
            }
            for line in lines
        ]
    )


def money_back_section(info: dict[str, object]) -> None:
    """Nothing for a job no money moved back on; else the figures, then each row."""
    back = info.get("money_back")
    if not isinstance(back, dict) or not (back["refunds"] or back["disputes"]):
        return
    payment = info["payment"]
    assert isinstance(payment, dict)
    with st.container(key="job_money_back"):
        st.markdown("**Money back**")
        figures = st.container(horizontal=True, gap="small")
        figures.metric("Paid", money(int(payment["amount"])), width="content")
        figures.metric("Refunded", money(int(back["refunded"])), width="content")
        if back["disputed"]:
            figures.metric(
                "Held in dispute",
                money(int(back["disputed"])),
                help="The bank holds it until it decides; earnings change only if it is lost",
                width="content",
            )
        if back["dispute_lost"]:
            figures.metric("Lost in dispute", money(int(back["dispute_lost"])), width="content")
        if back["refunds"]:
            st.caption("Refunds")
            st.dataframe(
                _refunds(back["refunds"]),
                hide_index=True,
                column_config={"Amount": DOLLARS},
                key="job_refunds",
            )
        if back["disputes"]:
            st.caption("Disputes")
            st.dataframe(
                _disputes(back["disputes"]),
                hide_index=True,
                column_config={"Amount": DOLLARS},
                key="job_disputes",
            )
