"""Download buttons whose files are made only when someone asks for them.

A report or a small export is a download button with a callable (`data=callable`):
Streamlit calls it when the button is clicked, on a thread of its own, so a rerun of the
page builds no file at all. An export too big for a page request (core decides:
`export_jobs.in_background`) is prepared in the background instead: "Prepare" queues it
in core, a worker thread here runs it into a file under `EXPORT_DIR`, a fragment polls its
status file every second for the progress bar, and once it is done a download button
hands over the file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import streamlit as st

from core.errors import NotFound
from core.identity.actor import Actor
from core.reporting import export_jobs, export_sources, exports
from core.reporting.export_jobs import ExportStatus
from core.reporting.export_sources import (
    FORMATS,
    MIME_TYPES,
    UNNAMED,
    DetailSpec,
    Format,
    Provenance,
)
from core.reporting.exports import Column, Total
from dashboard.components.runtime import context, settings
from dashboard.components.safe_text import md

# Two exports at a time at most, beside the page scripts, on the dashboard's process.
_WORKERS = 2
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
POLL_SECONDS = 1.0
ICON = ":material/download:"


def _workers() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="export")
        return _pool


def report_downloads(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Any]],
    total: Total,
    *,
    name: str,
    title: str,
    key: str,
    about: Callable[[], exports.About] = tuple,
) -> None:
    """CSV and XLSX buttons for a report already on the page, made from its rows on click;
    `about` gives the workbook's parameters sheet, when the file is made."""
    a, b = st.columns(2)
    a.download_button(
        "Download CSV",
        data=partial(exports.to_csv, columns, rows, total),
        file_name=f"{name}.csv",
        mime=MIME_TYPES["csv"],
        key=f"{key}_csv",
        icon=ICON,
        on_click="ignore",
    )
    b.download_button(
        "Download XLSX",
        data=lambda: exports.to_xlsx(columns, rows, total, title=title, about=about()),
        file_name=f"{name}.xlsx",
        mime=MIME_TYPES["xlsx"],
        key=f"{key}_xlsx",
        icon=ICON,
        on_click="ignore",
    )


def detail_downloads(
    actor: Actor,
    spec: DetailSpec,
    rows: int,
    *,
    key: str,
    provenance: Provenance = UNNAMED,
) -> None:
    """The detail export of `spec` (about `rows` rows): made on click when small, else
    prepared in the background with its progress shown, then downloaded."""
    if not export_jobs.in_background(rows):
        readers = context().readers
        for column, fmt in zip(st.columns(2), FORMATS, strict=True):
            column.download_button(
                f"Download {fmt.upper()}",
                data=partial(
                    export_sources.build,
                    readers,
                    actor=actor,
                    spec=spec,
                    fmt=fmt,
                    provenance=provenance,
                ),
                file_name=spec.file_name(fmt),
                mime=MIME_TYPES[fmt],
                key=f"{key}_{fmt}",
                icon=ICON,
                on_click="ignore",
            )
        return

    job = _current(actor, key)
    if job is None or not job.active:
        st.caption(f"{rows:,} rows: prepared as a file in the background, then downloaded.")
        a, b = st.columns(2)
        a.button(
            "Prepare CSV",
            key=f"{key}_prepare_csv",
            on_click=_start,
            args=(actor, spec, "csv", key, provenance),
            icon=":material/hourglass_top:",
        )
        b.button(
            "Prepare XLSX",
            key=f"{key}_prepare_xlsx",
            on_click=_start,
            args=(actor, spec, "xlsx", key, provenance),
            icon=":material/hourglass_top:",
            disabled=not exports.fits_xlsx(rows),
            help=None if exports.fits_xlsx(rows) else "More rows than one XLSX sheet holds",
        )
    if job is None:
        return
    if job.active:
        _progress(actor, job.id)
    elif job.state == "done":
        try:
            path = export_jobs.result(_directory(), job.id, actor=actor)
        except NotFound:
            st.session_state.pop(_job_key(key), None)
            return
        st.download_button(
            f"Download {job.file_name}",
            data=path.read_bytes,
            file_name=job.file_name,
            mime=job.mime_type,
            key=f"{key}_file",
            icon=ICON,
            type="primary",
            on_click="ignore",
        )
        st.caption(f"{job.rows_done:,} rows, ready.")
    else:
        st.error(f"The export failed: {md(job.error)}")


def _directory() -> Path:
    return settings().export_dir


def _job_key(key: str) -> str:
    return f"{key}_export_job"


def _current(actor: Actor, key: str) -> ExportStatus | None:
    job_id = st.session_state.get(_job_key(key))
    if not isinstance(job_id, str):
        return None
    try:
        return export_jobs.status(_directory(), job_id, actor=actor)
    except NotFound:
        st.session_state.pop(_job_key(key), None)
        return None


def _start(actor: Actor, spec: DetailSpec, fmt: Format, key: str, provenance: Provenance) -> None:
    directory = _directory()
    job = export_jobs.queue(directory, actor=actor, spec=spec, fmt=fmt, provenance=provenance)
    _workers().submit(export_jobs.run, directory, job.id, context().readers, actor=actor)
    st.session_state[_job_key(key)] = job.id


@st.fragment(run_every=POLL_SECONDS)
def _progress(actor: Actor, job_id: str) -> None:
    """The running export's progress, read again every second; the whole page again once
    it has finished, to show its download (or its failure)."""
    try:
        job = export_jobs.status(_directory(), job_id, actor=actor)
    except NotFound:
        job = None
    if job is None or not job.active:
        st.rerun()
        return
    if job.state == "queued":
        text = f"Waiting to prepare {job.file_name}…"
    elif job.rows_total is None:
        text = f"Preparing {job.file_name}…"
    else:
        text = f"Preparing {job.file_name}: {job.rows_done:,} of {job.rows_total:,} rows"
    st.progress(job.fraction, text=text)
