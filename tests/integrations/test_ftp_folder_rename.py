"""Folders of an FTP home cannot be renamed, so its layout stays as the server made it."""

import ftplib

import pytest

from tests.integrations.conftest import upload, wait_for_file


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("/import/1", "/import/moved"),
        ("/import/1", "/export/unsubscribed_1_20261206.csv"),
        ("/import", "/sendzip/campaign.zip"),
        ("/export", "/import/1/contacts.csv"),
    ],
)
def test_folder_rename_is_refused(ftp, ftp_server, source, target):
    with pytest.raises(ftplib.error_perm, match="550 Folders cannot be renamed"):
        ftp.sendcmd(f"RNFR {source}")

    assert (ftp_server.home() / source.lstrip("/")).is_dir()
    assert not (ftp_server.home() / target.lstrip("/")).exists()
    assert ftp.sendcmd("NOOP").startswith("200")


def test_file_rename_still_imports(ftp, ftp_server):
    upload(ftp, "/import/1/contacts.tmp", "111\nanna@example.com\n")

    assert ftp.sendcmd("RNFR /import/1/contacts.tmp").startswith("350")
    assert ftp.sendcmd("RNTO /import/1/contacts.csv").startswith("250")

    report = wait_for_file(ftp_server.home() / "import" / "1" / "contacts.report.csv")
    assert "anna@example.com;created" in report
