"""Hostile uploads get a clear rejection in the report and change nothing else."""

import io
import zipfile

from lists.models import Recipient
from tests.integrations.conftest import import_and_report


def test_zip_bomb_is_rejected(ftp, ftp_server, settings):
    settings.FTP_IMPORT_MAX_BYTES = 100_000
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as writer:
        writer.writestr("bomb.csv", "111\n" + "a" * 5_000_000)

    rows = import_and_report(ftp, ftp_server.home(), 1, "bomb.zip", archive.getvalue())

    assert rows[0]["outcome"] == "rejected"
    assert "larger than 100000 bytes once decompressed" in rows[0]["reason"]
    assert not Recipient.objects.exists()


def test_megabyte_cell_rejects_only_its_row(ftp, ftp_server):
    content = "111|1\n" + f"big@example.com|{'x' * 1_000_000}\n" + "small@example.com|ok\n"

    rows = import_and_report(ftp, ftp_server.home(), 1, "big-cell.csv", content)

    assert [(row["row"], row["outcome"]) for row in rows] == [("2", "rejected"), ("3", "created")]
    assert "longer than 65536 bytes" in rows[0]["reason"]
    assert list(Recipient.objects.values_list("email", flat=True)) == ["small@example.com"]


def test_invalid_utf8_rejects_only_its_row(ftp, ftp_server):
    content = b"111|1\nlatin@example.com|Caf\xe9\nutf8@example.com|Caf\xc3\xa9\n"

    rows = import_and_report(ftp, ftp_server.home(), 1, "latin1.csv", content)

    assert [row["outcome"] for row in rows] == ["rejected", "created"]
    assert "not valid UTF-8" in rows[0]["reason"]


def test_file_that_is_not_a_zip_is_rejected(ftp, ftp_server):
    rows = import_and_report(ftp, ftp_server.home(), 1, "fake.zip", b"111\nanna@example.com\n")

    assert rows[0]["outcome"] == "rejected"
    assert "not a readable ZIP archive" in rows[0]["reason"]


def test_empty_file_is_rejected(ftp, ftp_server):
    rows = import_and_report(ftp, ftp_server.home(), 1, "empty.csv", b"")

    assert rows[0]["outcome"] == "rejected"
    assert "empty" in rows[0]["reason"]
