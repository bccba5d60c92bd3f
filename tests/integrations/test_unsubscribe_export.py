"""The unsubscriber export writes each list's opt-outs since its previous run into export/."""

import csv
import datetime
import io

from django.core.management import call_command
from django.utils import timezone

from integrations import exports
from integrations.models import FtpAccount, UnsubscribeExport
from lists import services
from lists.models import Source
from tests.personas import demo_list

HEADER = ["email", "mobile", "idList", "OptOut_Date", "Subscription_Date", "optout_nl", "optout_type"]


def subscribe_and_unsubscribe(email, reason, mobile_number=None, list_id=1):
    mailing_list = demo_list(list_id)
    contact = services.Contact(email=email, mobile_prefix="0039" if mobile_number else "", mobile_number=mobile_number)
    request = services.SubscribeRequest(
        account=mailing_list.account, lists=[mailing_list], contact=contact, source=Source.API, confirm=False
    )
    services.subscribe(request)
    services.unsubscribe(mailing_list.account, mailing_list, services.Contact(email=email), Source.API, reason)


def fetch_rows(ftp, file_name):
    lines = []
    ftp.retrlines(f"RETR /export/{file_name}", lines.append)
    return list(csv.reader(io.StringIO("\n".join(lines)), delimiter=";"))


def test_export_writes_unsubscribes_in_mailup_columns(ftp):
    subscribe_and_unsubscribe("anna@example.com", "2", mobile_number="3331234567")
    subscribe_and_unsubscribe("bruno@example.com", "80")

    export = exports.export_unsubscribed(demo_list(1))

    day = timezone.localtime(export.until).strftime("%Y%m%d")
    assert export.file_name == f"unsubscribed_1_{day}.csv"
    rows = fetch_rows(ftp, export.file_name)
    assert rows[0] == HEADER
    anna, bruno = rows[1:]
    assert anna[:3] == ["anna@example.com", "+393331234567", "1"]
    assert anna[6] == "2"
    assert len(anna[3]) == len("20210122T111244")
    assert anna[3][8] == "T"
    assert len(anna[4]) == len("20210122T111244")
    assert bruno[:3] == ["bruno@example.com", "", "1"]
    assert bruno[6] == "80"


def test_second_export_holds_only_new_unsubscribes(ftp):
    subscribe_and_unsubscribe("anna@example.com", "2")
    first = exports.export_unsubscribed(demo_list(1))
    subscribe_and_unsubscribe("bruno@example.com", "16")

    second = exports.export_unsubscribed(demo_list(1))

    assert (first.rows, second.rows) == (1, 1)
    assert second.since == first.until
    rows = fetch_rows(ftp, second.file_name)
    assert [row[0] for row in rows] == ["email", "anna@example.com", "bruno@example.com"]


def test_export_of_a_later_day_starts_a_new_file(ftp):
    subscribe_and_unsubscribe("anna@example.com", "2")
    exports.export_unsubscribed(demo_list(1))
    tomorrow = timezone.now() + datetime.timedelta(days=1)

    later = exports.export_unsubscribed(demo_list(1), now=tomorrow)

    assert later.rows == 0
    assert fetch_rows(ftp, later.file_name) == [HEADER]


def test_export_skips_other_lists(demo, settings, tmp_path):
    settings.FTP_ROOT = tmp_path
    subscribe_and_unsubscribe("anna@example.com", "2", list_id=2)

    assert exports.export_unsubscribed(demo_list(1)).rows == 0
    assert exports.export_unsubscribed(demo_list(2)).rows == 1


def test_due_exports_run_once_daily(demo, settings, tmp_path):
    settings.FTP_ROOT = tmp_path
    FtpAccount.objects.filter(account__console_id=1234).update(export_time=datetime.time(2, 0))
    today = timezone.localtime().date()
    before = timezone.make_aware(datetime.datetime.combine(today, datetime.time(1, 59)))
    after = timezone.make_aware(datetime.datetime.combine(today, datetime.time(2, 0)))

    assert exports.run_due_exports(before) == []
    assert len(exports.run_due_exports(after)) == 2
    assert exports.run_due_exports(after + datetime.timedelta(hours=1)) == []
    assert set(UnsubscribeExport.objects.values_list("trigger", flat=True)) == {"schedule"}


def test_command_exports_at_once(demo, settings, tmp_path):
    settings.FTP_ROOT = tmp_path
    subscribe_and_unsubscribe("anna@example.com", "2")
    output = io.StringIO()

    call_command("export_unsubscribed", "--console-id", "1234", "--list", "1", stdout=output)

    assert "list 1: 1 rows in export/unsubscribed_1_" in output.getvalue()
    assert UnsubscribeExport.objects.get().trigger == "manual"
