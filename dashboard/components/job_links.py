"""The jobs pages' view as a link: filters, page, page size and the open job, read from
and written to the address bar's query string, so a copied link opens the same view.

`?job=123` opens job 123; `?status=new&status=completed&search=lee&page=2` lists the new
and completed jobs of customers called Lee, second page; `?invoice=refunded&invoice=disputed`
the jobs whose invoice shows either word (core.billing.invoice_status.SHOWN_STATUSES). Only
values that differ from the defaults are written, so a plain view has a plain address.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from core.billing.invoice_status import SHOWN_STATUSES

PARAMS = (
    "job",
    "status",
    "invoice",
    "provider",
    "search",
    "from",
    "to",
    "overdue",
    "page",
    "size",
)
DEFAULT_PAGE_SIZE = 25


@dataclass(frozen=True)
class View:
    job_id: int | None = None
    statuses: tuple[str, ...] = ()
    provider_id: int | None = None
    search: str = ""
    created_from: date | None = None
    created_to: date | None = None
    overdue: bool = False
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    invoice_statuses: tuple[str, ...] = ()


def to_params(view: View) -> dict[str, list[str]]:
    """The query string of `view`: each parameter's values, defaults left out."""
    params: dict[str, list[str]] = {}
    if view.job_id is not None:
        params["job"] = [str(view.job_id)]
    if view.statuses:
        params["status"] = list(view.statuses)
    if view.invoice_statuses:
        params["invoice"] = list(view.invoice_statuses)
    if view.provider_id is not None:
        params["provider"] = [str(view.provider_id)]
    if view.search:
        params["search"] = [view.search]
    if view.created_from is not None:
        params["from"] = [view.created_from.isoformat()]
    if view.created_to is not None and view.created_to != view.created_from:
        params["to"] = [view.created_to.isoformat()]
    if view.overdue:
        params["overdue"] = ["1"]
    if view.page != 1:
        params["page"] = [str(view.page)]
    if view.page_size != DEFAULT_PAGE_SIZE:
        params["size"] = [str(view.page_size)]
    return params


def from_params(
    params: Mapping[str, Sequence[str]],
    *,
    statuses: Collection[str],
    provider_ids: Collection[int] | None,
    page_sizes: Collection[int],
    invoice_statuses: Collection[str] = SHOWN_STATUSES,
) -> tuple[View, list[str]]:
    """The view a query string asks for, and what in it could not be used (each such
    part is left at its default). `provider_ids` None: the page has no provider filter
    (a provider's own jobs), so a provider in the link is not theirs to set."""
    problems: list[str] = []

    def one(name: str) -> str | None:
        values = params.get(name) or []
        return values[-1] if values else None

    def whole(name: str, allowed: Collection[int] | None = None) -> int | None:
        text = one(name)
        if text is None:
            return None
        if text.isdigit() and int(text) > 0 and (allowed is None or int(text) in allowed):
            return int(text)
        problems.append(f"{name}={text}")
        return None

    def day(name: str) -> date | None:
        text = one(name)
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            problems.append(f"{name}={text}")
            return None

    def words(name: str, known: Collection[str]) -> tuple[str, ...]:
        chosen: list[str] = []
        for word in params.get(name) or []:
            if word in known and word not in chosen:
                chosen.append(word)
            elif word not in known:
                problems.append(f"{name}={word}")
        return tuple(chosen)

    chosen = words("status", statuses)
    invoice = words("invoice", invoice_statuses)
    provider_id = None
    if provider_ids is not None:
        provider_id = whole("provider", provider_ids)
    created_from, created_to = day("from"), day("to")
    if created_from is None and created_to is not None:
        created_from = created_to
    if created_from is not None and created_to is not None and created_to < created_from:
        created_from, created_to = created_to, created_from
    overdue = one("overdue") in ("1", "true", "yes")
    view = View(
        job_id=whole("job"),
        statuses=chosen,
        provider_id=provider_id,
        search=(one("search") or "").strip(),
        created_from=created_from,
        created_to=created_to or created_from,
        overdue=overdue,
        page=whole("page") or 1,
        page_size=whole("size", page_sizes) or DEFAULT_PAGE_SIZE,
        invoice_statuses=invoice,
    )
    return view, problems
