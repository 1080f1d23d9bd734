"""Pieces the home pages share: links that open a filtered list, counts in words, and the
chart of money collected per month."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from core.reporting.earnings import Bucket
from core.reporting.overview import Figure, MoneyBack
from dashboard.components.formatting import BRAND, money
from dashboard.components.safe_text import md


def count_of(count: int, thing: str) -> str:
    return f"{count} {thing}{'' if count == 1 else 's'}"


def link(page: str, label: str, **query: str) -> None:
    """A link to another page of the app, opening it with `query` as its URL filters."""
    st.page_link(page, label=label, icon=":material/arrow_forward:", query_params=query or None)


TILE_HEIGHT = 250  # px: every tile of a row the same size, whatever it holds


def tile(column: DeltaGenerator) -> DeltaGenerator:
    """A bordered card in `column` for one figure, its words and its links."""
    return column.container(border=True, height=TILE_HEIGHT)


def month_so_far(
    label: str, this: Figure, last: Figure, so_far: Figure, *, net_of: MoneyBack | None = None
) -> None:
    """A month's money as a metric: this month, the change against last month up to the
    same day and time, and last month's whole under it. With `net_of`, the figures are net
    of that money back (this month's), which a caption beside it shows."""
    net = " net of refunds and lost disputes" if net_of is not None else ""
    st.metric(
        label,
        money(this.amount),
        delta=money(this.amount - so_far.amount),
        delta_description="vs last month",
        help=f"{count_of(this.count, 'payment')} so far this month{net}; the change is "
        "against last month up to the same day and time",
    )
    if net_of is not None:
        st.caption(money_back_words(this.amount + net_of.amount, net_of))
    st.caption(f"Last month: {md(money(last.amount))} from {count_of(last.count, 'payment')}")


def money_back_words(received: int, back: MoneyBack) -> str:
    """'$1,800.00 received, $130.00 refunded, $300.00 lost in disputes' (markdown)."""
    parts = [f"{money(received)} received", f"{money(back.refunded.amount)} refunded"]
    if back.disputes_lost.amount:
        parts.append(f"{money(back.disputes_lost.amount)} lost in disputes")
    return md(", ".join(parts))


def collected_chart(months: list[Bucket], *, key: str, title: str = "Collected") -> None:
    """Money received per month as bars, dollars numeric so the axis and hover read as money;
    `title` names it ("Collected", "Earned")."""
    frame = pd.DataFrame(
        {
            "Month": [m.label[:7] for m in months],
            f"{title} ($)": [m.amount / 100 for m in months],
            "Payments": [m.count for m in months],
        }
    )
    chart = px.bar(
        frame,
        x="Month",
        y=f"{title} ($)",
        hover_data=["Payments"],
        color_discrete_sequence=[BRAND],
    )
    chart.update_xaxes(type="category")
    chart.update_layout(margin={"t": 20, "b": 10}, height=320, yaxis_tickprefix="$")
    st.plotly_chart(chart, width="stretch", key=key)
