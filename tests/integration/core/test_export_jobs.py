"""Background exports: a queued export run by a worker writes the complete file and its
status goes queued → running (with progress) → done; a failed one says failed, with the
reason, and leaves no partial file; statuses belong to whoever queued them."""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from core.context import AppContext
from core.db.models import utcnow
from core.db.session import session_scope
from core.errors import Conflict, Forbidden, NotFound
from core.identity.actor import Actor
from core.reporting import export_jobs, export_sources, exports
from core.reporting.export_jobs import ExportStatus
from core.reporting.export_sources import DetailSpec, Provenance
from core.seed import seed_demo

FINANCE = Actor("finance", 1)


@pytest.fixture
def seeded(ctx: AppContext) -> AppContext:
    with session_scope(ctx.sessions) as session:
        seed_demo(session, now=utcnow())
    return ctx


@pytest.fixture
def exports_dir(tmp_path: Path) -> Path:
    return tmp_path / "exports"


@pytest.fixture
def spec() -> DetailSpec:
    today = date.today()
    return DetailSpec("payments", today - timedelta(days=400), today)


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> list[ExportStatus]:
    """Every status the worker writes, in order; progress on every batch of 10 rows."""
    monkeypatch.setattr(export_jobs, "PROGRESS_EVERY_SECONDS", 0.0)
    monkeypatch.setattr(exports, "BATCH_ROWS", 10)
    statuses: list[ExportStatus] = []
    save = export_jobs._save

    def recording(directory: Path, status: ExportStatus) -> None:
        statuses.append(status)
        save(directory, status)

    monkeypatch.setattr(export_jobs, "_save", recording)
    return statuses


def expected_rows(ctx: AppContext, spec: DetailSpec) -> int:
    with session_scope(ctx.readers) as session:
        return export_sources.count_rows(session, actor=FINANCE, spec=spec)


def test_only_big_exports_go_to_the_background() -> None:
    assert not export_jobs.in_background(export_jobs.BACKGROUND_ROWS)
    assert export_jobs.in_background(export_jobs.BACKGROUND_ROWS + 1)


def test_a_background_csv_export_writes_the_whole_file_and_ends_done(
    seeded: AppContext, spec: DetailSpec, exports_dir: Path, saved: list[ExportStatus]
) -> None:
    total = expected_rows(seeded, spec)
    queued = export_jobs.queue(exports_dir, actor=FINANCE, spec=spec, fmt="csv")
    assert (queued.state, queued.rows_done, queued.rows_total) == ("queued", 0, None)
    assert export_jobs.status(exports_dir, queued.id, actor=FINANCE) == queued
    with pytest.raises(Conflict):
        export_jobs.result(exports_dir, queued.id, actor=FINANCE)

    # Run by a worker thread, as the dashboard does.
    worker = threading.Thread(
        target=export_jobs.run,
        args=(exports_dir, queued.id, seeded.readers),
        kwargs={"actor": FINANCE},
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()

    done = export_jobs.status(exports_dir, queued.id, actor=FINANCE)
    assert (done.state, done.rows_done, done.rows_total, done.error) == ("done", total, total, None)
    assert done.fraction == 1.0
    assert done.file_name == f"every-payment-paid-{spec.start}-to-{spec.end}.csv"
    assert done.mime_type == "text/csv"
    # The progress went up batch by batch, with the total known from the start.
    assert saved[0].state == "queued" and saved[-1] == done
    running = [s for s in saved if s.state == "running"]
    assert [s.rows_done for s in running] == [0, *range(10, total, 10), total]
    assert {s.rows_total for s in running} == {total}
    assert all(0.0 <= s.fraction < 1.0 for s in running[:-1])

    path = export_jobs.result(exports_dir, queued.id, actor=FINANCE)
    assert path.suffix == ".csv" and not list(exports_dir.glob("*.part"))
    from_file = path.read_bytes()
    assert from_file == export_sources.build(seeded.readers, actor=FINANCE, spec=spec, fmt="csv")
    table = list(csv.reader(io.StringIO(from_file.decode("utf-8-sig"), newline="")))
    assert len(table) == 1 + total + 1 and table[-1][0] == "Total"


def test_a_background_xlsx_export_is_complete(
    seeded: AppContext, spec: DetailSpec, exports_dir: Path
) -> None:
    total = expected_rows(seeded, spec)
    who = Provenance("Fran Finance", "usd")
    queued = export_jobs.queue(exports_dir, actor=FINANCE, spec=spec, fmt="xlsx", provenance=who)
    assert export_jobs.status(exports_dir, queued.id, actor=FINANCE).provenance == who
    done = export_jobs.run(exports_dir, queued.id, seeded.readers, actor=FINANCE)
    assert (done.state, done.rows_done) == ("done", total)
    book = load_workbook(export_jobs.result(exports_dir, queued.id, actor=FINANCE))
    sheet = book.active
    assert sheet is not None and sheet.max_row == 1 + total + 1
    assert done.mime_type.endswith("spreadsheetml.sheet")
    # The parameters sheet names who asked for it, as it was queued.
    named: Any = book["Parameters"].iter_rows(min_row=2, values_only=True)
    parameters = dict(named)
    assert parameters["Generated by"] == "Fran Finance (finance)"
    assert parameters["Rows"] == total
    assert (parameters["From"].date(), parameters["To"].date()) == (spec.start, spec.end)


def test_a_failed_export_says_so_and_leaves_no_file(
    seeded: AppContext,
    spec: DetailSpec,
    exports_dir: Path,
    saved: list[ExportStatus],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = export_sources.stream_rows

    def failing(*args: Any, **kwargs: Any) -> Iterator[Sequence[Any]]:
        for number, row in enumerate(stream(*args, **kwargs)):
            if number == 25:
                raise RuntimeError("the database went away")
            yield row

    monkeypatch.setattr(export_sources, "stream_rows", failing)
    queued = export_jobs.queue(exports_dir, actor=FINANCE, spec=spec, fmt="csv")
    failed = export_jobs.run(exports_dir, queued.id, seeded.readers, actor=FINANCE)
    assert (failed.state, failed.error) == ("failed", "the database went away")
    assert export_jobs.status(exports_dir, queued.id, actor=FINANCE) == failed
    assert [s.state for s in saved] == ["queued", "running", "running", "running", "failed"]
    assert sorted(p.name for p in exports_dir.iterdir()) == [f"{queued.id}.json"]
    with pytest.raises(Conflict):
        export_jobs.result(exports_dir, queued.id, actor=FINANCE)
    # Run again, it stays failed: only a queued export runs.
    again = export_jobs.run(exports_dir, queued.id, seeded.readers, actor=FINANCE)
    assert again.state == "failed"


def test_an_xlsx_export_too_big_for_a_sheet_fails_before_it_starts(
    seeded: AppContext, spec: DetailSpec, exports_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 20)
    queued = export_jobs.queue(exports_dir, actor=FINANCE, spec=spec, fmt="xlsx")
    failed = export_jobs.run(exports_dir, queued.id, seeded.readers, actor=FINANCE)
    assert failed.state == "failed" and failed.error is not None
    assert "do not fit one XLSX sheet" in failed.error
    assert not list(exports_dir.glob("*.part")) and not list(exports_dir.glob("*.xlsx"))


def test_an_export_belongs_to_who_queued_it(
    seeded: AppContext, spec: DetailSpec, exports_dir: Path
) -> None:
    queued = export_jobs.queue(exports_dir, actor=FINANCE, spec=spec, fmt="csv")
    export_jobs.run(exports_dir, queued.id, seeded.readers, actor=FINANCE)
    for other in (Actor("finance", 2), Actor("admin", 1)):
        with pytest.raises(NotFound):
            export_jobs.status(exports_dir, queued.id, actor=other)
        with pytest.raises(NotFound):
            export_jobs.result(exports_dir, queued.id, actor=other)
    for bad in ("../../etc/passwd", "0" * 31, queued.id.upper(), "f" * 32):
        with pytest.raises(NotFound):
            export_jobs.status(exports_dir, bad, actor=FINANCE)
    with pytest.raises(Forbidden):
        export_jobs.queue(exports_dir, actor=Actor("provider", 1), spec=spec, fmt="csv")


def test_an_export_whose_worker_stopped_reads_as_failed(
    spec: DetailSpec, exports_dir: Path
) -> None:
    queued = export_jobs.queue(exports_dir, actor=FINANCE, spec=spec, fmt="csv")
    later = queued.updated_at + export_jobs.STALE_AFTER + timedelta(seconds=1)
    stopped = export_jobs.status(exports_dir, queued.id, actor=FINANCE, now=later)
    assert stopped.state == "failed" and stopped.error == "the export stopped before it finished"
    assert export_jobs.status(exports_dir, queued.id, actor=FINANCE).state == "queued"


def test_old_exports_are_pruned(seeded: AppContext, spec: DetailSpec, exports_dir: Path) -> None:
    old = export_jobs.queue(exports_dir, actor=FINANCE, spec=spec, fmt="csv")
    export_jobs.run(exports_dir, old.id, seeded.readers, actor=FINANCE)
    status_file = exports_dir / f"{old.id}.json"
    data = json.loads(status_file.read_text())
    data["updated_at"] = (utcnow() - export_jobs.KEEP_FOR - timedelta(minutes=1)).isoformat()
    status_file.write_text(json.dumps(data))
    (exports_dir / "not-an-export.json").write_text("{")  # left alone

    new = export_jobs.queue(exports_dir, actor=FINANCE, spec=spec, fmt="csv")  # prunes
    assert sorted(p.name for p in exports_dir.iterdir()) == sorted(
        [f"{new.id}.json", "not-an-export.json"]
    )
