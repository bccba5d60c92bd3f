"""Files uploaded over FTP into import/<listId>/ are imported at once, reported on and moved to done/."""

import io
import re
import zipfile

from integrations.models import ImportFile
from lists import services
from lists.models import GroupMembership, Recipient, Source, Subscription, SubscriptionEvent
from tests.integrations.conftest import import_and_report, report_rows, upload
from tests.personas import demo_list

Status = Subscription.Status


def subscription(email, list_id=1):
    return Subscription.objects.get(recipient__email=email, list=demo_list(list_id), channel="email")


def clienti_group_id():
    return demo_list(1).groups.get(name="Clienti").pk


def test_upload_imports_rows_and_writes_report(ftp, ftp_server):
    group = clienti_group_id()
    content = (
        "\ufeff111|1|2|groups|status\r\n"
        f"anna.rossi@example.com|Anna|Rossi|{group}|\r\n"
        "JOSE@example.com|José|Müller||subscribed\r\n"
    )
    rows = import_and_report(ftp, ftp_server.home(), 1, "contacts.csv", content)

    assert [(row["row"], row["email"], row["outcome"]) for row in rows] == [
        ("2", "anna.rossi@example.com", "created"),
        ("3", "jose@example.com", "created"),
    ]
    anna = Recipient.objects.get(email="anna.rossi@example.com")
    assert anna.fields == {"1": "Anna", "2": "Rossi"}
    assert GroupMembership.objects.filter(recipient=anna, group_id=group).exists()
    assert Recipient.objects.get(email="jose@example.com").fields["1"] == "José"
    assert subscription("anna.rossi@example.com").status == Status.SUBSCRIBED
    assert subscription("anna.rossi@example.com").source == Source.IMPORT
    sources = set(SubscriptionEvent.objects.filter(recipient=anna).values_list("source", flat=True))
    assert sources == {Source.IMPORT}


def test_imported_file_moves_to_done(ftp, ftp_server):
    import_and_report(ftp, ftp_server.home(), 1, "contacts.csv", "111\nanna@example.com\n")

    folder = ftp_server.home() / "import" / "1"
    assert not (folder / "contacts.csv").exists()
    [moved] = [path.name for path in (folder / "done").iterdir()]
    assert re.fullmatch(r"contacts\.\d{8}T\d{6}\.csv", moved)
    assert "done" in ftp.nlst("/import/1")


def test_existing_recipient_keeps_status_and_gets_fields(ftp, ftp_server):
    import_and_report(ftp, ftp_server.home(), 1, "first.csv", "111|1|status\nanna@example.com|Anna|pending\n")

    rows = import_and_report(ftp, ftp_server.home(), 1, "second.csv", "111|1\nanna@example.com|Annalisa\n")

    assert rows[0]["outcome"] == "updated"
    assert subscription("anna@example.com").status == Status.PENDING
    assert Recipient.objects.get(email="anna@example.com").fields["1"] == "Annalisa"


def test_same_file_twice_changes_nothing(ftp, ftp_server):
    content = "111|1|status\nanna@example.com|Anna|\nbruno@example.com|Bruno|unsubscribed\n"
    import_and_report(ftp, ftp_server.home(), 1, "contacts.csv", content)
    events = SubscriptionEvent.objects.count()

    rows = import_and_report(ftp, ftp_server.home(), 1, "contacts.csv", content)

    assert [row["outcome"] for row in rows] == ["unchanged", "unchanged"]
    assert "already imported" in rows[0]["reason"]
    assert SubscriptionEvent.objects.count() == events
    statuses = list(ImportFile.objects.order_by("id").values_list("status", flat=True))
    assert statuses == [ImportFile.Status.DONE, ImportFile.Status.DUPLICATE]


def test_unknown_header_cell_rejects_file(ftp, ftp_server):
    rows = import_and_report(ftp, ftp_server.home(), 1, "bad.csv", "111|1|nome\nanna@example.com|Anna|Anna\n")

    assert len(rows) == 1
    assert rows[0]["outcome"] == "rejected"
    assert "'nome'" in rows[0]["reason"]
    assert not Recipient.objects.exists()
    assert ImportFile.objects.get().status == ImportFile.Status.REJECTED


def test_rows_rejected_for_each_cause(ftp, ftp_server):
    _bounced("bounced@example.com")
    content = "\n".join(
        [
            "111|333|groups|status|1",
            "too@few.com|",
            "not-an-address||||",
            "|12ab|||",
            "||||",
            "group@example.com||999999||",
            "bounced@example.com|||subscribed|",
            "status@example.com|||maybe|",
            f"long@example.com|||| {'x' * 300}",
            "nul@example.com||||a\x00b",
            "good@example.com||||Good",
        ]
    )
    rows = import_and_report(ftp, ftp_server.home(), 1, "mixed.csv", content)

    outcomes = {row["row"]: (row["outcome"], row["reason"]) for row in rows}
    assert outcomes["2"][0] == "rejected"
    assert "columns" in outcomes["2"][1]
    assert outcomes["3"][0] == "rejected"
    assert "e-mail address" in outcomes["3"][1]
    assert outcomes["4"][0] == "rejected"
    assert "mobile number" in outcomes["4"][1]
    assert outcomes["5"][0] == "rejected"
    assert "empty" in outcomes["5"][1]
    assert outcomes["6"][0] == "rejected"
    assert "Group 999999" in outcomes["6"][1]
    assert outcomes["7"][0] == "rejected"
    assert "reason 80" in outcomes["7"][1]
    assert outcomes["8"][0] == "rejected"
    assert "status" in outcomes["8"][1]
    assert outcomes["9"][0] == "rejected"
    assert "longer than 200" in outcomes["9"][1]
    assert outcomes["10"][0] == "rejected"
    assert "control characters" in outcomes["10"][1]
    assert outcomes["11"][0] == "created"
    assert list(Recipient.objects.values_list("email", flat=True).order_by("email")) == [
        "bounced@example.com",
        "good@example.com",
    ]


def _bounced(email):
    """Subscribe `email` to list 1 and unsubscribe it with a hard bounce (reason 80)."""
    mailing_list = demo_list()
    contact = services.Contact(email=email)
    request = services.SubscribeRequest(
        account=mailing_list.account, lists=[mailing_list], contact=contact, source=Source.API, confirm=False
    )
    services.subscribe(request)
    services.unsubscribe(mailing_list.account, mailing_list, contact, Source.BOUNCE, "80")


def test_blocked_recipient_stays_unsubscribed(ftp, ftp_server):
    _bounced("bounced@example.com")

    rows = import_and_report(
        ftp,
        ftp_server.home(),
        1,
        "resubscribe.csv",
        "111|1|status\nbounced@example.com|Back|subscribed\nbounced@example.com|Back|pending\n",
    )

    assert [row["outcome"] for row in rows] == ["rejected", "rejected"]
    blocked = subscription("bounced@example.com")
    assert blocked.status == Status.UNSUBSCRIBED
    assert blocked.optout_reason == "80"
    assert Recipient.objects.get(email="bounced@example.com").fields == {}


def test_status_unsubscribed_records_reason_4(ftp, ftp_server):
    import_and_report(ftp, ftp_server.home(), 1, "a.csv", "111\nanna@example.com\n")

    rows = import_and_report(ftp, ftp_server.home(), 1, "b.csv", "111|status\nanna@example.com|UNSUBSCRIBED\n")

    assert rows[0]["outcome"] == "updated"
    unsubscribed = subscription("anna@example.com")
    assert unsubscribed.status == Status.UNSUBSCRIBED
    assert unsubscribed.optout_reason == "4"
    event = SubscriptionEvent.objects.filter(kind="unsubscribe").get()
    assert (event.source, event.reason) == (Source.IMPORT, "4")


def test_status_pending_sends_confirmation_request(ftp, ftp_server, sink):
    import_and_report(ftp, ftp_server.home(), 1, "pending.csv", "111|status\nanna@example.com|pending\n")

    assert subscription("anna@example.com").status == Status.PENDING
    [request] = sink.wait_for(1)
    assert request.rcpt_to == ["anna@example.com"]


def test_mobile_columns_are_imported(ftp, ftp_server):
    content = "111|222|333\nanna@example.com|+39|3331234567\n|0039|3337654321\n"
    rows = import_and_report(ftp, ftp_server.home(), 1, "mobile.csv", content)

    assert [row["outcome"] for row in rows] == ["created", "created"]
    anna = Recipient.objects.get(email="anna@example.com")
    assert (anna.mobile_prefix, anna.mobile_number) == ("0039", "3331234567")
    assert Recipient.objects.filter(email=None, mobile_number="3337654321").exists()


def test_zip_with_one_csv_is_imported(ftp, ftp_server):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as writer:
        writer.writestr("../../escape/contacts.csv", "111\nanna@example.com\n")
    rows = import_and_report(ftp, ftp_server.home(), 1, "contacts.zip", archive.getvalue())

    assert rows[0]["outcome"] == "created"
    assert not (ftp_server.root.parent / "escape").exists()


def test_zip_with_two_csv_files_is_rejected(ftp, ftp_server):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr("a.csv", "111\nanna@example.com\n")
        writer.writestr("b.csv", "111\nbruno@example.com\n")
    rows = import_and_report(ftp, ftp_server.home(), 1, "two.zip", archive.getvalue())

    assert rows[0]["outcome"] == "rejected"
    assert "2 .csv files" in rows[0]["reason"]
    assert not Recipient.objects.exists()


def test_other_file_names_are_not_imported(ftp, ftp_server):
    upload(ftp, "/import/1/notes.txt", "111\nanna@example.com\n")
    upload(ftp, "/export/contacts.csv", "111\nanna@example.com\n")
    import_and_report(ftp, ftp_server.home(), 1, "marker.csv", "111\nmarker@example.com\n")

    assert list(Recipient.objects.values_list("email", flat=True)) == ["marker@example.com"]
    assert (ftp_server.home() / "import" / "1" / "notes.txt").exists()


def test_full_file_unsubscribes_absent_recipients(ftp, ftp_server):
    import_and_report(ftp, ftp_server.home(), 1, "all.csv", "111\nanna@example.com\nbruno@example.com\n")

    rows = import_and_report(ftp, ftp_server.home(), 1, "full_all.csv", "111\nanna@example.com\n")

    assert [(row["email"], row["outcome"]) for row in rows] == [
        ("anna@example.com", "unchanged"),
        ("bruno@example.com", "updated"),
    ]
    assert subscription("anna@example.com").status == Status.SUBSCRIBED
    absent = subscription("bruno@example.com")
    assert (absent.status, absent.optout_reason) == (Status.UNSUBSCRIBED, "0")


def test_delta_file_touches_only_its_rows(ftp, ftp_server):
    import_and_report(ftp, ftp_server.home(), 1, "all.csv", "111\nanna@example.com\nbruno@example.com\n")

    import_and_report(ftp, ftp_server.home(), 1, "delta.csv", "111\nanna@example.com\n")

    assert subscription("bruno@example.com").status == Status.SUBSCRIBED


def test_report_is_listed_over_ftp(ftp, ftp_server):
    import_and_report(ftp, ftp_server.home(), 1, "contacts.csv", "111\nanna@example.com\n")

    lines = []
    ftp.retrlines("RETR /import/1/contacts.report.csv", lines.append)
    assert lines[0] == "row;email;outcome;reason"
    assert report_rows("\n".join(lines))[0]["outcome"] == "created"


def test_full_file_keeps_recipients_of_rejected_rows(ftp, ftp_server):
    import_and_report(ftp, ftp_server.home(), 1, "all.csv", "111\nanna@example.com\nbruno@example.com\n")

    rows = import_and_report(
        ftp, ftp_server.home(), 1, "FULL_all.csv", "111|groups\nanna@example.com|\nbruno@example.com|999999\n"
    )

    assert [row["outcome"] for row in rows] == ["unchanged", "rejected"]
    assert subscription("bruno@example.com").status == Status.SUBSCRIBED


def test_large_file_with_bad_rows_imports_good_ones(ftp, ftp_server):
    lines = ["111|1|2"]
    bad_rows = {7: ("broken-{n}|Ünïcødé|x", "Invalid e-mail address"), 13: ("extra{n}@example.com|a|b|c", "columns")}
    for number in range(10_000):
        template, _reason = bad_rows.get(number % 100, ("person{n}@example.com|Zoë {n}|Dupré", ""))
        lines.append(template.format(n=number))
    content = "\ufeff" + "\r\n".join(lines) + "\r\n"

    rows = import_and_report(ftp, ftp_server.home(), 1, "big.csv", content)

    outcomes = [row["outcome"] for row in rows]
    assert len(rows) == 10_000
    assert outcomes.count("rejected") == 200
    assert outcomes.count("created") == 9_800
    for number, (_template, reason) in bad_rows.items():
        assert rows[number]["row"] == str(number + 2)
        assert rows[number]["outcome"] == "rejected"
        assert reason in rows[number]["reason"]
    assert Recipient.objects.get(email="person8@example.com").fields == {"1": "Zoë 8", "2": "Dupré"}
    events = SubscriptionEvent.objects.count()
    fields = dict(Recipient.objects.values_list("email", "fields"))

    again = import_and_report(ftp, ftp_server.home(), 1, "big.csv", content)

    assert {row["outcome"] for row in again} == {"unchanged"}
    assert Recipient.objects.count() == 9_800
    assert SubscriptionEvent.objects.count() == events
    assert dict(Recipient.objects.values_list("email", "fields")) == fields


def test_crashed_file_import_resumes_with_one_report_line_per_row(demo, settings, tmp_path, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from integrations import services as integration_services
    from integrations.models import Import

    settings.FTP_ROOT = tmp_path / "ftp"
    settings.IMPORT_BATCH_SIZE = 2
    account = demo_list().account
    folder = integration_services.prepare_home(account) / "import" / "1"
    path = folder / "crash.csv"
    path.write_text("111\n" + "".join(f"p{number}@example.com\n" for number in range(5)), encoding="utf-8")
    monkeypatch.setattr("integrations.tasks.import_uploaded_file.delay", lambda *arguments: None)
    upload = integration_services.receive_upload(account, path)
    real_import_batch = services.import_batch
    calls = []

    def crash_on_second_batch(*arguments, **keywords):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_import_batch(*arguments, **keywords)

    monkeypatch.setattr(services, "import_batch", crash_on_second_batch)
    try:
        integration_services.import_upload(str(path), upload.sha256)
    except KeyboardInterrupt:
        pass
    upload.refresh_from_db()
    Import.objects.filter(pk=upload.job_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    integration_services.import_upload(str(path), upload.sha256)

    rows = report_rows((folder / "crash.report.csv").read_text(encoding="utf-8"))
    assert [row["row"] for row in rows] == ["2", "3", "4", "5", "6"]
    assert {row["outcome"] for row in rows} == {"created"}
    assert Recipient.objects.count() == 5


def test_overlong_file_name_is_rejected(demo, settings, tmp_path, monkeypatch):
    from integrations import services as integration_services

    settings.FTP_ROOT = tmp_path / "ftp"
    account = demo_list().account
    folder = integration_services.prepare_home(account) / "import" / "1"
    # 240 bytes fit in a file name, but its report's and done/ copy's names would not.
    path = folder / ("n" * 236 + ".csv")
    path.write_text("111\nanna@example.com\n", encoding="utf-8")
    monkeypatch.setattr("integrations.tasks.import_uploaded_file.delay", lambda *arguments: None)
    upload = integration_services.receive_upload(account, path)

    integration_services.import_upload(str(path), upload.sha256)

    upload.refresh_from_db()
    assert upload.status == ImportFile.Status.REJECTED
    assert "longer than" in upload.error
    assert str(tmp_path) not in upload.error
    assert not Recipient.objects.exists()
