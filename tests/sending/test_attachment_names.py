"""Attachment names that Django's file storage cannot use: the mail keeps the name, the stored file gets a safe one."""

import pytest

from sending import services
from tests.sending.campaigns import newsletter


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.parametrize("name", ["???", "@@@", "«»"])
def test_name_without_storage_characters_stored(demo, name):
    attachment = services.add_attachment(newsletter(), name, b"data")

    attachment.refresh_from_db()
    assert attachment.filename == name
    assert attachment.file.name.rsplit("/", 1)[-1].startswith("attachment")
    assert attachment.file.read() == b"data"


def test_unicode_name_kept_for_mail(demo):
    attachment = services.add_attachment(newsletter(), "fattura è.pdf", b"data")

    assert attachment.filename == "fattura è.pdf"
    assert attachment.file.name.endswith(".pdf")


def test_copy_keeps_symbol_only_name(demo):
    message = newsletter()
    services.add_attachment(message, "???", b"data")

    copy = services.copy_message(message)

    [attachment] = copy.attachments.all()
    assert attachment.filename == "???"
    assert attachment.file.read() == b"data"
