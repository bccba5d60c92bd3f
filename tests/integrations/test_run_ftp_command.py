"""`manage.py run_ftp` serves the demo console's home in its own process."""

import ftplib
import io
import os
import signal
import subprocess
import sys
import time

import pytest

from lists.demo import DEMO_FTP_PASSWORD
from tests.support import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def run_ftp(tmp_path):
    """Migrate and seed a fresh var directory, then start run_ftp on a free port with tasks run in-process."""
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    port = free_port()
    env.update(
        MAILUP_SIM_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="mailup_sim.settings",
        FTP_PORT=str(port),
        CELERY_TASK_ALWAYS_EAGER="1",
    )
    for command in (["migrate", "--verbosity", "0"], ["seed_demo"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    # A file, not a pipe: nobody reads the log while the test runs, and a full pipe would block the server.
    with open(tmp_path / "run_ftp.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_ftp"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        yield port, tmp_path / "ftp" / "1234"
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def connect(port, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = ftplib.FTP()
            client.connect("127.0.0.1", port, timeout=10)
            return client
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_run_ftp_imports_an_upload(run_ftp):
    port, home = run_ftp
    client = connect(port)
    client.login("ftp1234", DEMO_FTP_PASSWORD)
    client.storbinary("STOR /import/1/contacts.csv", io.BytesIO(b"111\nanna@example.com\n"))

    report = home / "import" / "1" / "contacts.report.csv"
    deadline = time.monotonic() + 60
    while not report.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    client.quit()

    assert report.read_text(encoding="utf-8").splitlines()[1] == "2;anna@example.com;created;"
