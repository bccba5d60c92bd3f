"""Message attachments: stored files, MIME parts in every delivery, size limits and hostile names."""

import pytest
from email import message_from_bytes, policy

from sending import services
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
    with pytest.raises(ValueError, match="filename is missing"):
        services.add_attachment(newsletter(), "../", b"data")


def test_remove_attachment_deletes_file(demo):
    attachment = services.add_attachment(newsletter(), "a.txt", b"data")
    storage, name = attachment.file.storage, attachment.file.name

    services.remove_attachment(attachment)

    assert not storage.exists(name)
    assert not Attachment.objects.exists()
