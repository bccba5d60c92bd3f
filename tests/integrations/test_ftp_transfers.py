"""Every file an FTP client uploads or downloads is listed by GET /sink/api/ftp, newest first."""

import ftplib
import io
import time

import pytest

from integrations import services
from integrations.models import FtpTransfer
from lists.models import Account
from tests.integrations.conftest import import_and_report, upload


def listing(client, query, total):
    """Return the listing of `query` once it has `total` transfers: the server records one after its 226 reply."""
    deadline = time.monotonic() + 30
    while True:
        body = client.get(f"/sink/api/ftp?{query}").json()
        if body["total"] >= total or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def test_upload_and_download_are_listed(ftp, ftp_server, client):
    import_and_report(ftp, ftp_server.home(), 1, "contacts.csv", "111\nanna@example.com\n")
    ftp.retrbinary("RETR /import/1/contacts.report.csv", io.BytesIO().write)

    body = listing(client, "", 2)

    assert body["total"] == 2
    download, uploaded = body["transfers"]
    assert download["direction"] == "download"
    assert download["path"] == "/import/1/contacts.report.csv"
    assert download["completed"] is True
    assert download["size"] > 0
    assert uploaded == {
        "id": uploaded["id"],
        "account": 1234,
        "username": "ftp1234",
        "direction": "upload",
        "path": "/import/1/contacts.csv",
        "size": len("111\nanna@example.com\n"),
        "completed": True,
        "remote_ip": "127.0.0.1",
        "finished_at": uploaded["finished_at"],
    }


def test_filters_by_direction_account_and_path(ftp, ftp_server, client):
    upload(ftp, "/export/notes.txt", "a")
    ftp.retrbinary("RETR /export/notes.txt", io.BytesIO().write)

    assert listing(client, "account=1234&path=NOTES", 2)["total"] == 2
    uploads = client.get("/sink/api/ftp?direction=upload").json()["transfers"]
    assert [item["direction"] for item in uploads] == ["upload"]
    assert client.get("/sink/api/ftp?account=999").json()["total"] == 0
    assert client.get("/sink/api/ftp?path=other").json()["total"] == 0


@pytest.mark.parametrize(
    "query", ["direction=sideways", "account=abc", "account=0", "limit=0", "offset=-1", "path=a%00b"]
)
def test_bad_filter_is_400(db, client, query):
    response = client.get(f"/sink/api/ftp?{query}")

    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["error"]


def test_vanished_upload_records_size_zero(demo, tmp_path):
    account = Account.objects.get(console_id=1234)

    transfer = services.record_ftp_transfer(
        account, "ftp1234", FtpTransfer.Direction.UPLOAD, "/import/1/gone.csv", tmp_path / "gone.csv", False, "127.0.0.1"
    )

    assert transfer.size == 0
    assert transfer.completed is False


def test_link_local_peer_recorded_without_zone(demo, tmp_path):
    account = Account.objects.get(console_id=1234)

    transfer = services.record_ftp_transfer(
        account, "ftp1234", FtpTransfer.Direction.UPLOAD, "/import/1/a.csv", tmp_path / "a.csv", True, "fe80::1%eth0"
    )

    transfer.refresh_from_db()
    assert transfer.remote_ip == "fe80::1"


def test_aborted_upload_is_listed_incomplete(ftp, ftp_server, client):
    data_socket = ftp.transfercmd("STOR /export/partial.txt")
    data_socket.sendall(b"x" * 1000)
    ftp.abort()
    data_socket.close()

    [transfer] = listing(client, "", 1)["transfers"]
    assert transfer["path"] == "/export/partial.txt"
    assert transfer["completed"] is False


def test_login_during_upload_keeps_uploader(ftp_server, client):
    other = Account.objects.create(console_id=5678, name="Other S.r.l.")
    services.set_ftp_password(other, "other-ftp-password")
    session = ftp_server.connect()
    data_socket = session.transfercmd("STOR /export/mine.txt")
    data_socket.sendall(b"m" * 100_000)
    # pyftpdlib lets a transfer finish across a new login once its first
    # bytes have arrived; before that, a login closes its data connection.
    stored = ftp_server.home() / "export" / "mine.txt"
    deadline = time.monotonic() + 10
    while stored.stat().st_size == 0 and time.monotonic() < deadline:
        time.sleep(0.02)

    assert session.sendcmd("USER ftp5678").startswith("331")
    assert session.sendcmd("PASS other-ftp-password").startswith("230")
    data_socket.sendall(b"m" * 1000)
    data_socket.close()
    assert session.voidresp().startswith("226")
    session.quit()

    [transfer] = listing(client, "", 1)["transfers"]
    assert transfer["account"] == 1234
    assert transfer["username"] == "ftp1234"
    assert transfer["path"] == "/export/mine.txt"
    assert transfer["size"] == 101_000


@pytest.mark.parametrize("command", ["RETR /export/a\x00b.txt", "STOR /export/a\x00b.txt", "DELE a\x00", "CWD \x00"])
def test_nul_in_path_is_501(ftp, command):
    with pytest.raises(ftplib.error_perm, match="^501"):
        ftp.sendcmd(command)

    assert ftp.sendcmd("NOOP").startswith("200")
