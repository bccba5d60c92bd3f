"""FTPZIP and import archives with names the disk or zipfile cannot take are rejected before anything changes."""

import struct

from integrations import ftpzip, services
from integrations.models import ImportFile, SendZip
from lists.models import Recipient
from sending.models import Message
from tests.integrations.conftest import import_local_file
from tests.integrations.test_ftpzip import PNG, campaign_members, drop, home, make_zip  # noqa: F401


def with_undecodable_name(data, marker=b"XX.png"):
    """Return the ZIP bytes with `marker` in a name made invalid UTF-8, and the UTF-8 flag set on every entry."""
    data = bytearray(data.replace(marker, b"\xff\xfe" + marker[2:]))
    for signature, flags_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (position := data.find(signature, start)) != -1:
            flags = struct.unpack_from("<H", data, position + flags_offset)[0]
            struct.pack_into("<H", data, position + flags_offset, flags | 0x800)
            start = position + 4
    return bytes(data)


def test_long_archive_name_is_rejected(home):
    name = "c" * (ftpzip.MAX_NAME_BYTES - 3) + ".zip"

    send_zip = drop(home, make_zip(campaign_members()), name=name)

    assert send_zip.status == SendZip.Status.REJECTED
    assert "longer than" in send_zip.error
    assert str(home) not in send_zip.error
    assert not Recipient.objects.exists()
    assert (home / "sendzip" / name).exists()


def test_longest_archive_name_is_processed(home):
    name = "c" * (ftpzip.MAX_NAME_BYTES - 4) + ".zip"

    send_zip = drop(home, make_zip(campaign_members()), name=name)

    assert send_zip.status == SendZip.Status.DONE, send_zip.error


def test_long_image_name_is_rejected_before_import(home):
    members = campaign_members(**{"images/" + "i" * 300 + ".png": PNG})

    send_zip = drop(home, make_zip(members))

    assert send_zip.status == SendZip.Status.REJECTED
    assert "longer than 255 bytes" in send_zip.error
    assert not Recipient.objects.exists()
    assert not Message.objects.exists()


def test_undecodable_entry_name_rejects_send_zip(home):
    members = campaign_members(**{"images/XX.png": PNG})

    send_zip = drop(home, with_undecodable_name(make_zip(members)))

    assert send_zip.status == SendZip.Status.REJECTED
    assert "not valid UTF-8" in send_zip.error
    assert not Recipient.objects.exists()


def test_undecodable_entry_name_rejects_import_zip(import_folder):
    archive = make_zip({"contacts.csv": "111\nanna@example.com\n", "XX.png": PNG})

    upload = import_local_file(import_folder, "contacts.zip", with_undecodable_name(archive))

    assert upload.status == ImportFile.Status.REJECTED
    assert "not valid UTF-8" in services.report_path(upload).read_text(encoding="utf-8")
    assert not Recipient.objects.exists()
