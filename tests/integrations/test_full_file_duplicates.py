"""A full file repeats an earlier upload only when that upload was full too."""

from integrations import services
from integrations.models import ImportFile
from lists.models import Subscription
from tests.integrations.conftest import import_local_file
from tests.personas import demo_list

Status = Subscription.Status


def status_of(email):
    return Subscription.objects.get(recipient__email=email, list=demo_list(), channel="email").status


def test_full_after_same_delta_imports(import_folder):
    import_local_file(import_folder, "all.csv", "111\nanna@example.com\nbruno@example.com\n")
    import_local_file(import_folder, "delta.csv", "111\nanna@example.com\n")

    upload = import_local_file(import_folder, "full_delta.csv", "111\nanna@example.com\n")

    assert upload.status == ImportFile.Status.DONE
    assert upload.unsubscribed_absent == 1
    assert status_of("anna@example.com") == Status.SUBSCRIBED
    assert status_of("bruno@example.com") == Status.UNSUBSCRIBED


def test_full_after_same_full_is_duplicate(import_folder):
    import_local_file(import_folder, "full_first.csv", "111\nanna@example.com\n")

    upload = import_local_file(import_folder, "full_second.csv", "111\nanna@example.com\n")

    assert upload.status == ImportFile.Status.DUPLICATE
    report = services.report_path(upload).read_text(encoding="utf-8")
    assert "already imported from full_first.csv" in report


def test_delta_after_same_full_is_duplicate(import_folder):
    import_local_file(import_folder, "full_first.csv", "111\nanna@example.com\n")

    upload = import_local_file(import_folder, "delta.csv", "111\nanna@example.com\n")

    assert upload.status == ImportFile.Status.DUPLICATE
