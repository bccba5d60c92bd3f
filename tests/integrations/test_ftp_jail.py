"""Each FTP login sees only its own account's home, whatever path it sends."""

import ftplib
import io

import pytest

from integrations.services import set_ftp_password
from lists.models import Account, List


@pytest.fixture
def other_account(ftp_server):
    account = Account.objects.create(console_id=5678, name="Other S.r.l.")
    account.set_ws_password("other-ws")
    account.save()
    List.objects.create(account=account, list_id=1, name="Other", sender_name="Other", sender_email="o@example.com")
    set_ftp_password(account, "other-ftp-5678")
    client = ftp_server.connect("ftp5678", "other-ftp-5678")
    client.storbinary("STOR /export/secret.csv", io.BytesIO(b"secret"))
    client.quit()
    return account


def test_home_holds_import_export_and_sendzip(ftp):
    assert sorted(ftp.nlst("/")) == ["export", "import", "sendzip"]
    assert sorted(ftp.nlst("/import")) == ["1", "2"]


def test_cwd_parent_of_home_stays_at_home(ftp):
    ftp.cwd("..")
    assert ftp.pwd() == "/"
    ftp.cwd("/import/../../..")
    assert ftp.pwd() == "/"
    assert sorted(ftp.nlst()) == ["export", "import", "sendzip"]


def test_absolute_system_path_is_refused(ftp):
    with pytest.raises(ftplib.error_perm):
        ftp.cwd("/etc")
    with pytest.raises(ftplib.error_perm):
        ftp.retrlines("RETR /etc/passwd", lambda line: None)


def test_other_account_folder_is_refused(ftp, ftp_server, other_account):
    for path in ("../5678/export/secret.csv", "/../5678/export/secret.csv", str(ftp_server.home(5678) / "export" / "secret.csv")):
        with pytest.raises(ftplib.error_perm):
            ftp.retrbinary(f"RETR {path}", lambda data: None)
    with pytest.raises(ftplib.error_perm):
        ftp.cwd("/../5678")


def test_upload_with_parent_path_lands_in_home(ftp, ftp_server):
    ftp.storbinary("STOR ../../escaped.csv", io.BytesIO(b"111\n"))

    assert (ftp_server.home() / "escaped.csv").exists()
    assert not (ftp_server.root / "escaped.csv").exists()
    assert not (ftp_server.root.parent / "escaped.csv").exists()


def test_creating_folders_is_refused(ftp):
    with pytest.raises(ftplib.error_perm):
        ftp.mkd("/import/99")


def test_wrong_password_is_refused(ftp_server):
    with pytest.raises(ftplib.error_perm, match="530"):
        ftp_server.connect("ftp1234", "wrong")


def test_web_service_user_is_not_an_ftp_login(ftp_server):
    with pytest.raises(ftplib.error_perm, match="530"):
        ftp_server.connect("a1234", "demo-ws-1234")
