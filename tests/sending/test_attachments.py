"""Message attachments: stored files, MIME parts in every delivery, size limits and hostile names."""

from email import message_from_bytes, policy
from importlib import import_module

import pytest
from django.apps import apps

from sending import services
from sending.errors import AttachmentNotFound, InvalidAttachment
from sending.models import Attachment
from tests.sending.campaigns import newsletter, subscribe

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_attachment_sent_as_mime_part(demo, sink):
    subscribe("anna@example.com")
    message = newsletter()
    services.add_attachment(message, "listino.pdf", PDF, "application/pdf")

    sending = services.queue_sending(message)

    [stored] = sink.wait_for(1, sending_id=sending.pk)
    parsed = message_from_bytes(bytes(stored.raw), policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    [part] = list(parsed.iter_attachments())
    assert part.get_filename() == "listino.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_content() == PDF
    assert stored.dkim_result == "pass"


def test_content_type_guessed_from_name(demo):
    attachment = services.add_attachment(newsletter(), "foto.png", b"\x89PNG", "not a type")

    assert attachment.content_type == "image/png"


@pytest.mark.parametrize(
    "given, stored",
    [("../../etc/passwd", "passwd"), ("C:\\Users\\a\\doc.txt", "doc.txt"), ("a\r\nBcc: x@y.z.txt", "aBcc: x@y.z.txt")],
)
def test_filename_loses_path_and_controls(demo, given, stored):
    attachment = services.add_attachment(newsletter(), given, b"data")

    assert attachment.filename == stored
    assert ".." not in attachment.file.name


def test_size_limits(demo, settings):
    settings.ATTACHMENT_MAX_BYTES = 100
    settings.MESSAGE_ATTACHMENTS_MAX_BYTES = 150
    message = newsletter()

    with pytest.raises(ValueError, match="limit is 100"):
        services.add_attachment(message, "big.bin", b"x" * 101)
    services.add_attachment(message, "one.bin", b"x" * 100)
    with pytest.raises(ValueError, match="limit is 150"):
        services.add_attachment(message, "two.bin", b"x" * 51)
    assert Attachment.objects.filter(message=message).count() == 1


def test_empty_filename_rejected(demo):
    with pytest.raises(ValueError, match="file name '../' is empty"):
        services.add_attachment(newsletter(), "../", b"data")


def test_remove_attachment_deletes_file(demo):
    attachment = services.add_attachment(newsletter(), "a.txt", b"data")
    storage, name = attachment.file.storage, attachment.file.name

    services.remove_attachment(attachment)

    assert not storage.exists(name)
    assert not Attachment.objects.exists()


def test_attachments_take_lowest_free_slot(demo):
    message = newsletter()
    first = services.add_attachment(message, "a.txt", b"a")
    services.add_attachment(message, "b.txt", b"b", slot=3)
    second = services.add_attachment(message, "c.txt", b"c")

    assert first.slot == 1
    assert second.slot == 2
    assert [attachment.slot for attachment in message.attachments.all()] == [1, 2, 3]


def test_full_message_has_no_free_slot(demo):
    message = newsletter()
    for number in range(services.MESSAGE_ATTACHMENT_SLOTS):
        services.add_attachment(message, f"{number}.txt", b"x")

    with pytest.raises(InvalidAttachment, match="no free attachment slot") as raised:
        services.add_attachment(message, "extra.txt", b"x")
    assert raised.value.field == "slot"
    assert message.attachments.count() == services.MESSAGE_ATTACHMENT_SLOTS


@pytest.mark.parametrize("slot", [0, -1, services.MESSAGE_ATTACHMENT_SLOTS + 1, True, "1"])
def test_slot_out_of_range_rejected(demo, slot):
    with pytest.raises(InvalidAttachment, match="slot must be 1 to") as raised:
        services.add_attachment(newsletter(), "a.txt", b"a", slot=slot)
    assert raised.value.field == "slot"
    assert not Attachment.objects.exists()


def test_occupied_slot_replaced(demo):
    message = newsletter()
    old = services.add_attachment(message, "old.txt", b"old", slot=2)
    storage, old_name = old.file.storage, old.file.name

    new = services.add_attachment(message, "new.pdf", b"%PDF new", slot=2)

    [stored] = message.attachments.all()
    assert stored.pk == new.pk
    assert (stored.slot, stored.filename, stored.size) == (2, "new.pdf", 8)
    assert not storage.exists(old_name)
    with stored.file.open("rb") as file:
        assert file.read() == b"%PDF new"


def test_replacement_counts_without_old_file(demo, settings):
    settings.MESSAGE_ATTACHMENTS_MAX_BYTES = 150
    message = newsletter()
    services.add_attachment(message, "one.bin", b"x" * 100, slot=1)
    services.add_attachment(message, "two.bin", b"x" * 50, slot=2)

    services.add_attachment(message, "one.bin", b"y" * 100, slot=1)
    with pytest.raises(InvalidAttachment, match="limit is 150") as raised:
        services.add_attachment(message, "one.bin", b"z" * 101, slot=1)
    assert raised.value.field == "content"

    with message.attachments.get(slot=1).file.open("rb") as file:
        assert file.read() == b"y" * 100


def test_failed_replacement_keeps_old_file(demo, settings):
    settings.ATTACHMENT_MAX_BYTES = 10
    message = newsletter()
    old = services.add_attachment(message, "old.txt", b"old", slot=1)

    with pytest.raises(InvalidAttachment):
        services.add_attachment(message, "new.txt", b"x" * 11, slot=1)

    [stored] = message.attachments.all()
    assert stored.pk == old.pk
    assert stored.file.storage.exists(stored.file.name)


def test_invalid_attachment_is_value_error(demo):
    # The FTPZIP import catches ValueError, as add_attachment raised before slots.
    with pytest.raises(ValueError):
        services.add_attachment(newsletter(), "", b"data")


def test_remove_attachment_in_slot(demo):
    message = newsletter()
    services.add_attachment(message, "a.txt", b"a", slot=1)
    remaining = services.add_attachment(message, "b.txt", b"b", slot=2)

    services.remove_attachment_in_slot(message, 1)

    assert list(message.attachments.all()) == [remaining]
    with pytest.raises(AttachmentNotFound):
        services.remove_attachment_in_slot(message, 1)
    with pytest.raises(InvalidAttachment):
        services.remove_attachment_in_slot(message, 0)


def test_attachments_sent_in_slot_order(demo, sink):
    subscribe("anna@example.com")
    message = newsletter()
    services.add_attachment(message, "third.txt", b"3", slot=3)
    services.add_attachment(message, "first.txt", b"1", slot=1)

    sending = services.queue_sending(message)

    [stored] = sink.wait_for(1, sending_id=sending.pk)
    parsed = message_from_bytes(bytes(stored.raw), policy=policy.default)
    assert [part.get_filename() for part in parsed.iter_attachments()] == ["first.txt", "third.txt"]


def test_migration_numbers_existing_attachments(demo):
    first, second = newsletter(), newsletter()
    # Slots as the migration finds them after adding the column: any value, here out of order.
    for message, slot, name in [(first, 4, "a"), (second, 5, "b"), (first, 2, "c"), (first, 5, "d")]:
        Attachment.objects.create(message=message, slot=slot, filename=name, content_type="text/plain", size=1)

    migration = import_module("sending.migrations.0015_attachment_slot")
    migration.number_existing_attachments(apps, None)

    rows = Attachment.objects.order_by("message_id", "id").values_list("message_id", "filename", "slot")
    assert list(rows) == [(first.pk, "a", 1), (first.pk, "c", 2), (first.pk, "d", 3), (second.pk, "b", 1)]


def test_copied_message_gets_its_own_files(demo):
    message = newsletter()
    original = services.add_attachment(message, "listino.pdf", PDF, "application/pdf", slot=2)

    copy = services.copy_message(message)

    [cloned] = copy.attachments.all()
    assert (cloned.slot, cloned.filename, cloned.content_type, cloned.size) == (2, "listino.pdf", "application/pdf", len(PDF))
    assert cloned.file.name != original.file.name
    services.delete_message(message)
    assert not original.file.storage.exists(original.file.name)
    with cloned.file.open("rb") as stored:
        assert stored.read() == PDF


def test_copy_skips_a_file_missing_from_storage(demo):
    message = newsletter()
    attachment = services.add_attachment(message, "gone.txt", b"data")
    attachment.file.storage.delete(attachment.file.name)

    copy = services.copy_message(message)

    assert not copy.attachments.exists()


def test_deleting_a_list_removes_attachment_files(demo):
    message = newsletter()
    attachment = services.add_attachment(message, "a.txt", b"data")
    storage, name = attachment.file.storage, attachment.file.name

    message.list.delete()

    assert not storage.exists(name)
