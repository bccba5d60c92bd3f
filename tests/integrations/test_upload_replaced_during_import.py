"""An upload written over while it is imported leaves the new file to its own import."""

from integrations import csv_import, services
from integrations.models import ImportFile
from lists.models import Subscription
from tests.integrations.conftest import import_local_file
from tests.personas import demo_list

Status = Subscription.Status


def status_of(email):
    return Subscription.objects.get(recipient__email=email, list=demo_list(), channel="email").status


def overwrite_after_first_record(monkeypatch, path, content):
    """Make the next import write `content` over `path` once it has read its first record, as a second STOR does."""
    read_records = csv_import.read_records

    def records_then_overwrite(stream, mailing_list, *arguments):
        for number, record in enumerate(read_records(stream, mailing_list, *arguments)):
            yield record
            if number == 0:
                path.write_bytes(content)

    monkeypatch.setattr(csv_import, "read_records", records_then_overwrite)


def test_full_file_overwritten_unsubscribes_nobody(import_folder, monkeypatch):
    import_local_file(import_folder, "all.csv", "111\nanna@example.com\nbruno@example.com\ncarla@example.com\n")
    path = import_folder / "full_all.csv"
    replacement = b"111\nanna@example.com\nbruno@example.com\ncarla@example.com\n"
    overwrite_after_first_record(monkeypatch, path, replacement)

    first = import_local_file(import_folder, "full_all.csv", "111\nanna@example.com\nbruno@example.com\n")

    assert first.status == ImportFile.Status.SUPERSEDED
    assert "replaced or deleted while it was imported" in first.error
    assert first.unsubscribed_absent == 0
    assert status_of("carla@example.com") == Status.SUBSCRIBED
    assert path.read_bytes() == replacement


def test_overwritten_file_is_imported_by_its_own_upload(import_folder, monkeypatch):
    path = import_folder / "contacts.csv"
    replacement = b"111\nanna@example.com\nbruno@example.com\n"
    overwrite_after_first_record(monkeypatch, path, replacement)
    import_local_file(import_folder, "contacts.csv", "111\nanna@example.com\ncarla@example.com\n")
    monkeypatch.undo()

    second = services.receive_upload(demo_list().account, path)
    services.import_upload(str(path), second.sha256)

    second.refresh_from_db()
    assert second.status == ImportFile.Status.DONE
    assert second.created + second.updated + second.unchanged == 2
    assert status_of("bruno@example.com") == Status.SUBSCRIBED
    assert not path.exists()
