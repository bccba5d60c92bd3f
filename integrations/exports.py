"""The unsubscriber export: `export/unsubscribed_<listId>_<YYYYMMDD>.csv` in each account's FTP home.

Each run writes the e-mail unsubscribes of a list since the previous run
of that list.
"""

import csv
import logging
import os
import shutil

from django.db import transaction
from django.utils import timezone

from integrations import services
from integrations.models import FtpAccount, UnsubscribeExport
from lists.models import Channel, List, Subscription

logger = logging.getLogger(__name__)

EXPORT_HEADER = ("email", "mobile", "idList", "OptOut_Date", "Subscription_Date", "optout_nl", "optout_type")
DATE_FORMAT = "%Y%m%dT%H%M%S"


def export_unsubscribed(mailing_list, trigger=UnsubscribeExport.Trigger.MANUAL, now=None):
    """Write the list's unsubscribes since its previous export and return the UnsubscribeExport.

    A second run on the same day appends its rows to that day's file, so
    nothing a client has not fetched yet is overwritten.
    """
    until = now or timezone.now()
    with transaction.atomic():
        List.objects.select_for_update().get(pk=mailing_list.pk)
        previous = UnsubscribeExport.objects.filter(list=mailing_list).order_by("-until", "-id").first()
        since = previous.until if previous else None

        subscriptions = _unsubscribes(mailing_list, since, until)
        path = _export_path(mailing_list, until)
        rows = _write_rows(path, mailing_list, subscriptions)
        export = UnsubscribeExport.objects.create(
            list=mailing_list, since=since, until=until, trigger=trigger, file_name=path.name, rows=rows
        )

    logger.info("unsubscribe export list=%s file=%s rows=%s trigger=%s", mailing_list.pk, path.name, rows, trigger)
    return export


def _unsubscribes(mailing_list, since, until):
    # NOTE: an unsubscribe whose transaction commits after a run that began
    # later than its optout_at is missed by both runs.
    query = Subscription.objects.filter(
        list=mailing_list, channel=Channel.EMAIL, status=Subscription.Status.UNSUBSCRIBED, optout_at__lte=until
    )
    if since is not None:
        query = query.filter(optout_at__gt=since)
    return query.select_related("recipient").order_by("optout_at", "id")


def _export_path(mailing_list, until):
    folder = services.home_dir(mailing_list.account) / "export"
    folder.mkdir(parents=True, exist_ok=True)
    day = timezone.localtime(until).strftime("%Y%m%d")
    return folder / f"unsubscribed_{mailing_list.list_id}_{day}.csv"


def _write_rows(path, mailing_list, subscriptions):
    """Write the rows to a copy of the day's file and put it in place; return the number written."""
    partial = path.with_name("." + path.name + ".partial")
    existing = path.exists()
    count = 0
    # FTP clients may overwrite the day's file. Its bytes are copied without
    # decoding, so a file that is not UTF-8 cannot stop the export.
    if existing:
        shutil.copyfile(path, partial)
    with open(partial, "a" if existing else "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, delimiter=";", lineterminator="\r\n")
        if not existing:
            writer.writerow(EXPORT_HEADER)
        for subscription in subscriptions.iterator():
            writer.writerow(_row(mailing_list, subscription))
            count += 1
    os.replace(partial, path)
    return count


def _row(mailing_list, subscription):
    recipient = subscription.recipient
    subscribed_at = subscription.optin_at or subscription.requested_at
    return (
        recipient.email or "",
        _international_mobile(recipient),
        mailing_list.list_id,
        _format_date(subscription.optout_at),
        _format_date(subscribed_at),
        subscription.optout_message_id or "",
        subscription.optout_reason,
    )


def _international_mobile(recipient):
    """Return `+`, country code and number: prefix 0039 and number 3331234567 give +393331234567."""
    if not recipient.mobile_number:
        return ""
    return "+" + recipient.mobile_prefix.removeprefix("00") + recipient.mobile_number


def _format_date(value):
    return timezone.localtime(value).strftime(DATE_FORMAT) if value else ""


def run_due_exports(now=None):
    """Export every list of each FTP account whose export time has passed today without a scheduled run.

    Returns the UnsubscribeExport rows written.
    """
    now = now or timezone.now()
    local = timezone.localtime(now)
    written = []
    for ftp_account in FtpAccount.objects.select_related("account"):
        if local.time() < ftp_account.export_time:
            continue
        for mailing_list in ftp_account.account.lists.all():
            if not _ran_today(mailing_list, local):
                written.extend(_export_scheduled(mailing_list, now))
    return written


def _export_scheduled(mailing_list, now):
    """Run one list's scheduled export and return [its UnsubscribeExport], or [] when it failed.

    A failure is logged and retried at the next run. One account's home, for
    example a folder renamed onto the file's name, cannot stop the exports
    of the other lists.
    """
    try:
        return [export_unsubscribed(mailing_list, UnsubscribeExport.Trigger.SCHEDULE, now)]
    except Exception:
        logger.exception("unsubscribe export failed account=%s list=%s", mailing_list.account.console_id, mailing_list.pk)
        return []


def _ran_today(mailing_list, local):
    scheduled = UnsubscribeExport.objects.filter(list=mailing_list, trigger=UnsubscribeExport.Trigger.SCHEDULE)
    last = scheduled.order_by("-until").first()
    return last is not None and timezone.localtime(last.until).date() == local.date()
