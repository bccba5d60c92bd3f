"""Sending a message to the recipients of a CSV file in the account's FTP home, as MailUp's SendMessageNL does.

The file is imported through the import engine (integrations.importing)
into the list and a new group named "Automatic NN", and a sending of the
message to that group is scheduled. The group, the import and the sending
are written in one transaction: the engine's per-batch transactions become
savepoints of it, so any failure leaves none of them behind.
"""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath

from django.db import transaction
from django.utils import timezone

from integrations import csv_import, importing
from integrations.models import Import
from integrations.services import home_dir, open_import_stream
from lists import services as lists_services
from lists.models import List
from sending import services as sending_services

logger = logging.getLogger(__name__)

# MailUp schedules the message about 20 minutes after the call.
SEND_DELAY = timedelta(minutes=20)
DEFAULT_SEPARATOR = ";"
# None of them can occur unquoted in an e-mail address, a mobile number or a
# field id. The format has no quoting, so a field value must not contain the separator.
SEPARATORS = {";": ";", ",": ",", "|": "|", ":": ":", "\t": "\t", "tab": "\t"}
AUTOMATIC_GROUP_PREFIX = "Automatic "
AUTOMATIC_GROUP_NAME = re.compile(r"^Automatic ([0-9]{1,9})$")


class FileSendingRejected(Exception):
    """The file or a parameter cannot be used; the message names the reason and nothing was written."""


@dataclass(frozen=True)
class FileSending:
    """The outcome of send_to_file_recipients: the scheduled sending, its group and the import that filled it."""

    sending: object
    group: object
    job: Import


# --- The file ------------------------------------------------------------------


def parse_separator(raw):
    """Return the column separator that `raw` names; empty means `;`. Raises FileSendingRejected."""
    if raw == "":
        return DEFAULT_SEPARATOR
    separator = SEPARATORS.get(raw) or SEPARATORS.get(raw.strip().lower())
    if separator is None:
        raise FileSendingRejected(f"Parameter 'separator' must be ';', ',', '|', ':' or a tab; got {raw[:10]!r}.")
    return separator


def resolve_home_file(account, name):
    """Return the real path of the regular file `name` inside the account's FTP home.

    `name` is relative to the home, with `/` or `\\` between folders. An
    empty name, a NUL character, an absolute path, a `..` component, or a
    symbolic link that leads out of the home raise FileSendingRejected, as
    does a name that is no regular file.
    """
    if "\x00" in name:
        raise FileSendingRejected("Parameter 'fileName' contains a NUL character.")
    if not name.strip():
        raise FileSendingRejected("Parameter 'fileName' is missing.")

    relative = PurePosixPath(name.strip().replace("\\", "/"))
    if relative.is_absolute():
        raise FileSendingRejected(f"Parameter 'fileName' must be relative to the FTP home; got the absolute path {name[:80]!r}.")
    if ".." in relative.parts:
        raise FileSendingRejected(f"Parameter 'fileName' must not contain '..'; got {name[:80]!r}.")

    home = home_dir(account).resolve()
    try:
        # resolve() follows every symbolic link, so a link that points out of the home fails the check below.
        path = (home / relative).resolve()
    except (OSError, RuntimeError) as error:
        # Python 3.11 reports a symbolic link loop as RuntimeError.
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise FileSendingRejected(f"File {name[:80]!r} cannot be read: {reason}") from None
    if not path.is_relative_to(home):
        raise FileSendingRejected(f"File {name[:80]!r} leads out of the FTP home.")
    try:
        exists, regular = path.exists(), path.is_file()
    except OSError as error:
        raise FileSendingRejected(f"File {name[:80]!r} cannot be read: {error.strerror}") from None
    if not exists:
        raise FileSendingRejected(f"File {name[:80]!r} does not exist in the FTP home of console {account.console_id}.")
    if not regular:
        raise FileSendingRejected(f"{name[:80]!r} in the FTP home of console {account.console_id} is not a regular file.")
    return path


def sending_start(requested=None, now=None):
    """Return when the sending starts: SEND_DELAY from now, or `requested` when that is later.

    A naive `requested` is in the server's TIME_ZONE. An earlier time, such
    as .NET's DateTime.MinValue that clients send for "no date", keeps the
    delay. Raises FileSendingRejected for a time at or after 9999-12-30 UTC.
    """
    earliest = (now or timezone.now()) + SEND_DELAY
    if requested is None:
        return earliest
    if timezone.is_naive(requested):
        requested = timezone.make_aware(requested, timezone.get_default_timezone())
    if requested <= earliest:
        return earliest
    try:
        return sending_services.check_schedule_limit(requested)
    except ValueError as error:
        raise FileSendingRejected(f"Parameter 'timeDateSending': {error}") from None


# --- Import and sending --------------------------------------------------------


def send_to_file_recipients(message, path, separator, start, from_email="", from_name="", subject=""):
    """Import the CSV at `path` into the message's list and a new "Automatic NN" group, and schedule the message for the group.

    The file has the FTP import layout (a header of field ids, 111 for the
    e-mail address) with `separator` between columns. A line that cannot
    be imported (unreadable, too long, a bad address) rejects the whole
    file, so the group is never filled in part. A non-empty `subject` that
    differs from the message's is sent on a copy of the message, because a
    sending has no subject of its own. Returns a FileSending; raises
    FileSendingRejected, lists errors or ValueError with nothing written.
    """
    mailing_list = message.list
    with transaction.atomic():
        group = _create_automatic_group(mailing_list)
        job = _import_file(mailing_list, group, path, separator)
        if subject and subject != message.subject:
            message = sending_services.copy_message(message)
            sending_services.update_message(message, subject=subject)
        sending = sending_services.queue_sending(
            message, groups=[group], scheduled_at=start, from_email=from_email, from_name=from_name
        )

    logger.info(
        "file sending scheduled account=%s list=%s message=%s group=%s import=%s sending=%s start=%s counts=%s",
        mailing_list.account.console_id,
        mailing_list.list_id,
        message.pk,
        group.pk,
        job.pk,
        sending.pk,
        start.isoformat(),
        job.counts,
    )
    return FileSending(sending, group, job)


def _create_automatic_group(mailing_list):
    """Create the list's next "Automatic NN" group: one more than the highest number in use, at least two digits."""
    # Locking the list makes two concurrent calls on it take different numbers.
    List.objects.select_for_update().filter(pk=mailing_list.pk).first()
    names = mailing_list.groups.filter(name__startswith=AUTOMATIC_GROUP_PREFIX).values_list("name", flat=True)
    numbers = [int(match[1]) for match in map(AUTOMATIC_GROUP_NAME.match, names) if match]
    number = max(numbers, default=0) + 1
    return lists_services.create_group(mailing_list, f"{AUTOMATIC_GROUP_PREFIX}{number:02d}")


def _import_file(mailing_list, group, path, separator):
    """Run the import engine over the file inside the caller's transaction; return the completed Import."""
    # NOTE: the import runs inside the SOAP request. Files are limited only by
    # FTP_IMPORT_MAX_BYTES, so a file of many thousands of rows keeps the client waiting.
    now = timezone.now()
    options = lists_services.ImportOptions(group_ids=(group.pk,))
    job = Import.objects.create(
        account=mailing_list.account,
        list=mailing_list,
        kind=Import.Kind.SOAP,
        options=importing.options_to_json(options),
        status=Import.Status.RUNNING,
        queued_at=now,
        started_at=now,
        heartbeat_at=now,
        attempts=1,
    )
    job = Import.objects.select_related("list", "account").get(pk=job.pk)

    try:
        with open_import_stream(path) as stream:
            records = csv_import.read_records(stream, mailing_list, separator)
            importing.execute(job, _whole_file(records), importing.Report())
    except importing.InputRejected as error:
        raise FileSendingRejected(str(error)) from None

    if not job.count("created") + job.count("updated") + job.count("unchanged"):
        raise FileSendingRejected("The file contains no recipient that could be imported.")
    importing.finish(job, Import.Status.COMPLETED)
    return job


def _whole_file(records):
    """Yield the records, raising InputRejected at the first line that could not be read as a recipient."""
    for record in records:
        if record.row is None:
            raise importing.InputRejected(f"Line {record.number}: {record.error}")
        yield record
