"""FTPZIP: an archive dropped into `sendzip/` imports its recipients, creates a message and sends or saves it.

The upload hook records a SendZip row and queues `process_send_zip`. The
task reads and checks the whole archive first (integrations.ftpzip_package),
so a rejected archive changes nothing. Then it imports Recipients.csv
through the batch import engine, creates the message with its images and
attachments, queues the sending, and writes `<name>.result.xml` next to the
archive, which moves to `sendzip/done/`.
"""

import csv
import logging
import os
from datetime import timedelta
from pathlib import Path, PurePosixPath

import lxml.html
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from lxml import etree

from integrations import services as ftp_services
from integrations.ftpzip_package import IMAGE_TYPES, PackageRejected, read_package
from integrations.models import ImportFile, SendZip
from lists.models import Account, Recipient
from lists.services import console_origin
from sending import services as sending_services

logger = logging.getLogger(__name__)

Status = SendZip.Status
SENDZIP_FOLDER = "sendzip"
RESULT_SUFFIX = ".result.xml"
# A running archive not finished after this long is taken to have crashed
# with its worker, and the sweep of a redelivered task may claim it again.
STALE_RUN = timedelta(minutes=10)
IMPORT_FAILURES = {ImportFile.Status.REJECTED, ImportFile.Status.FAILED}
RECIPIENTS_SUFFIX = ".Recipients.csv"
# `<name>.Recipients.csv` must fit the import engine's limit on file names;
# the result file and the done/ copy then fit too.
MAX_NAME_BYTES = ftp_services.MAX_IMPORT_NAME_BYTES - len(RECIPIENTS_SUFFIX) + len(".zip")


# --- Upload ------------------------------------------------------------------


def is_send_zip(account, path):
    """Return True for a `.zip` directly inside the account's `sendzip/` folder."""
    try:
        relative = Path(path).resolve().relative_to(ftp_services.home_dir(account).resolve())
    except ValueError:
        return False
    parts = relative.parts
    return len(parts) == 2 and parts[0] == SENDZIP_FOLDER and parts[1].lower().endswith(".zip")


def receive_send_zip(account, path):
    """Record a completed upload into `sendzip/` and queue its processing; return the SendZip, or None."""
    from integrations import tasks

    if not is_send_zip(account, path):
        return None
    with transaction.atomic():
        send_zip = SendZip.objects.create(
            account=account,
            name=Path(path).name,
            path=str(path),
            sha256=ftp_services.file_sha256(path),
            size=os.path.getsize(path),
        )
        transaction.on_commit(lambda: tasks.process_send_zip.delay(send_zip.pk))
    logger.info("sendzip received account=%s send_zip=%s name=%s", account.console_id, send_zip.pk, send_zip.name)
    return send_zip


def claim_send_zip(send_zip_id):
    """Claim a received (or stale running) archive and return it, or None when another run has it.

    The claimed archive is running, or a duplicate when the account has
    the same archive done or running. Claims of one account lock its row
    one after the other, so of two uploads of one archive the second
    finds the first running.
    """
    now = timezone.now()
    claimable = Q(status=Status.RECEIVED) | Q(status=Status.RUNNING, started_at__lt=now - STALE_RUN)
    account_id = SendZip.objects.filter(pk=send_zip_id).values_list("account_id", flat=True).first()
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=account_id).first()
        send_zip = SendZip.objects.select_for_update().filter(claimable, pk=send_zip_id).first()
        if send_zip is None:
            return None
        send_zip.status = Status.DUPLICATE if _is_duplicate(send_zip, now) else Status.RUNNING
        send_zip.started_at = now
        send_zip.save(update_fields=["status", "started_at"])
    return SendZip.objects.select_related("account").get(pk=send_zip_id)


# --- Processing --------------------------------------------------------------


def process_send_zip(send_zip):
    """Process a claimed archive, write its result file, move it to `done/`, and return its final status."""
    path = Path(send_zip.path)
    if not path.exists():
        return _finish(send_zip, Status.FAILED, "The archive disappeared before it was processed.")
    if len(path.name.encode("utf-8")) > MAX_NAME_BYTES:
        return _reject_long_name(send_zip)
    if send_zip.status == Status.DUPLICATE:
        return _finish(send_zip, Status.DUPLICATE, "The same archive was already processed; nothing was done again.")

    try:
        package = read_package(path)
        _check_supported(package)
        mailing_list = _target_list(send_zip.account, package.settings)
    except PackageRejected as rejection:
        logger.info("sendzip rejected send_zip=%s reason=%s", send_zip.pk, rejection)
        return _finish(send_zip, Status.REJECTED, str(rejection))

    try:
        _carry_out(send_zip, package, mailing_list)
    except PackageRejected as rejection:
        return _finish(send_zip, Status.REJECTED, str(rejection), package)
    except Exception as error:
        logger.exception("sendzip failed send_zip=%s", send_zip.pk)
        return _finish(send_zip, Status.FAILED, f"{type(error).__name__}: {error}"[:2000], package)
    return _finish(send_zip, Status.DONE, "", package)


def _is_duplicate(send_zip, now):
    """Return True when another archive of the account with the same content is done, or running and not stale."""
    done_or_running = Q(status=Status.DONE) | Q(status=Status.RUNNING, started_at__gte=now - STALE_RUN)
    same = SendZip.objects.filter(done_or_running, account_id=send_zip.account_id, sha256=send_zip.sha256)
    return same.exclude(pk=send_zip.pk).exists()


def _check_supported(package):
    """Reject attachments over the sending app's count and size limits before anything is imported or created."""
    slots = sending_services.MESSAGE_ATTACHMENT_SLOTS
    if len(package.attachments) > slots:
        raise PackageRejected(f"The package has {len(package.attachments)} attachments; a message may have {slots}.")
    for filename, data in package.attachments.items():
        if len(data) > settings.ATTACHMENT_MAX_BYTES:
            raise PackageRejected(
                f"Attachment {filename} has {len(data)} bytes; the limit is {settings.ATTACHMENT_MAX_BYTES} "
                "(ATTACHMENT_MAX_BYTES)."
            )
    total = sum(len(data) for data in package.attachments.values())
    if total > settings.MESSAGE_ATTACHMENTS_MAX_BYTES:
        raise PackageRejected(
            f"The attachments add up to {total} bytes; the limit is {settings.MESSAGE_ATTACHMENTS_MAX_BYTES} "
            "(MESSAGE_ATTACHMENTS_MAX_BYTES)."
        )


def _target_list(account, send_settings):
    mailing_list = account.lists.filter(list_id=send_settings.list_id).first()
    if mailing_list is None:
        raise PackageRejected(f"List {send_settings.list_id} not found in account {account.console_id}.")
    sender = send_settings.sender_email
    if sender and sender != mailing_list.sender_email.lower():
        # NOTE: messages are sent from their list's sender; a per-message
        # sender needs a sender on Message, which the sending app lacks.
        raise PackageRejected(
            f"Sender {sender} differs from the sender of list {mailing_list.list_id} "
            f"({mailing_list.sender_email}); FTPZIP messages are sent from the list's sender."
        )
    return mailing_list


def _carry_out(send_zip, package, mailing_list):
    recipients = None
    if package.settings.imports and package.recipients_csv is not None:
        upload = _import_recipients(send_zip, package.recipients_csv, mailing_list)
        if upload.status in IMPORT_FAILURES:
            raise PackageRejected(f"Recipients.csv was not imported: {upload.error}")
        recipients = _imported_recipients(upload, mailing_list)

    with transaction.atomic():
        message = _create_message(send_zip, package, mailing_list)
        if package.settings.sends:
            target = recipients if package.settings.type == "transactional" else ()
            if package.settings.type == "transactional" and not target:
                raise PackageRejected("Recipients.csv imported no recipient to send the transactional message to.")
            sending = sending_services.queue_sending(message, recipients=target, scheduled_at=package.settings.send_date)
            send_zip.sending = sending
            send_zip.save(update_fields=["sending"])


# --- Recipients --------------------------------------------------------------


def _import_recipients(send_zip, data, mailing_list):
    """Import Recipients.csv with the batch FTP engine, which writes its report beside it; return the ImportFile."""
    folder = Path(send_zip.path).parent
    path = folder / f"{Path(send_zip.name).stem}{RECIPIENTS_SUFFIX}"
    path.write_bytes(data)
    sha256 = ftp_services.file_sha256(path)
    upload = ImportFile.objects.create(
        account=send_zip.account,
        list=mailing_list,
        name=path.name,
        path=str(path),
        sha256=sha256,
        size=len(data),
        full=False,
    )
    send_zip.import_file = upload
    send_zip.save(update_fields=["import_file"])

    ftp_services.import_upload(str(path), sha256)
    upload.refresh_from_db()
    return upload


def _imported_recipients(upload, mailing_list):
    """Return the recipients that the import's report lists as created, updated or unchanged."""
    report = Path(upload.path).with_name(upload.report_name)
    with open(report, encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter=";"))
    emails = {row["email"].lower() for row in rows if row["outcome"] != "rejected" and row["email"]}
    return list(Recipient.objects.filter(account_id=mailing_list.account_id, email__in=emails))


# --- Message -----------------------------------------------------------------


def _create_message(send_zip, package, mailing_list):
    """Create the message with image links pointing at the stored images, and attach the attachments."""
    image_urls = _store_images(send_zip, package.images)
    html = rewrite_image_links(package.markup, image_urls)
    message = sending_services.create_message(mailing_list, package.settings.subject, html=html)
    for filename, data in package.attachments.items():
        try:
            sending_services.add_attachment(message, filename, data)
        except ValueError as error:
            raise PackageRejected(str(error)) from None

    send_zip.message = message
    send_zip.save(update_fields=["message"])
    return message


def _store_images(send_zip, images):
    """Write the images under FTPZIP_IMAGE_ROOT/<archive id>/ and return {archive name: public URL}."""
    folder = Path(settings.FTPZIP_IMAGE_ROOT) / str(send_zip.pk)
    origin = console_origin(send_zip.account)
    urls = {}
    for name, data in images.items():
        target = folder / PurePosixPath(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        urls[name] = f"{origin}/sim/media/ftpzip/{send_zip.pk}/{name}"
    return urls


def rewrite_image_links(markup, image_urls):
    """Replace links to archive images (src, background, CSS url()) with their public URLs; leave other links."""
    if not image_urls or not markup.strip():
        return markup
    lookup = {name.lower(): url for name, url in image_urls.items()}

    def replace(link):
        key = link.strip().removeprefix("./").lower()
        return lookup.get(key, link)

    document = lxml.html.document_fromstring(markup)
    document.rewrite_links(replace, resolve_base_href=False)
    return lxml.html.tostring(document, encoding="unicode", doctype="<!DOCTYPE html>")


# --- Result ------------------------------------------------------------------


def _finish(send_zip, status, error, package=None):
    send_zip.status = status
    send_zip.error = error
    send_zip.finished_at = timezone.now()
    send_zip.result_name = _write_result(send_zip, package)
    send_zip.save(update_fields=["status", "error", "finished_at", "result_name"])
    _move_to_done(send_zip)
    logger.info("sendzip finished send_zip=%s status=%s", send_zip.pk, status)
    return status


def _reject_long_name(send_zip):
    """Reject an archive whose result file and done/ copy would have names too long for the disk.

    The reason is only on the SendZip row, and the archive stays where it is.
    """
    send_zip.status = Status.REJECTED
    send_zip.error = f"The archive name is longer than {MAX_NAME_BYTES} bytes. Rename the archive and upload it again."
    send_zip.finished_at = timezone.now()
    send_zip.save(update_fields=["status", "error", "finished_at"])
    logger.info("sendzip rejected send_zip=%s reason=name too long", send_zip.pk)
    return send_zip.status


def _write_result(send_zip, package):
    """Write `<name>.result.xml` beside the archive and return its file name."""
    root = etree.Element("Result")
    etree.SubElement(root, "Archive").text = send_zip.name
    etree.SubElement(root, "Status").text = send_zip.status
    if send_zip.error:
        etree.SubElement(root, "Error").text = send_zip.error
    if send_zip.import_file is not None:
        _add_import(root, send_zip.import_file)
    if send_zip.message is not None:
        etree.SubElement(root, "MessageId").text = str(send_zip.message_id)
    if send_zip.sending is not None:
        etree.SubElement(root, "SendingId").text = str(send_zip.sending_id)
        scheduled = send_zip.sending.scheduled_at
        etree.SubElement(root, "SendDate").text = (scheduled or send_zip.sending.created_at).isoformat()
    if package is not None and send_zip.message is not None:
        _add_names(root, "Images", "Image", package.images)
        _add_names(root, "Attachments", "Attachment", package.attachments)
    if package is not None and package.ignored:
        _add_names(root, "Ignored", "File", package.ignored)

    path = Path(send_zip.path)
    result = path.with_name(path.stem + RESULT_SUFFIX)
    partial = result.with_name("." + result.name + ".partial")
    partial.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    os.replace(partial, result)
    return result.name


def _add_import(root, upload):
    element = etree.SubElement(root, "Import", status=upload.status, report=upload.report_name)
    for name in ("created", "updated", "unchanged", "rejected"):
        element.set(name, str(getattr(upload, name)))


def _add_names(root, folder, tag, names):
    parent = etree.SubElement(root, folder)
    for name in names:
        etree.SubElement(parent, tag).text = name


def _move_to_done(send_zip):
    source = Path(send_zip.path)
    if source.exists():
        ftp_services.move_into_done(source, send_zip.started_at or timezone.now())


def image_path(send_zip_id, name):
    """Return the stored file of an FTPZIP image, or None when the name is unsafe or unknown."""
    # The operating system rejects a path containing NUL with ValueError.
    if "\x00" in name or PurePosixPath(name).suffix.lower() not in IMAGE_TYPES:
        return None
    root = (Path(settings.FTPZIP_IMAGE_ROOT) / str(send_zip_id)).resolve()
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate
