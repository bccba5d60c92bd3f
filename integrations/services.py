"""Batch FTP: account homes, the import engine for uploaded files, and FTP logins.

The engine parses and checks each row (integrations.csv_import) and hands
batches of rows to lists.services.import_rows, the only code that changes
subscription state. It writes `<name>.report.csv` next to the upload, one
line per data row, and moves the upload to `done/`.
"""

import csv
import hashlib
import logging
import os
import zipfile
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations import csv_import
from integrations.models import FtpAccount, ImportFile, WebhookDelivery
from lists import services as lists_services
from lists.errors import InvalidContact
from lists.models import Account, List, Recipient
from lists.validation import normalize_email

logger = logging.getLogger(__name__)

IMPORT_SUFFIXES = (".csv", ".zip")
REPORT_SUFFIX = ".report.csv"
REPORT_HEADER = ("row", "email", "outcome", "reason")
DONE_FOLDER = "done"
FULL_FILE_PREFIX = "full_"
# Rows handed to lists.services.import_rows at once; each batch is one transaction.
BATCH_SIZE = 500
# A running import not finished after this long is taken to have crashed
# with its worker, and a redelivered task may claim it again.
STALE_IMPORT = timedelta(minutes=10)
HASH_CHUNK_BYTES = 1024 * 1024


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


def find_ftp_account(username):
    """Return the FtpAccount of a user name `ftp<console id>`, or None."""
    name = username.strip().lower()
    digits = name[3:]
    # Console ids are 32-bit, so a longer number names no account.
    if not name.startswith("ftp") or not digits.isascii() or not digits.isdigit() or len(digits) > 10:
        return None
    return FtpAccount.objects.filter(account__console_id=int(digits)).select_related("account").first()


def authenticate_ftp_user(username, password):
    """Return the Account whose FTP login matches, or None."""
    ftp_account = find_ftp_account(username)
    if ftp_account is None or not ftp_account.check_password(password):
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
    if len(parts) != 3 or parts[0] != "import" or not parts[1].isdigit() or len(parts[1]) > 10:
        return None
    name = parts[2].lower()
    if not name.endswith(IMPORT_SUFFIXES) or name.endswith(REPORT_SUFFIX) or name.startswith("."):
        return None
    return List.objects.filter(account=account, list_id=int(parts[1])).first()


def receive_upload(account, path):
    """Record a completed upload and queue its import; return the ImportFile, or None when it is no import."""
    from integrations import tasks

    mailing_list = find_import_list(account, path)
    if mailing_list is None:
        return None

    sha256 = file_sha256(path)
    name = Path(path).name
    full = name.lower().startswith(FULL_FILE_PREFIX) or FtpAccount.objects.filter(account=account, full_import=True).exists()
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
        claimable = candidates.filter(status=ImportFile.Status.RECEIVED) | candidates.filter(
            status=ImportFile.Status.RUNNING, started_at__lt=now - STALE_IMPORT
        )
        upload = claimable.order_by("id").first()
        if upload is None:
            return None
        List.objects.select_for_update().get(pk=upload.list_id)

        earlier = ImportFile.objects.filter(
            list_id=upload.list_id,
            sha256=sha256,
            status__in=[ImportFile.Status.DONE, ImportFile.Status.RUNNING],
        ).exclude(pk=upload.pk)
        upload.status = ImportFile.Status.DUPLICATE if earlier.exists() else ImportFile.Status.RUNNING
        upload.started_at = now
        upload.save(update_fields=["status", "started_at"])
    return upload


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
        _finish(upload, ImportFile.Status.SUPERSEDED, error="The file changed or disappeared before its import.")
        return upload

    try:
        if upload.status == ImportFile.Status.DUPLICATE:
            _write_duplicate_report(upload)
        else:
            _run_import(upload)
    except Exception as error:
        logger.exception("import failed import_file=%s list=%s", upload.pk, upload.list_id)
        _finish(upload, ImportFile.Status.FAILED, error=str(error)[:2000])
        return upload

    _move_to_done(upload)
    return upload


def _run_import(upload):
    mailing_list = List.objects.select_related("account").get(pk=upload.list_id)
    group_ids = set(mailing_list.groups.values_list("id", flat=True))
    counts = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}

    with _report_writer(upload) as report:
        try:
            with open_import_stream(Path(upload.path)) as stream:
                present = _import_lines(upload, stream, mailing_list, group_ids, report, counts)
        except csv_import.FileRejected as error:
            report.writerow(("", "", "rejected", str(error)))
            _finish(upload, ImportFile.Status.REJECTED, error=str(error))
            logger.info("import rejected import_file=%s reason=%s", upload.pk, error)
            return

        unsubscribed = []
        if upload.full:
            unsubscribed = lists_services.unsubscribe_absent(mailing_list, present)
            _report_absent(report, unsubscribed)

    _finish(upload, ImportFile.Status.DONE, counts=counts, unsubscribed_absent=len(unsubscribed))
    logger.info(
        "import done import_file=%s list=%s counts=%s unsubscribed_absent=%s",
        upload.pk,
        mailing_list.list_id,
        counts,
        len(unsubscribed),
    )


def _import_lines(upload, stream, mailing_list, group_ids, report, counts):
    """Import every data line in batches; return the ids of the recipients the file names.

    Rejected lines wait in the batch too, so the report keeps the file's order.
    """
    lines = csv_import.read_lines(stream)
    header = _read_header(lines)
    present = set()
    batch = []
    for number, line, error in lines:
        email = csv_import.email_cell(header, line) if line is not None else ""
        row = None
        if error is None:
            try:
                row = csv_import.parse_row(header, line, mailing_list, group_ids)
            except csv_import.RowRejected as rejection:
                error = str(rejection)
        if error is not None and upload.full:
            _add_named_recipient(mailing_list.account, email, present)
        batch.append((number, email, row, error))
        if len(batch) >= BATCH_SIZE:
            _import_batch(mailing_list, batch, report, counts, present)
            batch = []
    _import_batch(mailing_list, batch, report, counts, present)
    return present


def _add_named_recipient(account, email, present):
    """Count the recipient a rejected row names by its e-mail address as present in a full file."""
    try:
        contact = lists_services.Contact(email=normalize_email(email))
    except InvalidContact:
        return
    recipient = lists_services.find_recipient(account, contact)
    if recipient is not None:
        present.add(recipient.pk)


def _read_header(lines):
    for _number, line, error in lines:
        if error is not None:
            raise csv_import.FileRejected(f"The header line is unreadable: {error}")
        return csv_import.parse_header(line)
    raise csv_import.FileRejected("The file is empty.")


def _import_batch(mailing_list, batch, report, counts, present):
    """Import the parsed rows of a batch, then report every line of it in order."""
    rows = [row for _number, _email, row, _error in batch if row is not None]
    results = iter(lists_services.import_rows(mailing_list, rows) if rows else [])
    for number, email, row, error in batch:
        if row is None:
            _write_outcome(report, counts, number, email, "rejected", error)
            continue
        result = next(results)
        if result.recipient_id is not None:
            present.add(result.recipient_id)
        contact_text = row.contact.email or row.contact.mobile_number or ""
        _write_outcome(report, counts, number, contact_text, result.outcome, result.reason)


def _write_outcome(report, counts, number, email, outcome, reason):
    counts[outcome] += 1
    report.writerow((number, email, outcome, reason))


def _report_absent(report, recipient_ids):
    emails = dict(Recipient.objects.filter(pk__in=recipient_ids).values_list("pk", "email"))
    for recipient_id in recipient_ids:
        report.writerow(("", emails.get(recipient_id) or "", "updated", "Unsubscribed: not in the full file."))


def _write_duplicate_report(upload):
    """Report every row of a file whose content was already imported as unchanged."""
    earlier = (
        ImportFile.objects.filter(list_id=upload.list_id, sha256=upload.sha256, status=ImportFile.Status.DONE)
        .exclude(pk=upload.pk)
        .order_by("id")
        .first()
    )
    reason = "The same content was already imported"
    reason += f" from {earlier.name}; nothing changed." if earlier else "; nothing changed."
    counts = {"unchanged": 0}
    with _report_writer(upload) as report:
        try:
            with open_import_stream(Path(upload.path)) as stream:
                lines = csv_import.read_lines(stream)
                header = _read_header(lines)
                for number, line, _error in lines:
                    email = csv_import.email_cell(header, line) if line is not None else ""
                    report.writerow((number, email, "unchanged", reason))
                    counts["unchanged"] += 1
        except csv_import.FileRejected as error:
            report.writerow(("", "", "rejected", str(error)))
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


@contextmanager
def _report_writer(upload):
    """Yield a `;`-separated CSV writer. The report appears under its final name only when complete."""
    final = report_path(upload)
    partial = final.with_name("." + final.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, delimiter=";", lineterminator="\r\n")
        writer.writerow(REPORT_HEADER)
        yield writer
    os.replace(partial, final)
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

    folder = prepare_home(account) / "import" / str(mailing_list.list_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{timezone.now():%Y%m%d%H%M%S}-{name}"
    with open(path, "wb") as target:
        for chunk in uploaded_file.chunks():
            target.write(chunk)
    return receive_upload(account, path)
