"""The unsubscriber export survives what FTP clients leave in export/."""

import csv
import datetime
import io

from integrations import exports, services
from integrations.models import FtpAccount, UnsubscribeExport
from lists import services as lists_services
from lists.models import Source
from tests.personas import demo_list


def subscribe_and_unsubscribe(email, list_id=1):
    mailing_list = demo_list(list_id)
    contact = lists_services.Contact(email=email)
    request = lists_services.SubscribeRequest(
        account=mailing_list.account, lists=[mailing_list], contact=contact, source=Source.API, confirm=False
    )
    lists_services.subscribe(request)
    lists_services.unsubscribe(mailing_list.account, mailing_list, contact, Source.API, "2")


def day_file(list_id=1):
    export = UnsubscribeExport.objects.filter(list=demo_list(list_id)).latest("id")
    return services.home_dir(demo_list(list_id).account) / "export" / export.file_name


def test_export_appends_to_file_that_is_not_utf8(demo, settings, tmp_path):
    settings.FTP_ROOT = tmp_path
    exports.export_unsubscribed(demo_list(1))
    day_file().write_bytes(b"email;mobile\r\nCaf\xe9@example.com;\r\n")
    subscribe_and_unsubscribe("anna@example.com")

    export = exports.export_unsubscribed(demo_list(1))

    assert export.rows == 1
    content = day_file().read_bytes()
    assert content.startswith(b"email;mobile\r\nCaf\xe9@example.com;\r\n")
    [row] = csv.reader(io.StringIO(content.split(b"\r\n", 2)[2].decode("utf-8")), delimiter=";")
    assert row[0] == "anna@example.com"


def test_failed_list_export_does_not_stop_others(demo, settings, tmp_path):
    settings.FTP_ROOT = tmp_path
    FtpAccount.objects.update(export_time=datetime.time(0, 0))
    exports.export_unsubscribed(demo_list(1))
    # A client can rename a folder onto the day's file name.
    path = day_file()
    path.unlink()
    path.mkdir()
    subscribe_and_unsubscribe("anna@example.com", list_id=2)

    written = exports.run_due_exports()

    assert [export.list.list_id for export in written] == [2]
    assert written[0].rows == 1
    assert not UnsubscribeExport.objects.filter(list=demo_list(1), trigger=UnsubscribeExport.Trigger.SCHEDULE).exists()
