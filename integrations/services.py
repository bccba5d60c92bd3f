"""Batch FTP and bulk imports: account homes, FTP logins, uploaded files, and SOAP and REST imports.

Every import runs through integrations.importing, which hands batches of
parsed rows to lists.services.import_batch, the only code that changes
subscription state. An FTP upload gets `<name>.report.csv` next to it, one
line per data row, and moves to `done/`. SOAP and REST imports store their
payload on the Import row and report through its counts.
"""

import hashlib
import logging
import os
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integrations import csv_import, importing, json_import, xmldoc
from integrations.models import FtpAccount, FtpTransfer, Import, ImportFile, WebhookDelivery
from lists import login_guard
from lists import services as lists_services
from lists.models import Account, List
from sending import services as sending_services

logger = logging.getLogger(__name__)

IMPORT_SUFFIXES = (".csv", ".zip")
REPORT_SUFFIX = ".report.csv"
# A file name has at most 255 bytes (NAME_MAX on Linux file systems). The
# names of an upload's partial report and done/ copy are up to 19 bytes
# longer than its own, so a longer upload name made the import raise OSError.
MAX_IMPORT_NAME_BYTES = 236
# The panel stores an upload under its name with a 15-byte time prefix.
MAX_PANEL_UPLOAD_NAME_BYTES = MAX_IMPORT_NAME_BYTES - 15
DONE_FOLDER = "done"
FULL_FILE_PREFIX = "full_"
HASH_CHUNK_BYTES = 1024 * 1024
XMLDOC, JSON = "xmldoc", "json"


# --- Homes and logins ----------------------------------------------------------


def home_dir(account):
    return Path(settings.FTP_ROOT) / str(account.console_id)


def prepare_home(account):
    """Create the account's home with `import/<listId>/` for each list, `export/` and `sendzip/`; return its path."""
    home = home_dir(account)
    for mailing_list in account.lists.all():
        (home / "import" / str(mailing_list.list_id)).mkdir(parents=True, exist_ok=True)
    (home / "export").mkdir(parents=True, exist_ok=True)
    (home / "sendzip").mkdir(parents=True, exist_ok=True)
    return home


def set_ftp_password(account, raw_password):
    """Create or change the FTP login `ftp<console id>` of an account; return the FtpAccount."""
    ftp_account, _created = FtpAccount.objects.get_or_create(account=account)
    ftp_account.set_password(raw_password)
    ftp_account.save()
    return ftp_account


def update_ftp_settings(account, full_import, export_time):
    """Set whether every upload is a full file and the local time of the nightly unsubscriber export.

    Creates the FtpAccount without a usable password when the account has
    none yet; `set_ftp_password` gives it one. Returns the FtpAccount.
    """
    ftp_account = FtpAccount.objects.filter(account=account).first()
    if ftp_account is None:
        ftp_account = FtpAccount(account=account)
        ftp_account.set_password(None)
    ftp_account.full_import = bool(full_import)
    ftp_account.export_time = export_time
    ftp_account.save()
    logger.info(
        "ftp settings saved account=%s full_import=%s export_time=%s",
        account.console_id,
        ftp_account.full_import,
        export_time,
    )
    return ftp_account


def find_ftp_account(username):
    """Return the FtpAccount of a user name `ftp<console id>`, or None."""
    name = username.strip().lower()
    digits = name[3:]
    # Console ids are 32-bit, so a longer number names no account.
    if not name.startswith("ftp") or not digits.isascii() or not digits.isdigit() or len(digits) > 10:
        return None
    return FtpAccount.objects.filter(account__console_id=int(digits)).select_related("account").first()


def authenticate_ftp_user(username, password, client_ip=None):
    """Return the Account whose FTP login matches, or None.

    With `client_ip`, a wrong password counts towards the login lockout of
    lists.login_guard, and a user locked out from that address gets None
    before any check.
    """
    guard_name = username.strip().lower()
    if client_ip is not None and login_guard.is_locked_out(guard_name, client_ip):
        logger.info("ftp login rejected: locked out username=%s ip=%s", username[:40], client_ip)
        return None

    ftp_account = find_ftp_account(username)
    valid = ftp_account is not None and ftp_account.check_password(password)
    if client_ip is not None:
        if valid:
            login_guard.record_success(guard_name, client_ip)
        else:
            login_guard.record_failure(guard_name, client_ip, "ftp")
    if not valid:
        return None
    if ftp_account.account.status != Account.Status.ACTIVE:
        return None
    return ftp_account.account


# --- Uploads -------------------------------------------------------------------


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_import_list(account, path):
    """Return the list that an upload at `path` goes into, or None when the path is no import file.

    Only `.csv` and `.zip` files directly inside `import/<listId>/` are
    imports; reports, `done/` and other folders are not.
    """
    try:
        relative = Path(path).resolve().relative_to(home_dir(account).resolve())
    except ValueError:
        return None
    parts = relative.parts
    if len(parts) != 3 or parts[0] != "import" or not (parts[1].isascii() and parts[1].isdigit()) or len(parts[1]) > 10:
        return None
    name = parts[2].lower()
    if not name.endswith(IMPORT_SUFFIXES) or name.endswith(REPORT_SUFFIX) or name.startswith("."):
        return None
    return List.objects.filter(account=account, list_id=int(parts[1])).first()


def address_without_zone(address):
    """Return an IP address without its IPv6 zone (`fe80::1%eth0` gives `fe80::1`).

    A link-local peer comes with the interface after `%`, which PostgreSQL's
    inet type refuses; the zone only matters to this machine's routing.
    """
    return address.partition("%")[0]


def record_ftp_transfer(account, username, direction, ftp_path, local_path, completed, remote_ip):
    """Store one FTP upload or download for the inspection API and return it.

    `ftp_path` is the path as the client names it, from the root of its
    home. `local_path` is the file on the server, whose size is recorded
    (0 when an interrupted upload left no file).
    """
    try:
        size = os.path.getsize(local_path)
    except OSError:
        size = 0
    transfer = FtpTransfer.objects.create(
        account=account,
        username=username,
        direction=direction,
        path=ftp_path,
        size=size,
        completed=completed,
        remote_ip=address_without_zone(remote_ip),
    )
    logger.info(
        "ftp %s account=%s path=%s size=%s completed=%s",
        direction,
        account.console_id,
        ftp_path,
        size,
        completed,
    )
    return transfer


def receive_upload(account, path, original_name=None):
    """Record a completed upload and queue its import; return the ImportFile, or None when it is no import.

    `original_name` is the name the client gave the file, when it is stored
    under another one. Its `full_` prefix counts as the stored name's would.
    """
    from integrations import tasks

    mailing_list = find_import_list(account, path)
    if mailing_list is None:
        return None

    sha256 = file_sha256(path)
    name = Path(path).name
    named_full = (original_name or name).lower().startswith(FULL_FILE_PREFIX)
    full = named_full or FtpAccount.objects.filter(account=account, full_import=True).exists()
    with transaction.atomic():
        upload = ImportFile.objects.create(
            account=account,
            list=mailing_list,
            name=name,
            path=str(path),
            sha256=sha256,
            size=os.path.getsize(path),
            full=full,
        )
        transaction.on_commit(lambda: tasks.import_uploaded_file.delay(str(path), sha256))

    logger.info(
        "upload received account=%s list=%s import_file=%s name=%s",
        account.console_id,
        mailing_list.list_id,
        upload.pk,
        name,
    )
    return upload


def claim_upload(path, sha256):
    """Claim the oldest unfinished upload of this path and hash for import; return it, or None.

    The claim locks the list, so two uploads of the same content into one
    list are claimed one after the other. The second finds the first and is
    marked a duplicate instead of being imported again.
    """
    now = timezone.now()
    with transaction.atomic():
        candidates = ImportFile.objects.filter(path=path, sha256=sha256)
        # A running import whose last checkpoint is old died with its
        # worker; a redelivered task resumes it from that checkpoint.
        stale = now - importing.STALE_IMPORT
        claimable = candidates.filter(status=ImportFile.Status.RECEIVED) | candidates.filter(
            Q(job__heartbeat_at__lt=stale) | Q(job__isnull=True, started_at__lt=stale),
            status=ImportFile.Status.RUNNING,
        )
        upload = claimable.order_by("id").first()
        if upload is None:
            return None
        List.objects.select_for_update().get(pk=upload.list_id)

        earlier = _imports_of_same_content(upload, [ImportFile.Status.DONE, ImportFile.Status.RUNNING])
        upload.status = ImportFile.Status.DUPLICATE if earlier.exists() else ImportFile.Status.RUNNING
        upload.started_at = now
        upload.save(update_fields=["status", "started_at"])
    return upload


def _imports_of_same_content(upload, statuses):
    """Return the other uploads with these statuses that make `upload` a duplicate.

    A delta upload repeats any earlier import of the same bytes. A full one
    repeats only an earlier full import, because a delta import of the same
    rows unsubscribed none of the list's other recipients.
    """
    earlier = ImportFile.objects.filter(list_id=upload.list_id, sha256=upload.sha256, status__in=statuses)
    if upload.full:
        earlier = earlier.filter(full=True)
    return earlier.exclude(pk=upload.pk)


def import_upload(path, sha256):
    """Import the upload at `path` whose content hashes to `sha256`, once; return its ImportFile or None.

    A file whose content was already imported into the list gets a report
    that marks every row unchanged, and nothing else happens. Unexpected
    errors mark the upload failed and leave the file where it is.
    """
    upload = claim_upload(path, sha256)
    if upload is None:
        return None

    source = Path(upload.path)
    if not source.exists() or file_sha256(source) != sha256:
        # A later upload replaced or removed the file, and its own task imports it.
        reason = "The file changed or disappeared before its import."
        _finish(upload, ImportFile.Status.SUPERSEDED, error=reason)
        _fail_job(upload, reason)
        return upload

    if len(source.name.encode("utf-8")) > MAX_IMPORT_NAME_BYTES:
        # No report can be written beside it, so the reason is only on the ImportFile.
        reason = f"The file name is longer than {MAX_IMPORT_NAME_BYTES} bytes. Rename the file and upload it again."
        _finish(upload, ImportFile.Status.REJECTED, error=reason)
        _fail_job(upload, reason)
        logger.info("import rejected import_file=%s reason=name too long", upload.pk)
        return upload

    try:
        if upload.status == ImportFile.Status.DUPLICATE:
            _write_duplicate_report(upload)
        else:
            _run_import(upload)
    except UploadChanged as error:
        # The file now belongs to the later upload, whose own task imports it.
        counts = _file_counts(Import.objects.get(pk=upload.job_id))
        _finish(upload, ImportFile.Status.SUPERSEDED, counts=counts, error=str(error))
        _fail_job(upload, str(error))
        logger.warning("import stopped because the file was replaced or deleted import_file=%s", upload.pk)
        return upload
    except importing.ImportSuperseded:
        # Another run resumed this upload and owns it now.
        logger.warning("import run stopped because another run took over import_file=%s", upload.pk)
        return upload
    except Exception as error:
        logger.exception("import failed import_file=%s list=%s", upload.pk, upload.list_id)
        _finish(upload, ImportFile.Status.FAILED, error=str(error)[:2000])
        _fail_job(upload, str(error))
        return upload

    _move_to_done(upload)
    return upload


def _run_import(upload):
    """Import the upload through the engine, from its checkpoint when an earlier run died, and write its report."""
    job = _job_of(upload)
    report = importing.FileReport(_partial_report_path(upload), job.report_offset)
    unsubscribed = []
    try:
        with open_import_stream(Path(upload.path)) as stream:
            records = csv_import.read_records(stream, job.list)
            records = _records_while_unchanged(records, Path(upload.path), upload.sha256)
            unsubscribed = importing.execute(job, records, report, full=upload.full)
    except csv_import.FileRejected as error:
        report.write_line("", "", "rejected", str(error))
        _complete_report(upload, report)
        importing.finish(job, Import.Status.FAILED, str(error))
        _finish(upload, ImportFile.Status.REJECTED, counts=_file_counts(job), error=str(error))
        logger.info("import rejected import_file=%s import=%s reason=%s", upload.pk, job.pk, error)
        return

    _complete_report(upload, report)
    importing.finish(job, Import.Status.COMPLETED)
    _finish(upload, ImportFile.Status.DONE, counts=_file_counts(job), unsubscribed_absent=len(unsubscribed))
    logger.info(
        "import done import_file=%s import=%s list=%s counts=%s unsubscribed_absent=%s",
        upload.pk,
        job.pk,
        job.list.list_id,
        job.counts,
        len(unsubscribed),
    )


class UploadChanged(Exception):
    """A later upload wrote over the file, or a client deleted it, while it was imported."""


def _records_while_unchanged(records, path, sha256):
    """Yield the records, then raise UploadChanged when the file no longer hashes to `sha256`.

    pyftpdlib writes a new upload of the same name over the file in place,
    so the import may have read part of the new content. Raising before the
    engine unsubscribes the recipients a full file does not name keeps it
    from acting on a mix of two files, and the file is not moved to done/.
    """
    yield from records
    try:
        unchanged = file_sha256(path) == sha256
    except FileNotFoundError:
        unchanged = False
    if not unchanged:
        raise UploadChanged(
            "The file was replaced or deleted while it was imported, so the import stopped before its last step."
            " A replacing upload is imported on its own."
        )


def _fail_job(upload, reason):
    """Mark the engine run of an upload failed, so the import sweep stops resuming it."""
    if upload.job_id is not None:
        importing.finish(Import.objects.get(pk=upload.job_id), Import.Status.FAILED, reason)


def _job_of(upload):
    """Return the engine run of an upload, creating it on the first claim."""
    if upload.job_id is not None:
        return Import.objects.select_related("list", "account").get(pk=upload.job_id)

    now = timezone.now()
    job = Import.objects.create(
        account_id=upload.account_id,
        list_id=upload.list_id,
        kind=Import.Kind.FTP,
        options=importing.options_to_json(lists_services.ImportOptions()),
        status=Import.Status.RUNNING,
        queued_at=now,
        started_at=now,
        heartbeat_at=now,
        attempts=1,
    )
    upload.job = job
    upload.save(update_fields=["job"])
    return Import.objects.select_related("list", "account").get(pk=job.pk)


def _file_counts(job):
    return {name: job.count(name) for name in ("created", "updated", "unchanged", "rejected")}


def _write_duplicate_report(upload):
    """Report every row of a file whose content was already imported as unchanged."""
    earlier = _imports_of_same_content(upload, [ImportFile.Status.DONE]).order_by("id").first()
    reason = "The same content was already imported"
    reason += f" from {earlier.name}; nothing changed." if earlier else "; nothing changed."
    counts = {"unchanged": 0}
    report = importing.FileReport(_partial_report_path(upload), 0)
    try:
        with open_import_stream(Path(upload.path)) as stream:
            lines = csv_import.read_lines(stream)
            header = csv_import.read_header(lines)
            for number, line, _error in lines:
                email = csv_import.email_cell(header, line) if line is not None else ""
                report.write_line(number, email, "unchanged", reason)
                counts["unchanged"] += 1
    except csv_import.FileRejected as error:
        report.write_line("", "", "rejected", str(error))
    _complete_report(upload, report)
    _finish(upload, ImportFile.Status.DUPLICATE, counts=counts)
    logger.info("import skipped as duplicate import_file=%s list=%s", upload.pk, upload.list_id)


# --- Files -------------------------------------------------------------------


@contextmanager
def open_import_stream(path):
    """Open an upload as a binary stream of CSV bytes, or raise FileRejected.

    A `.zip` must contain exactly one `.csv`, not counting folders and
    `__MACOSX/` entries. The CSV is read from the archive and never
    extracted, so member names cannot place files anywhere. Files or
    members larger than FTP_IMPORT_MAX_BYTES are rejected.
    """
    limit = settings.FTP_IMPORT_MAX_BYTES
    if path.stat().st_size > limit:
        raise csv_import.FileRejected(f"The file is larger than {limit} bytes.")
    if path.suffix.lower() != ".zip":
        with open(path, "rb") as stream:
            yield stream
        return

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise csv_import.FileRejected("The file is not a readable ZIP archive.") from None
    except UnicodeDecodeError:
        # zipfile decodes every entry name on opening, strictly when its UTF-8 flag is set.
        raise csv_import.FileRejected("An entry name in the ZIP archive is marked as UTF-8 but is not valid UTF-8.") from None
    with archive:
        member = _single_csv_member(archive)
        if member.file_size > limit:
            raise csv_import.FileRejected(f"{member.filename} is larger than {limit} bytes once decompressed.")
        _check_decompressed_size(archive, member, limit)
        try:
            with archive.open(member) as stream:
                yield stream
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError) as error:
            raise csv_import.FileRejected(f"The ZIP archive cannot be read: {error}") from None


def _single_csv_member(archive):
    members = [
        info
        for info in archive.infolist()
        if not info.is_dir() and not info.filename.startswith("__MACOSX/") and info.filename.lower().endswith(".csv")
    ]
    if len(members) != 1:
        raise csv_import.FileRejected(f"The ZIP archive contains {len(members)} .csv files instead of exactly one.")
    if members[0].flag_bits & 0x1:
        raise csv_import.FileRejected("The ZIP archive is encrypted.")
    return members[0]


def _check_decompressed_size(archive, member, limit):
    """Decompress the member once without keeping it, because its declared size may lie."""
    total = 0
    try:
        with archive.open(member) as stream:
            for chunk in iter(lambda: stream.read(HASH_CHUNK_BYTES), b""):
                total += len(chunk)
                if total > limit:
                    raise csv_import.FileRejected(f"{member.filename} is larger than {limit} bytes once decompressed.")
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as error:
        raise csv_import.FileRejected(f"The ZIP archive cannot be read: {error}") from None


def report_path(upload):
    source = Path(upload.path)
    return source.with_name(source.stem + REPORT_SUFFIX)


def _partial_report_path(upload):
    final = report_path(upload)
    return final.with_name("." + final.name + ".partial")


def _complete_report(upload, report):
    """Make the report durable and give it its final name, so it appears only when complete."""
    report.close()
    final = report_path(upload)
    os.replace(_partial_report_path(upload), final)
    upload.report_name = final.name
    upload.save(update_fields=["report_name"])


def _move_to_done(upload):
    target = move_into_done(Path(upload.path), upload.started_at)
    upload.done_name = target.name
    upload.save(update_fields=["done_name"])


def move_into_done(source, started_at):
    """Move a processed file into the `done/` folder beside it, with `started_at` before the extension; return the new path."""
    done = source.parent / DONE_FOLDER
    done.mkdir(exist_ok=True)
    stamp = timezone.localtime(started_at).strftime("%Y%m%dT%H%M%S")
    target = done / f"{source.stem}.{stamp}{source.suffix}"
    counter = 1
    while target.exists():
        counter += 1
        target = done / f"{source.stem}.{stamp}-{counter}{source.suffix}"
    os.replace(source, target)
    return target


def _finish(upload, status, counts=None, unsubscribed_absent=0, error=""):
    upload.status = status
    upload.error = error
    upload.finished_at = timezone.now()
    upload.unsubscribed_absent = unsubscribed_absent
    for name, value in (counts or {}).items():
        setattr(upload, name, value)
    upload.save()


def clear_webhook_log(account):
    """Delete an account's webhook deliveries and their attempts, for a clean test run; return how many deliveries."""
    with transaction.atomic():
        deliveries = WebhookDelivery.objects.filter(webhook__account=account)
        count = deliveries.count()
        deliveries.delete()
    logger.info("webhook log cleared account=%s deliveries=%s", account.console_id, count)
    return count


def receive_panel_upload(account, mailing_list, uploaded_file):
    """Store a file uploaded in the control panel in the list's FTP import folder and queue its import.

    The panel feeds the same engine as an FTP upload, so the file, its
    report and its `done/` copy appear in the account's FTP space too.
    Returns the ImportFile. Raises csv_import.FileRejected for a name that
    is not a .csv or .zip file.
    """
    name = Path(uploaded_file.name).name
    if not name.lower().endswith(IMPORT_SUFFIXES) or name.lower().endswith(REPORT_SUFFIX) or name.startswith("."):
        raise csv_import.FileRejected(f"{name!r} is not a .csv or .zip file.")
    if uploaded_file.size > settings.FTP_IMPORT_MAX_BYTES:
        raise csv_import.FileRejected(f"{name!r} is larger than {settings.FTP_IMPORT_MAX_BYTES} bytes.")
    if len(name.encode("utf-8")) > MAX_PANEL_UPLOAD_NAME_BYTES:
        raise csv_import.FileRejected(f"The name {name[:40]!r}... is longer than {MAX_PANEL_UPLOAD_NAME_BYTES} bytes.")

    folder = prepare_home(account) / "import" / str(mailing_list.list_id)
    folder.mkdir(parents=True, exist_ok=True)
    # Local time, as the done/ copies are named.
    path = folder / f"{timezone.localtime():%Y%m%d%H%M%S}-{name}"
    with open(path, "wb") as target:
        for chunk in uploaded_file.chunks():
            target.write(chunk)
    return receive_upload(account, path, original_name=name)


# --- SOAP and REST imports -------------------------------------------------------


@dataclass(frozen=True)
class PayloadSettings:
    """Reading settings of a SOAP or REST payload, beside the ImportOptions that decide statuses.

    `mobile_input_type` and `clear_empty` apply to an xmlDoc (mobileInputType,
    importType 4 to 6); `ignore_mobile` and `clear_missing` to a JSON array
    (ignoreMobile, clearMissingOrEmptyFields).
    """

    mobile_input_type: int = xmldoc.SPLIT_MOBILE
    clear_empty: bool = False
    ignore_mobile: bool = False
    clear_missing: bool = False


def create_import(mailing_list, kind, payload_format, payload, options, settings_=PayloadSettings(), start=False):
    """Check a payload and store it as a new Import; queue it when `start` is set. Return the Import.

    Raises InputRejected (xmldoc.XmlDocRejected or json_import.BodyRejected)
    when the payload cannot be read at all, with nothing stored.
    """
    if len(payload.encode("utf-8")) > settings.IMPORT_MAX_PAYLOAD_BYTES:
        raise importing.InputRejected(f"The payload is larger than {settings.IMPORT_MAX_PAYLOAD_BYTES} bytes.")
    checker = xmldoc.check if payload_format == XMLDOC else json_import.check
    if checker(payload) == 0:
        raise importing.InputRejected("The payload contains no recipients.")

    with transaction.atomic():
        sending = None
        if kind == Import.Kind.REST and options.confirm_email:
            # MailUp keeps a REST import's confirmation requests in a sending
            # that the client starts (GET Import/{id}/Sending, then Immediate).
            sending = sending_services.create_confirmation_sending(mailing_list)
            options = replace(options, confirmation_sending_id=sending.pk)
        stored = importing.options_to_json(options)
        stored["payload"] = asdict(settings_)
        job = Import.objects.create(
            account=mailing_list.account,
            list=mailing_list,
            kind=kind,
            options=stored,
            payload=payload,
            payload_format=payload_format,
            confirmation_sending=sending,
        )
        if start:
            start_import(job)
    logger.info(
        "import created import=%s kind=%s list=%s account=%s started=%s",
        job.pk,
        kind,
        mailing_list.list_id,
        mailing_list.account.console_id,
        start,
    )
    return job


def start_import(job):
    """Queue an import that has not started; return False when it had already started."""
    from integrations import tasks

    with transaction.atomic():
        started = Import.objects.filter(pk=job.pk, status=Import.Status.CREATED).update(
            status=Import.Status.QUEUED, queued_at=timezone.now()
        )
        if started:
            transaction.on_commit(lambda: tasks.run_import.delay(job.pk))
    job.refresh_from_db()
    return bool(started)


def run_import(job_id):
    """Run a queued SOAP or REST import from its checkpoint; return it, or None when it was not claimable."""
    job = importing.claim(job_id)
    if job is None:
        return None

    try:
        importing.execute(job, _payload_records(job), importing.Report())
    except importing.ImportSuperseded:
        logger.warning("import run stopped because another run took over import=%s", job.pk)
        return job
    except importing.InputRejected as error:
        importing.finish(job, Import.Status.FAILED, str(error))
        logger.info("import rejected import=%s reason=%s", job.pk, error)
        return job
    except Exception as error:
        logger.exception("import failed import=%s list=%s", job.pk, job.list_id)
        importing.finish(job, Import.Status.FAILED, str(error))
        return job

    importing.finish(job, Import.Status.COMPLETED)
    logger.info("import done import=%s list=%s counts=%s", job.pk, job.list.list_id, job.counts)
    return job


def _payload_records(job):
    read = PayloadSettings(**job.options.get("payload", {}))
    if job.payload_format == XMLDOC:
        return xmldoc.read_records(job.payload, job.list, read.mobile_input_type, read.clear_empty)
    return json_import.read_records(job.payload, job.list, read.ignore_mobile, read.clear_missing)


def sweep_imports():
    """Re-enqueue the imports that wait in the queue or lost their worker; return how many."""
    from integrations import tasks

    stalled = importing.stalled_imports()
    for job in Import.objects.filter(pk__in=stalled).select_related("file"):
        upload = getattr(job, "file", None)
        if job.kind == Import.Kind.FTP and upload is not None:
            tasks.import_uploaded_file.delay(upload.path, upload.sha256)
        elif job.kind != Import.Kind.FTP:
            tasks.run_import.delay(job.pk)
    return len(stalled)
