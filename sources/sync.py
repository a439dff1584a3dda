"""A sync run, start to finish: claim the source (one run at a time), check the schema, fetch
page by page (each page committed with its cursor, so an interrupted run resumes), then, after
a complete pass, the vanished records by the source's policy behind the mass-delete guard."""

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from organizations.locks import organization_lock

from .ckan import CkanClient
from .drift import drift_check
from .files import FileClient
from .ingest import (
    INLINE,
    PROCESS,
    THREAD,
    FileRefused,
    open_table,
    prefetched,
    process_available,
)
from .models import DataSource, SyncRun
from .network import SourceUnreachable
from .records import Classified, RecordApplier
from .vanish import GuardTripped, vanish_apply, vanish_guard_check

logger = logging.getLogger(__name__)

FILE_BATCH_SIZE = 5000
#: Records per write of a CKAN page (one transaction with its cursor): a page of 32,000 is
#: written in parts, so the writer starts on a page's first part while the validator
#: classifies the rest.
PAGE_BATCH_SIZE = 8000
COUNTS = ("fetched", "created", "updated", "unchanged", "rejected", "warned")


def run_claim(*, source: DataSource, trigger: str, actor, dry_run: bool, full: bool) -> SyncRun:
    """A new running run, or a skipped one when another is going (on any cluster: the
    source's row lock decides) or the source is paused or inactive."""
    with transaction.atomic():
        source = DataSource.objects.select_for_update().get(pk=source.pk)
        run = SyncRun(
            source=source,
            organization_id=source.organization_id,
            trigger=trigger,
            actor=actor,
            dry_run=dry_run,
            full=full,
        )
        busy = source.runs.filter(status=SyncRun.Status.RUNNING).first()
        stale_before = timezone.now() - timedelta(seconds=settings.SYNC_STALE_SECONDS)
        if busy and busy.progress_at and busy.progress_at < stale_before:
            busy.status = SyncRun.Status.FAILED
            busy.error = "The run stopped reporting progress (its worker was lost)."
            busy.finished_at = timezone.now()
            busy.save()
            busy = None
        reason = ""
        if busy:
            reason = f"sync {busy.pk} of this source is still running"
        elif source.paused:
            reason = f"the source is paused: {source.pause_message}"
        elif not source.active:
            reason = "the source is inactive"
        now = timezone.now()
        if reason:
            run.status, run.error, run.finished_at = SyncRun.Status.SKIPPED, reason, now
        else:
            run.status, run.started_at, run.progress_at = SyncRun.Status.RUNNING, now, now
        run.save()
        if not reason:
            run.pass_id = run.pk
            run.save(update_fields=["pass_id"])
    return run


def run_execute(*, run: SyncRun, actor=None, sleep=None) -> SyncRun:
    started = time.monotonic()
    source = run.source
    client = None
    try:
        if source.kind == DataSource.Kind.CKAN_DATASTORE:
            client = CkanClient(
                url=source.url,
                resource_id=source.resource_id,
                token_env=source.api_token_env,
                sleep=sleep,
            )
            _sync_ckan(run, client, actor)
        else:
            client = FileClient(url=source.url, sleep=sleep)
            _sync_file(run, client, actor)
    except (SourceUnreachable, FileRefused) as error:
        _finish(run, SyncRun.Status.FAILED, error=str(error))
    except Exception as error:
        logger.exception("Sync %s failed", run.pk)
        _finish(run, SyncRun.Status.FAILED, error=f"{type(error).__name__}: {error}")
    finally:
        if client is not None:
            run.requests, run.bytes_received = client.requests_made, client.bytes_received
            client.close()
        run.duration_seconds = round(time.monotonic() - started, 3)
        SyncRun.objects.filter(pk=run.pk).update(
            requests=run.requests,
            bytes_received=run.bytes_received,
            duration_seconds=run.duration_seconds,
        )
    return run


def _finish(run: SyncRun, status: str, *, error: str = "") -> None:
    run.status, run.error, run.finished_at = status, error, timezone.now()
    run.save(update_fields=["status", "error", "finished_at", "details", "vanished"])


def _status_after_pass(run: SyncRun) -> str:
    return SyncRun.Status.COMPLETED_WITH_ERRORS if run.rejected else SyncRun.Status.COMPLETED


def _pause(source: DataSource, message: str, **state) -> None:
    with transaction.atomic():
        locked = DataSource.objects.select_for_update().get(pk=source.pk)
        locked.paused, locked.pause_message = True, message
        locked.state = {**locked.state, **state}
        locked.save(update_fields=["paused", "pause_message", "state"])
    source.paused, source.pause_message, source.state = True, message, locked.state


def _save_state(source: DataSource, **changes) -> None:
    source.state = {k: v for k, v in {**source.state, **changes}.items() if v is not None}
    DataSource.objects.filter(pk=source.pk).update(state=source.state)


def _schema(run: SyncRun, field_types: dict):
    """The column map when the fields pass the drift check; None after quarantining."""
    source = run.source
    report = drift_check(
        field_types=field_types,
        accepted=source.state.get("fields"),
        accepted_mapped=source.state.get("mapped"),
        overrides=source.column_overrides,
    )
    run.details = {
        **run.details,
        "mapped": report.mapped,
        "new_fields": report.new_fields,
        "ignored": list(report.cmap.ignored),
        # In the source's order (a list keeps it; the stored records' keys do not).
        "headers": list(report.cmap.headers),
    }
    if report.problems:
        message = "Schema changed: " + "; ".join(report.problems) + "."
        if not run.dry_run:
            _pause(
                source, message + " Confirm the new mapping to resume.", pending_fields=field_types
            )
        _finish(run, SyncRun.Status.QUARANTINED, error=message)
        return None
    if not run.dry_run:
        _save_state(source, fields=field_types, mapped=report.mapped, pending_fields=None)
    return report.cmap


@dataclass
class FetchedPage:
    batch: Classified
    cursor: dict
    strategy: str
    requests: int
    bytes_received: int


def _validation_mode(expected: int) -> str:
    """Large runs validate in a forked process (as large imports do); small ones inline."""
    if expected >= settings.SYNC_PROCESS_THRESHOLD and process_available():
        return PROCESS
    return INLINE


def _apply_batch(run: SyncRun, applier: RecordApplier, batch, *, cursor: dict | None) -> None:
    with transaction.atomic():
        organization_lock(run.organization_id)
        counts = applier.store(batch)
        for name in COUNTS:
            setattr(run, name, getattr(run, name) + getattr(counts, name))
        run.progress_at = timezone.now()
        if cursor is not None:
            run.cursor = cursor
        run.save(update_fields=[*COUNTS, "progress_at", "cursor", "pass_id"])
        if cursor is not None and not run.dry_run:
            _save_state(run.source, pass_cursor={**cursor, "pass_id": run.pass_id})


def _sync_ckan(run: SyncRun, client: CkanClient, actor) -> None:
    source = run.source
    info = client.resource()
    run.expected = info.total
    # last_modified is recorded, not trusted: CKAN does not bump it on datastore writes.
    run.details = {
        "fingerprint": info.fingerprint,
        "last_modified": info.last_modified,
        "resource_hash": info.hash,
        "dataset": info.package_title,
        "dataset_modified": info.package_modified,
    }
    run.save(update_fields=["expected", "details"])
    cmap = _schema(run, info.field_types)
    if cmap is None:
        return
    fields = list(info.field_types)
    applier = RecordApplier(run=run, cmap=cmap, actor=actor, dry_run=run.dry_run)
    after_id, offset = _resume_point(run, client, applier, fields, info.fingerprint)
    if not vanish_guard_check(run, present=info.total):
        return
    strategy = source.state.get("paging")

    mode = _validation_mode(info.total)

    def pages():
        # In a forked validator for a large resource: the next pages are fetched, decoded and
        # classified there while this process writes the current one; within the validator a
        # thread reads the next page from the portal (one request in flight, as always) while
        # this one is classified.
        def portal_pages():
            return client.pages(
                after_id=after_id,
                offset=offset,
                page_size=settings.SYNC_PAGE_SIZE,
                strategy=strategy,
            )

        with prefetched(portal_pages, THREAD if mode == PROCESS else INLINE) as fetched_pages:
            for page in fetched_pages:
                yield from _page_batches(page, fields, applier, client, info.fingerprint)

    with prefetched(pages, mode) as fetched:
        for page in fetched:
            # The validator's session counted the requests; the run reports them from here.
            client.session.requests_made = page.requests
            client.session.bytes_received = page.bytes_received
            _apply_batch(run, applier, page.batch, cursor=page.cursor)
            if strategy != page.strategy and not run.dry_run:
                strategy = page.strategy
                _save_state(source, paging=strategy)
    run.details["paging"] = strategy
    _complete_pass(run, actor)


def _page_batches(page, fields, applier: RecordApplier, client, fingerprint):
    """A page's records, classified in parts of PAGE_BATCH_SIZE, each with the cursor after
    its last record (the `_id` and the offset after it, and that record's hash)."""
    records = page.records
    start_offset = page.offset - len(records)
    for start in range(0, len(records), PAGE_BATCH_SIZE):
        part = records[start : start + PAGE_BATCH_SIZE]
        items = [(int(r["_id"]), [r.get(name) for name in fields], "") for r in part]
        last = applier.validate(items[-1][1], number=items[-1][0])[0]
        cursor = {
            "after_id": items[-1][0],
            "offset": start_offset + start + len(part),
            "sha256": last.sha256 if last else "",
            "fingerprint": fingerprint,
        }
        yield FetchedPage(
            applier.classify(items),
            cursor,
            page.strategy,
            client.requests_made,
            client.bytes_received,
        )


def _resume_point(run, client, applier, fields, fingerprint) -> tuple[int, int]:
    """Where this run starts: after the cursor of an interrupted pass, unless the resource was
    reloaded since (the record at the cursor is gone or different) or --full was asked."""
    source = run.source
    cursor = source.state.get("pass_cursor")
    if run.full or not cursor or cursor.get("fingerprint") != fingerprint:
        return 0, 0
    record = client.record_with_id(cursor["after_id"])
    checked = None
    if record is not None:
        values = [record.get(name) for name in fields]
        checked = applier.validate(values, number=cursor["after_id"])[0]
    if checked is None or checked.sha256 != cursor.get("sha256"):
        run.details["restarted"] = "the resource was reloaded since the interrupted pass"
        return 0, 0
    run.pass_id = cursor["pass_id"]
    run.details["resumed_after_id"] = cursor["after_id"]
    return cursor["after_id"], cursor["offset"]


def _complete_pass(run: SyncRun, actor) -> None:
    if run.dry_run:
        _finish(run, _status_after_pass(run))
        return
    try:
        run.vanished = vanish_apply(run=run, actor=actor)
    except GuardTripped as guard:
        _pause(run.source, str(guard), pass_cursor=None)
        _finish(run, SyncRun.Status.GUARDED, error=str(guard))
        return
    _save_state(run.source, pass_cursor=None, last_complete_run=run.pk)
    _finish(run, _status_after_pass(run))


def _sync_file(run: SyncRun, client: FileClient, actor) -> None:
    source = run.source
    state = {} if run.full else source.state
    fetched = client.fetch(etag=state.get("etag", ""), last_modified=state.get("last_modified", ""))
    if fetched.not_modified:
        run.details = {"not_modified": True}
        _finish(run, SyncRun.Status.UNCHANGED)
        return
    with fetched.stream as stream:
        if fetched.sha256 == state.get("sha256"):
            run.details = {"same_sha256": fetched.sha256}
            if not run.dry_run:
                _save_state(source, etag=fetched.etag, last_modified=fetched.last_modified)
            _finish(run, SyncRun.Status.UNCHANGED)
            return
        reader = open_table(stream, fetched.file_name)
        run.details = {"sha256": fetched.sha256, "format": reader.file_format}
        cmap = _schema(run, {name: "text" for name in _unique_names(reader.headers)})
        if cmap is None:
            return
        run.expected = sum(1 for _ in reader.rows())
        stream.seek(0)
        reader = open_table(stream, fetched.file_name)
        run.save(update_fields=["expected", "details"])
        if not vanish_guard_check(run, present=run.expected):
            return
        applier = RecordApplier(run=run, cmap=cmap, actor=actor, dry_run=run.dry_run)

        def batches():
            batch = []
            for raw in reader.rows():
                batch.append((raw.number, raw.values, raw.problem))
                if len(batch) >= FILE_BATCH_SIZE:
                    yield applier.classify(batch)
                    batch = []
            if batch:
                yield applier.classify(batch)

        with prefetched(batches, _validation_mode(run.expected)) as classified:
            for batch in classified:
                _apply_batch(run, applier, batch, cursor=None)
    _complete_pass(run, actor)
    if run.status != SyncRun.Status.GUARDED and not run.dry_run:
        _save_state(
            source, etag=fetched.etag, last_modified=fetched.last_modified, sha256=fetched.sha256
        )


def _unique_names(headers) -> list[str]:
    """The file's headers as field names, one per position: a blank or repeated header gets
    its column number (and so is ignored by the mapping, as the import ignores it)."""
    names, seen = [], set()
    for position, header in enumerate(headers, start=1):
        name = str(header or "").strip()
        if not name or name in seen:
            name = f"{name or 'column'} #{position}"
        seen.add(name)
        names.append(name)
    return names
