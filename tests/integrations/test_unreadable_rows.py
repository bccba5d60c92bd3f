"""A row that is not UTF-8 or is too long is rejected, but its e-mail cell still names it in the report and in a full file."""

from integrations import services
from integrations.csv_import import MAX_LINE_BYTES
from lists.models import Subscription
from tests.integrations.conftest import import_local_file, report_rows
from tests.personas import demo_list

Status = Subscription.Status


def import_report(folder, name, content):
    upload = import_local_file(folder, name, content)
    return report_rows(services.report_path(upload).read_text(encoding="utf-8"))


def status_of(email):
    return Subscription.objects.get(recipient__email=email, list=demo_list(), channel="email").status


def test_latin1_row_names_its_email_in_report(import_folder):
    rows = import_report(import_folder, "latin1.csv", "111|1\nanna@example.com|Città\n".encode("latin-1"))

    assert [(row["email"], row["outcome"]) for row in rows] == [("anna@example.com", "rejected")]
    assert "not valid UTF-8" in rows[0]["reason"]


def test_latin1_row_keeps_recipient_in_full_file(import_folder):
    import_report(import_folder, "all.csv", b"111\nanna@example.com\nbruno@example.com\n")

    content = "111|1\nanna@example.com|Città\nbruno@example.com|Roma\n".encode("latin-1")
    rows = import_report(import_folder, "full_all.csv", content)

    assert [row["outcome"] for row in rows] == ["rejected", "updated"]
    assert status_of("anna@example.com") == Status.SUBSCRIBED
    assert status_of("bruno@example.com") == Status.SUBSCRIBED


def test_overlong_row_names_its_email_in_report(import_folder):
    content = b"111|1\nanna@example.com|" + b"x" * MAX_LINE_BYTES + b"\n"

    rows = import_report(import_folder, "long.csv", content)

    assert [(row["email"], row["outcome"]) for row in rows] == [("anna@example.com", "rejected")]
    assert "longer than" in rows[0]["reason"]


def test_overlong_row_keeps_recipient_in_full_file(import_folder):
    import_report(import_folder, "all.csv", b"111\nanna@example.com\nbruno@example.com\n")

    content = b"111|1\nanna@example.com|" + b"x" * MAX_LINE_BYTES + b"\nbruno@example.com|Roma\n"
    rows = import_report(import_folder, "full_all.csv", content)

    assert [row["outcome"] for row in rows] == ["rejected", "updated"]
    assert status_of("anna@example.com") == Status.SUBSCRIBED
