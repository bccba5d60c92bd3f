"""`manage.py serve` brings the whole platform up on embedded defaults and stops it cleanly."""

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
import requests
from django.core.management.base import CommandError

from mailup_sim.celery import app as celery_app
from mailup_sim.management.commands import serve
from mailup_sim.management.commands.serve import declare_queues, needs_broker
from mailup_sim.web_server import gunicorn_command
from tests.support import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def wait_until(check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    return None


@pytest.fixture
def platform(tmp_path):
    """Run `serve` in a fresh var directory on free ports, with no database or broker URL set."""
    web_port, sink_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(
        MAILUP_SIM_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="mailup_sim.settings",
        WEB_BIND=f"127.0.0.1:{web_port}",
        PUBLIC_ORIGIN=f"http://localhost:{web_port}",
        SINK_SMTP_PORT=str(sink_port),
        FTP_PORT=str(free_port()),
        INBOUND_MX_PORT=str(free_port()),
        SUBMISSION_SMTP_PORT=str(free_port()),
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{web_port}"
    try:
        yield process, base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def get(url):
    # A busy machine may accept the connection long before gunicorn's
    # workers reply, so a read timeout also means "not up yet".
    try:
        return requests.get(url, timeout=30)
    except requests.RequestException:
        return None


def test_serve_runs_the_walkthrough(platform):
    process, base = platform
    assert wait_until(lambda: get(f"{base}/sink/api/messages"), timeout=60), "web did not start"

    answer = get(f"{base}/frontend/xmlSubscribe.aspx?List=1&Email=anna.rossi@example.com&retCode=1")
    assert answer.text == "0"

    # The worker process may still be starting when the web part replies.
    listing = wait_until(lambda: get(f"{base}/sink/api/messages").json()["messages"], timeout=180)
    assert listing, "the confirmation request never reached the sink"
    detail = get(f"{base}/sink/api/messages/{listing[0]['id']}").json()
    link = re.search(r"http://\S+confirm\.aspx\?code=\S+", detail["text"]).group(0)
    path = link.split("/", 3)[3]
    confirmed = requests.get(f"{base}/{path}", headers={"Host": link.split("/")[2]}, timeout=5)
    assert confirmed.status_code == 200

    check = get(f"{base}/frontend/xmlChkSubscriber.aspx?ListGuid=0b6f4f5e-3c1a-4d2b-9e8f-1a2b3c4d5e01&List=1&Email=anna.rossi@example.com")
    assert check.text == "2"

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "console user" in output or '"console_user"' in output
    banner = output[output.index("Demo console") :]
    assert json.loads(banner[banner.index("{") : banner.index("\n}") + 2])["console_id"] == 1234


def use_broker(monkeypatch, url):
    # Celery reads CELERY_BROKER_URL from the environment before its settings, as the PostgreSQL + Redis tier sets it.
    monkeypatch.setenv("CELERY_BROKER_URL", url)


def test_declare_queues_creates_broker_rows(tmp_path, monkeypatch):
    broker_file = tmp_path / "broker.sqlite3"
    use_broker(monkeypatch, f"sqla+sqlite:///{broker_file}")

    declare_queues()

    with sqlite3.connect(broker_file) as connection:
        names = {name for (name,) in connection.execute("SELECT name FROM kombu_queue")}
    assert celery_app.conf.task_default_queue in names


def test_declare_queues_names_an_unreachable_broker(monkeypatch):
    # Nothing listens on a port free_port() just released.
    use_broker(monkeypatch, f"redis://:secret@127.0.0.1:{free_port()}/14")

    with pytest.raises(CommandError) as raised:
        declare_queues()

    message = str(raised.value)
    assert "Cannot reach the Celery broker" in message
    assert "127.0.0.1" in message
    assert "secret" not in message


def test_declare_queues_gives_up_on_a_silent_broker(monkeypatch):
    monkeypatch.setattr(serve, "BROKER_REPLY_TIMEOUT_SECONDS", 1)
    # The kernel completes connections to a listening socket that never accepts or replies.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        use_broker(monkeypatch, f"redis://127.0.0.1:{silent.getsockname()[1]}/14")

        with pytest.raises(CommandError, match="Cannot reach the Celery broker"):
            declare_queues()


def test_sink_alone_needs_no_broker():
    assert needs_broker(["sink"]) is False
    assert needs_broker(["sink", "ftp"]) is True
    assert needs_broker(["web"]) is True


def test_web_part_layout(settings):
    command = serve.part_commands()["web"]

    assert command[command.index("--worker-class") + 1] == "gthread"
    assert "--reuse-port" in command
    assert command[command.index("--workers") + 1] == str(settings.WEB_WORKERS)
    assert command[command.index("--threads") + 1] == str(settings.WEB_THREADS)


def test_busy_web_port_rejected():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        bind = f"127.0.0.1:{listener.getsockname()[1]}"

        with pytest.raises(CommandError, match=f"WEB_BIND {bind} is already in use"):
            serve.check_port_free(bind)


def test_free_web_port_passes():
    serve.check_port_free(f"127.0.0.1:{free_port()}")


def test_unix_bind_shares_one_socket():
    # Linux rejects SO_REUSEPORT on unix sockets (EOPNOTSUPP), so workers
    # asked for it never bind and the server serves no request.
    command = gunicorn_command("unix:/tmp/mailup-sim-web.sock", 3, 2)

    assert "--reuse-port" not in command
    assert command[command.index("--bind") + 1] == "unix:/tmp/mailup-sim-web.sock"


def test_tcp_web_bind_uses_reuse_port():
    for bind in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000"):
        assert "--reuse-port" in gunicorn_command(bind, 3, 2), bind


def test_foreign_web_address_not_reported_busy():
    # 192.0.2.1 (TEST-NET-1) is on no interface of this host, so binding
    # fails with EADDRNOTAVAIL. No other server is to blame.
    with pytest.raises(CommandError) as raised:
        serve.check_port_free("192.0.2.1:8000")

    assert "already in use" not in str(raised.value)
    assert "WEB_BIND 192.0.2.1:8000" in str(raised.value)
    assert "Cannot assign requested address" in str(raised.value)


@pytest.mark.parametrize(
    "part, port_setting",
    [("sink", "SINK_SMTP_PORT"), ("inbound", "INBOUND_MX_PORT"), ("ftp", "FTP_PORT"), ("submission", "SUBMISSION_SMTP_PORT")],
)
def test_busy_port_of_part_names_setting(settings, part, port_setting):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        setattr(settings, port_setting, listener.getsockname()[1])
        [(bind, named_port, named_address)] = serve.listening_addresses([part])

        with pytest.raises(CommandError, match=f"set {port_setting} to a free port"):
            serve.check_port_free(bind, named_port, named_address)


def test_worker_and_beat_listen_on_nothing():
    assert serve.listening_addresses(["worker", "beat"]) == []


def test_unreadable_setting_reported_in_one_line():
    environment = {**os.environ, "SINK_SMTP_PORT": "abc"}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True
    )

    assert result.returncode == 1
    assert result.stderr.strip() == "Configuration error: SINK_SMTP_PORT='abc' is not an integer."


def test_accepts_connections_tells_listening_from_closed():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listening = f"127.0.0.1:{listener.getsockname()[1]}"

        assert serve.accepts_connections(listening)
    assert not serve.accepts_connections(listening)
    assert serve.accepts_connections("unix:/tmp/mailup-sim-web.sock")
