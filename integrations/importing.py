"""The import engine that FTP files, SOAP xmlDocs and REST arrays share.

A source yields numbered Records (a parsed lists.services.ImportRow, or
the reason the record was rejected). The engine hands them to
lists.services.import_batch in batches of IMPORT_BATCH_SIZE. Each batch
commits in one transaction together with the checkpoint on its Import row
(`rows_done`, the counts, and the size of the report written so far), so a
crashed import resumes after its last committed batch and writes nothing
twice.
"""

import csv
import gc
import io
import logging
import os
import queue
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from integrations.models import Import
from lists import services as lists_services
from lists.bulk_import import ConcurrentChange
from lists.models import Recipient

logger = logging.getLogger(__name__)

# A batch that meets a concurrent change (a recipient created meanwhile, a
# deadlock) is planned and written again, up to this many times.
BATCH_ATTEMPTS = 3
# An import whose last checkpoint is older than this is taken to have died
# with its worker, and may be claimed again.
STALE_IMPORT = timedelta(minutes=5)
MAX_KEPT_REJECTIONS = 100
REPORT_HEADER = ("row", "email", "outcome", "reason")


@dataclass(frozen=True)
class Record:
    """One input record: `row` when it parsed, else `error`. `label` names it in the report.

    `number` increases along the input (a line number, or a position) and
    is what the checkpoint stores. `hint` is the contact a rejected record
    names, which keeps its recipient in the list under a full import.
    """

    number: int
    row: lists_services.ImportRow | None = None
    error: str = ""
    label: str = ""
    hint: lists_services.Contact | None = None


class InputRejected(Exception):
    """The whole input cannot be imported; the message names the reason."""


class ImportSuperseded(Exception):
    """Another run of the same import advanced its checkpoint; this run stops without writing."""


def options_of(job):
    stored = dict(job.options)
    # How to read the payload is not part of the status rules.
    stored.pop("payload", None)
    stored["channels"] = tuple(stored.get("channels", lists_services.ImportOptions.channels))
    stored["group_ids"] = tuple(stored.get("group_ids", ()))
    return lists_services.ImportOptions(**stored)


def options_to_json(options):
    return {
        "confirm_email": options.confirm_email,
        "confirmation_sending_id": options.confirmation_sending_id,
        "as_pending": options.as_pending,
        "as_opt_out": options.as_opt_out,
        "force_opt_in": options.force_opt_in,
        "replace_groups": options.replace_groups,
        "channels": list(options.channels),
        "group_ids": list(options.group_ids),
    }


# --- Running -------------------------------------------------------------------


def execute(job, records, report, full=False):
    """Import `records` into the job's list from its checkpoint on; return the ids unsubscribed by a full import.

    `report` receives every record with its result. Raises InputRejected
    from the source, and ImportSuperseded when another run took over.
    """
    mailing_list = job.list
    options = options_of(job)
    present = set() if full else None
    hints = []
    batch = []
    # Read once: each read of a setting goes through Django's lazy settings object.
    batch_size = settings.IMPORT_BATCH_SIZE
    with fewer_collections(), read_ahead(records) as ahead:
        for record in ahead:
            if record.number <= job.rows_done:
                _remember_skipped(record, hints, full)
                continue
            batch.append(record)
            if len(batch) >= batch_size:
                _commit_batch(job, mailing_list, options, batch, report, present)
                batch = []
    if batch:
        _commit_batch(job, mailing_list, options, batch, report, present)

    if not full:
        return []
    present |= lists_services.find_recipient_ids(mailing_list.account, hints)
    unsubscribed = lists_services.unsubscribe_absent(mailing_list, present)
    report.write_absent(unsubscribed)
    return unsubscribed


def _remember_skipped(record, hints, full):
    """Keep the contact of a record a resumed full import skips: its recipient still counts as present."""
    if not full:
        return
    contact = record.row.contact if record.row is not None else record.hint
    if contact is not None:
        hints.append(contact)


def _commit_batch(job, mailing_list, options, batch, report, present):
    for attempt in range(1, BATCH_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _write_batch(job, mailing_list, options, batch, report, present)
            return
        except (ConcurrentChange, OperationalError) as error:
            if isinstance(error, OperationalError) and not _is_transient(error):
                raise
            logger.warning("import batch retried import=%s attempt=%s error=%s", job.pk, attempt, error)
            job.refresh_from_db()
            report.rewind(job.report_offset)
            if attempt == BATCH_ATTEMPTS:
                raise


def _is_transient(error):
    """Deadlocks and serialization failures (SQLSTATE 40P01 and 40001) succeed when retried."""
    cause = getattr(error, "__cause__", None)
    return getattr(cause, "sqlstate", None) in ("40P01", "40001")


def _write_batch(job, mailing_list, options, batch, report, present):
    rows = [record.row for record in batch if record.row is not None]
    results = iter(lists_services.import_batch(mailing_list, rows, options) if rows else ())
    counts = Counter(job.counts)
    for record in batch:
        if record.row is None:
            result = lists_services.ImportRowResult("rejected", record.error)
            if record.hint is not None and present is not None:
                present |= lists_services.find_recipient_ids(mailing_list.account, [record.hint])
        else:
            result = next(results)
        if result.recipient_id is not None and present is not None:
            present.add(result.recipient_id)
        _count(counts, result)
        _keep_rejection(job, record, result)
        report.write(record, result)

    _save_checkpoint(job, batch[-1].number, report.checkpoint(), dict(counts))


def _count(counts, result):
    counts[result.outcome] += 1
    counts["total"] += 1
    for channel in result.new_channels:
        counts[f"new_{channel}"] += 1
    for channel in result.existing_channels:
        counts[f"existing_{channel}"] += 1
    for channel in result.unsubscribed_channels:
        counts[f"optout_{channel}"] += 1


def _keep_rejection(job, record, result):
    if result.outcome == "rejected" and len(job.rejections) < MAX_KEPT_REJECTIONS:
        job.rejections = [*job.rejections, [record.number, record.label, result.reason]]


def _save_checkpoint(job, rows_done, report_offset, counts):
    """Advance the checkpoint only from the value this run read, so two runs cannot both write a batch."""
    now = timezone.now()
    advanced = Import.objects.filter(pk=job.pk, rows_done=job.rows_done).update(
        rows_done=rows_done,
        report_offset=report_offset,
        counts=counts,
        rejections=job.rejections,
        heartbeat_at=now,
    )
    if not advanced:
        raise ImportSuperseded(f"Import {job.pk} was advanced by another run.")
    job.rows_done, job.report_offset, job.counts, job.heartbeat_at = rows_done, report_offset, counts, now


@contextmanager
def fewer_collections():
    """Run the cyclic garbage collector about a hundred times less often inside the block.

    An import allocates several objects per row (the record, its row and
    contact, the plan and the result). None of them forms a reference
    cycle, so reference counting frees them, but every 700 allocations the
    collector scans the young ones, and every few scans all the objects of
    the process. That took about half the CPU time of the import engine
    (bench/import.py). The threshold is process-wide, and restored on exit.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(IMPORT_GC_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


# Allocations between two scans of the youngest generation during an import (Python's default is 700).
IMPORT_GC_THRESHOLD = 70_000


# --- Reading ahead -------------------------------------------------------------


class read_ahead:
    """Iterate records that a thread parses while this one waits for the database.

    The database server does most of the work of a batch (the writes, and
    the foreign-key checks at commit) while the engine waits on the
    connection. A thread that parses the next lines meanwhile runs on the
    other core. The first record is read in the calling thread, because a
    source may query the database before its first record (the list's
    groups) and a thread would do so on another connection. An exception of
    the source is raised where its record would have come. The thread only
    parses; it never touches the database.
    """

    CHUNK = 500
    AHEAD_CHUNKS = 20

    def __init__(self, records):
        self.records = iter(records)
        self.chunks = queue.Queue(maxsize=self.AHEAD_CHUNKS)
        self.stopped = threading.Event()
        self.thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        if self.thread is not None:
            while self.thread.is_alive():
                self._drain()
                self.thread.join(timeout=0.05)
        return False

    def __iter__(self):
        try:
            first = next(self.records)
        except StopIteration:
            return
        yield first
        self.thread = threading.Thread(target=self._read, name="import-read-ahead", daemon=True)
        self.thread.start()
        while True:
            chunk, error = self.chunks.get()
            yield from chunk
            if error is not None:
                raise error
            if not chunk:
                return

    def _read(self):
        chunk = []
        try:
            for record in self.records:
                chunk.append(record)
                if len(chunk) >= self.CHUNK:
                    if not self._put(chunk, None):
                        return
                    chunk = []
        except BaseException as error:  # noqa: BLE001 - raised again in the consuming thread
            self._put(chunk, error)
            return
        if chunk:
            self._put(chunk, None)
        self._put([], None)

    def _put(self, chunk, error):
        """Queue a chunk for the consumer; return False when the consumer has stopped."""
        while not self.stopped.is_set():
            try:
                self.chunks.put((chunk, error), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _drain(self):
        try:
            while True:
                self.chunks.get_nowait()
        except queue.Empty:
            pass


# --- Claiming ----------------------------------------------------------------


def claim(job_id):
    """Mark a queued import, or one whose runner died, as running; return it, or None when it is not claimable.

    An import waits while another import of the same list runs, because
    MailUp runs one import per list at a time.
    """
    now = timezone.now()
    with transaction.atomic():
        job = Import.objects.select_for_update().filter(pk=job_id).select_related("list", "account").first()
        if job is None or not _claimable(job, now):
            return None
        if _other_running(job, now):
            logger.info("import waits for another import of the list import=%s list=%s", job.pk, job.list_id)
            return None
        job.status = Import.Status.RUNNING
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.attempts += 1
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts"])
    return job


def _claimable(job, now):
    if job.status == Import.Status.QUEUED:
        return True
    return job.status == Import.Status.RUNNING and job.heartbeat_at is not None and job.heartbeat_at < now - STALE_IMPORT


def _other_running(job, now):
    running = Import.objects.filter(list_id=job.list_id, status=Import.Status.RUNNING, heartbeat_at__gte=now - STALE_IMPORT)
    return running.exclude(pk=job.pk).exists()


def finish(job, status, error=""):
    job.status = status
    job.error = error[:2000]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])


def list_busy(mailing_list):
    """Return True while an import of the list is queued or running."""
    active = [Import.Status.QUEUED, Import.Status.RUNNING]
    return Import.objects.filter(list=mailing_list, status__in=active).exists()


def stalled_imports(now=None):
    """Return the ids of imports queued for over a minute or running without a checkpoint for STALE_IMPORT."""
    now = now or timezone.now()
    queued = Import.objects.filter(status=Import.Status.QUEUED, queued_at__lt=now - timedelta(minutes=1))
    dead = Import.objects.filter(status=Import.Status.RUNNING, heartbeat_at__lt=now - STALE_IMPORT)
    return list(queued.values_list("pk", flat=True)) + list(dead.values_list("pk", flat=True))


# --- Reports -----------------------------------------------------------------


class Report:
    """Where an import reports each record; this base keeps only the counts and first rejections on the Import row."""

    def write(self, record, result):
        pass

    def write_absent(self, recipient_ids):
        pass

    def checkpoint(self):
        return 0

    def rewind(self, offset):
        pass


class FileReport(Report):
    """A `;`-separated report file, one line per record, made durable at each checkpoint.

    The file is written under a partial name, cut back to the checkpointed
    size when a run resumes, and renamed when complete.
    """

    def __init__(self, partial_path, offset):
        self.path = partial_path
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, delimiter=";", lineterminator="\r\n")
        self.stream = open(partial_path, "a+b")
        self.rewind(offset)
        if offset == 0:
            self.writer.writerow(REPORT_HEADER)

    def write(self, record, result):
        label = record.label
        if record.row is not None:
            label = record.row.contact.email or record.row.contact.mobile_number or ""
        self.writer.writerow((record.number, label, result.outcome, result.reason))

    def write_line(self, *cells):
        self.writer.writerow(cells)

    def write_absent(self, recipient_ids):
        emails = {}
        for start in range(0, len(recipient_ids), 5000):
            chunk = recipient_ids[start : start + 5000]
            emails.update(Recipient.objects.filter(pk__in=chunk).values_list("pk", "email"))
        for recipient_id in recipient_ids:
            self.writer.writerow(("", emails.get(recipient_id) or "", "updated", "Unsubscribed: not in the full file."))

    def checkpoint(self):
        self.stream.write(self.buffer.getvalue().encode("utf-8"))
        self.buffer.seek(0)
        self.buffer.truncate()
        self.stream.flush()
        os.fsync(self.stream.fileno())
        return self.stream.tell()

    def rewind(self, offset):
        self.buffer.seek(0)
        self.buffer.truncate()
        self.stream.truncate(offset)
        self.stream.seek(offset)

    def close(self):
        self.checkpoint()
        self.stream.close()
