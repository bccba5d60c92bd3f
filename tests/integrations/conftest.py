"""A live batch FTP server with ftplib clients logged in to it, and a test CRM receiving webhooks."""

import csv
import ftplib
import io
import threading
import time

import pytest
from django.db import connections

from integrations.ftp import make_server
from tests.integrations.crm import Receiver
from lists.demo import DEMO_FTP_PASSWORD, demo_password_grant_form
from tests.support import free_port


class FtpServer:
    """The pyftpdlib server of one test, run by a thread that polls its event loop."""

    def __init__(self, root):
        self.root = root
        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stopping.is_set():
            self.server.ioloop.loop(timeout=0.05, blocking=False)
        self.server.close_all()
        # The upload hook opened a database connection in this thread.
        connections.close_all()

    def connect(self, username="ftp1234", password=DEMO_FTP_PASSWORD):
        client = ftplib.FTP()
        client.connect("127.0.0.1", self.port, timeout=10)
        client.login(username, password)
        return client

    def home(self, console_id=1234):
        return self.root / str(console_id)


@pytest.fixture
def ftp_server(demo, settings, tmp_path):
    settings.FTP_ROOT = tmp_path / "ftp"
    server = FtpServer(settings.FTP_ROOT)
    server.thread.start()
    yield server
    server.stopping.set()
    server.thread.join(timeout=10)


@pytest.fixture
def ftp(ftp_server):
    client = ftp_server.connect()
    yield client
    try:
        client.quit()
    except (ftplib.all_errors):
        client.close()


def upload(client, path, content):
    """Store `content` (str or bytes) at `path` over FTP."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    client.storbinary(f"STOR {path}", io.BytesIO(data))


def wait_for_file(path, timeout=120):
    """Return the text of `path` once it exists; the import runs after the upload's reply."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} was not written")
        time.sleep(0.05)
    return path.read_text(encoding="utf-8")


def report_rows(text):
    """Return the report's data lines as dicts keyed by its header."""
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


def import_and_report(client, home, list_id, name, content):
    """Upload a file into import/<list_id>/ and return the rows of its report once the upload has moved to done/."""
    folder = home / "import" / str(list_id)
    report = folder / f"{name.rsplit('.', 1)[0]}.report.csv"
    # A report left by an earlier upload of the same name must not be read as this one's.
    report.unlink(missing_ok=True)
    upload(client, f"/import/{list_id}/{name}", content)
    text = wait_for_file(report)
    deadline = time.monotonic() + 120
    while (folder / name).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return report_rows(text)


@pytest.fixture
def receiver():
    """A test CRM on a free 127.0.0.1 port."""
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def bearer_token(demo, http, settings):
    """An access token of console user m1234 from the password grant, with the REST rate limit off."""
    settings.REST_RATE_LIMIT_PER_SECOND = 0
    response = http.post("/Authorization/OAuth/Token", data=demo_password_grant_form())
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def import_folder(demo, settings, tmp_path, monkeypatch):
    """The demo list 1's import folder, whose uploads tests import by calling the service themselves."""
    from integrations import services
    from tests.personas import demo_list

    settings.FTP_ROOT = tmp_path / "ftp"
    monkeypatch.setattr("integrations.tasks.import_uploaded_file.delay", lambda *arguments: None)
    return services.prepare_home(demo_list().account) / "import" / "1"


def import_local_file(folder, name, content):
    """Write `content` (str or bytes) as `folder/name`, import it as a finished upload, and return its ImportFile."""
    from integrations import services
    from tests.personas import demo_list

    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    upload = services.receive_upload(demo_list().account, path)
    services.import_upload(str(path), upload.sha256)
    upload.refresh_from_db()
    return upload
