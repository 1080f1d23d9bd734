"""Exports too big for a page request, written to a file in the background.

An export of more than `BACKGROUND_ROWS` rows (`in_background`) is queued (`queue`) and
then run by a worker (`run`, in a thread of the caller's): it streams the rows from the
database into `<id>.part` under the export directory (`Settings.export_dir`), renames it
to `<id>.csv` or `<id>.xlsx` when complete, and reports its progress (rows done out of
the rows counted at the start) to `<id>.json` beside it. `status` reads that file back,
for the page's progress bar; `result` is the finished file. No database table is
involved: the files are the record, and `prune` removes them after `KEEP_FOR`.

The status file names the actor who queued the export; anyone else asking for it gets
"not found", like any other object they may not see. Ids are random, so they cannot be
guessed either. A failure is recorded in the status (`failed`, with the reason) and the
partial file removed; an export whose worker stopped without a word (the process ended)
reads as failed once it has not reported for `STALE_AFTER`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session, sessionmaker

from core.db.models import utcnow
from core.db.session import session_scope
from core.errors import AppError, Conflict, InvalidInput, NotFound
from core.identity.actor import Actor
from core.identity.permissions import require
from core.reporting import export_sources
from core.reporting.export_sources import FORMATS, UNNAMED, DetailSpec, Format, Provenance
from core.reporting.exports import fits_xlsx

log = logging.getLogger(__name__)

BACKGROUND_ROWS = 50_000  # more than this and an export is a file made in the background
STALE_AFTER = timedelta(minutes=10)
KEEP_FOR = timedelta(days=1)
PROGRESS_EVERY_SECONDS = 0.5  # how often a running export rewrites its status file
_ID = re.compile(r"^[0-9a-f]{32}$")

State = Literal["queued", "running", "done", "failed"]


def in_background(rows: int) -> bool:
    """Whether an export of `rows` rows is made in the background rather than in a page
    request."""
    return rows > BACKGROUND_ROWS


@dataclass(frozen=True)
class ExportStatus:
    id: str
    actor: str  # Actor.label of who queued it
    spec: DetailSpec
    format: Format
    state: State
    rows_done: int
    rows_total: int | None  # counted when the export starts
    created_at: datetime
    updated_at: datetime
    error: str | None = None
    provenance: Provenance = UNNAMED  # for the workbook's parameters sheet

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    @property
    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        if not self.rows_total:
            return 0.0
        return min(self.rows_done / self.rows_total, 1.0)

    @property
    def file_name(self) -> str:
        """The name the download gets."""
        return self.spec.file_name(self.format, on=self.created_at.date())

    @property
    def mime_type(self) -> str:
        return export_sources.MIME_TYPES[self.format]


def queue(
    directory: Path,
    *,
    actor: Actor,
    spec: DetailSpec,
    fmt: Format,
    now: datetime | None = None,
    provenance: Provenance = UNNAMED,
) -> ExportStatus:
    """Record a new export as queued (its status file) and return it; `run` makes it."""
    require(actor, "reports.read")
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}")
    directory.mkdir(parents=True, exist_ok=True)
    now = now or utcnow()
    prune(directory, now=now)
    status = ExportStatus(
        uuid.uuid4().hex, actor.label, spec, fmt, "queued", 0, None, now, now, None, provenance
    )
    _save(directory, status)
    return status


def run(
    directory: Path, job_id: str, readers: sessionmaker[Session], *, actor: Actor
) -> ExportStatus:
    """Make a queued export: count its rows, stream them into the file, keep the status
    file up to date, and finish `done` or `failed`. Never raises for a failed export: the
    status says so."""
    status = _load(directory, job_id, actor)
    part = _part_path(directory, job_id)
    try:
        require(actor, "reports.read")
        if status.state != "queued":
            raise Conflict(f"export {job_id} is {status.state}, not queued")
        with session_scope(readers) as session:
            total = export_sources.count_rows(session, actor=actor, spec=status.spec)
            if status.format == "xlsx" and not fits_xlsx(total):
                raise InvalidInput(f"{total:,} rows do not fit one XLSX sheet; export CSV")
            status = replace(status, state="running", rows_total=total, updated_at=utcnow())
            _save(directory, status)
            reported = time.monotonic()

            def progress(rows: int) -> None:
                nonlocal status, reported
                if time.monotonic() - reported >= PROGRESS_EVERY_SECONDS:
                    status = replace(status, rows_done=rows, updated_at=utcnow())
                    _save(directory, status)
                    reported = time.monotonic()

            with part.open("wb") as out:
                rows = export_sources.write(
                    session,
                    out,
                    actor=actor,
                    spec=status.spec,
                    fmt=status.format,
                    progress=progress,
                    provenance=status.provenance,
                )
        part.replace(_result_path(directory, job_id, status.format))
        status = replace(status, state="done", rows_done=rows, updated_at=utcnow())
    except Exception as error:  # recorded for the person waiting; the traceback for us
        log.exception("export.failed", extra={"export_id": job_id})
        part.unlink(missing_ok=True)
        reason = error.message if isinstance(error, AppError) else str(error) or repr(error)
        status = replace(status, state="failed", error=reason, updated_at=utcnow())
    _save(directory, status)
    return status


def status(
    directory: Path, job_id: str, *, actor: Actor, now: datetime | None = None
) -> ExportStatus:
    """The export's status as its worker last wrote it (an active one that has not
    reported for `STALE_AFTER` reads as failed)."""
    found = _load(directory, job_id, actor)
    now = now or utcnow()
    if found.active and now - found.updated_at > STALE_AFTER:
        return replace(found, state="failed", error="the export stopped before it finished")
    return found


def result(directory: Path, job_id: str, *, actor: Actor) -> Path:
    """The finished export's file."""
    found = status(directory, job_id, actor=actor)
    if found.state != "done":
        raise Conflict(f"export {job_id} is {found.state}")
    path = _result_path(directory, job_id, found.format)
    if not path.is_file():
        raise NotFound(f"export {job_id} is no longer kept")
    return path


def prune(directory: Path, *, now: datetime | None = None, keep: timedelta = KEEP_FOR) -> int:
    """Remove the files of exports last updated more than `keep` ago; returns how many
    exports went."""
    now = now or utcnow()
    removed = 0
    for path in directory.glob("*.json"):
        try:
            found = _parse(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if now - found.updated_at > keep:
            for stale in directory.glob(f"{found.id}.*"):
                stale.unlink(missing_ok=True)
            removed += 1
    return removed


# ---------------------------------------------------------------------------------------
# Files


def _status_path(directory: Path, job_id: str) -> Path:
    return directory / f"{job_id}.json"


def _part_path(directory: Path, job_id: str) -> Path:
    return directory / f"{job_id}.part"


def _result_path(directory: Path, job_id: str, fmt: Format) -> Path:
    return directory / f"{job_id}.{fmt}"


def _save(directory: Path, status: ExportStatus) -> None:
    """Write the status file whole or not at all (a reader never sees half of one)."""
    data = asdict(status)
    data["spec"] = {k: v.isoformat() if isinstance(v, date) else v for k, v in data["spec"].items()}
    for key in ("created_at", "updated_at"):
        data[key] = data[key].isoformat()
    path = _status_path(directory, status.id)
    temporary = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def _parse(data: dict[str, Any]) -> ExportStatus:
    spec = data["spec"]
    return ExportStatus(
        id=str(data["id"]),
        actor=str(data["actor"]),
        spec=DetailSpec(
            kind=spec["kind"],
            start=date.fromisoformat(spec["start"]) if spec["start"] else None,
            end=date.fromisoformat(spec["end"]) if spec["end"] else None,
            basis=spec["basis"],
        ),
        format=data["format"],
        state=data["state"],
        rows_done=int(data["rows_done"]),
        rows_total=None if data["rows_total"] is None else int(data["rows_total"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        error=data.get("error"),
        provenance=Provenance(**data.get("provenance", {})),
    )


def _load(directory: Path, job_id: str, actor: Actor) -> ExportStatus:
    missing = NotFound(f"export {job_id} not found")
    if not _ID.match(job_id):
        raise missing
    try:
        found = _parse(json.loads(_status_path(directory, job_id).read_text()))
    except FileNotFoundError:
        raise missing from None
    if found.actor != actor.label:
        raise missing
    return found
