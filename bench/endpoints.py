"""Measure three MailUp HTTP endpoints under gunicorn against a trivial Django view on the same server.

Run with `.venv/bin/python bench/endpoints.py [seconds per endpoint] [clients]`
(defaults 10 and 50). The script creates a fresh database: a SQLite file
in a temporary folder, or, when DATABASE_URL names a PostgreSQL server, its
own database named by BENCH_DATABASE (`mailup_sim_bench_http` by default).
It seeds the demo console and starts gunicorn on a free port of 127.0.0.1
with the same worker and thread counts as `manage.py serve`. It then drives, one after the other, with the
given number of concurrent keep-alive connections:

- `GET /bench/ping`, a view that returns a fixed text (the ceiling);
- `POST /frontend/xmlSubscribe.aspx` with a new address per request;
- `POST /Console/List/1/Recipient` with a new address per request;
- `GET /Console/List/1/Recipients/Subscribed` (the first page of 20).

It prints requests per second, the 50th and 99th percentile latency, and
each rate as a ratio of the ceiling's. The client is asyncio on the same
machine, so it takes CPU from the server; the ratios are what to compare.
"""

import sys
from pathlib import Path

# Python puts this script's folder first on sys.path, where this file would
# hide the standard library's `http` package from urllib.
BENCH_FOLDER = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_FOLDER]

import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

ROOT = BENCH_FOLDER.parent
API = "/API/v1.1/Rest/ConsoleService.svc/Console"
# BENCH_DATABASE names the PostgreSQL database, so two runs on one server need not collide.
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "mailup_sim_bench_http")
# Seconds of load before the measured window, so workers have warmed up.
WARM_UP_SECONDS = 2
STARTUP_TIMEOUT_SECONDS = 60


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_environment(var_dir):
    environment = dict(os.environ)
    environment.update(
        {
            "MAILUP_SIM_VAR_DIR": str(var_dir),
            "DJANGO_SETTINGS_MODULE": "bench.http_settings",
            "REST_RATE_LIMIT_PER_SECOND": "0",
            "PYTHONPATH": str(ROOT),
        }
    )
    if environment.get("DATABASE_URL", "").startswith("postgres"):
        base, _, _name = environment["DATABASE_URL"].rpartition("/")
        environment["DATABASE_URL"] = f"{base}/{BENCH_DATABASE}"
    return environment


def prepare_database(environment):
    """Create the bench database when on PostgreSQL, then migrate it and seed the demo console."""
    if environment.get("DATABASE_URL", "").startswith("postgres"):
        admin_url = environment["DATABASE_URL"].rpartition("/")[0] + "/postgres"
        run_sql(admin_url, f"DROP DATABASE IF EXISTS {BENCH_DATABASE}", f"CREATE DATABASE {BENCH_DATABASE}")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=environment, check=True)
    # As `manage.py serve` does, so the workers' first publishes of system
    # mail do not race to create the same queue on the SQLite broker.
    declare = "from mailup_sim.management.commands.serve import declare_queues; declare_queues()"
    subprocess.run([*manage, "shell", "-c", declare], env=environment, check=True)
    seeded = subprocess.run([*manage, "seed_demo", "--json"], env=environment, check=True, capture_output=True)
    return json.loads(seeded.stdout)


def run_sql(url, *statements):
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def start_gunicorn(environment, port):
    sys.path.insert(0, str(ROOT))
    from mailup_sim.web_server import gunicorn_command

    # The layout of `manage.py serve`, with its defaults unless WEB_WORKERS or WEB_THREADS are set.
    workers = environment.get("WEB_WORKERS", "3")
    threads = environment.get("WEB_THREADS", "2")
    command = [
        *gunicorn_command(f"127.0.0.1:{port}", workers, threads),
        "--keep-alive", "30", "--log-level", "warning",
    ]
    server = subprocess.Popen(command, env=environment, cwd=ROOT)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/ping", timeout=1).read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"gunicorn did not answer on 127.0.0.1:{port} within {STARTUP_TIMEOUT_SECONDS} s")


def fetch_token(port, demo):
    form = urlencode(
        {
            "grant_type": "password",
            "username": demo["console_user"]["username"],
            "password": demo["console_user"]["password"],
            "client_id": demo["oauth_client"]["client_id"],
            "client_secret": demo["oauth_client"]["client_secret"],
        }
    ).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/Authorization/OAuth/Token", data=form, timeout=30) as reply:
        return json.loads(reply.read())["access_token"]


# --- Load generation ----------------------------------------------------------------


class Counter:
    """A source of unique numbers shared by every client, so each subscription uses a new address."""

    def __init__(self):
        self.value = 0

    def next(self):
        self.value += 1
        return self.value


async def send(reader, writer, request_bytes):
    """Send one HTTP/1.1 request on a keep-alive connection and return the status code."""
    writer.write(request_bytes)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return int(status_line.split()[1])


async def client(port, build_request, counter, measure_from, stop_at, latencies, failures):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop_at:
            started = time.monotonic()
            status = await send(reader, writer, build_request(counter.next()))
            if started >= measure_from:
                latencies.append(time.monotonic() - started)
                if status != 200:
                    failures.append(status)
    finally:
        writer.close()


async def drive(port, build_request, seconds, clients):
    counter = Counter()
    latencies, failures = [], []
    measure_from = time.monotonic() + WARM_UP_SECONDS
    stop_at = measure_from + seconds
    await asyncio.gather(
        *(client(port, build_request, counter, measure_from, stop_at, latencies, failures) for _ in range(clients))
    )
    return latencies, failures


def http_request(method, path, body=b"", headers=None):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def endpoints(token):
    bearer = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    ceiling_request = http_request("GET", "/bench/ping")
    subscribed_request = http_request("GET", f"{API}/List/1/Recipients/Subscribed", headers=bearer)
    return [
        ("ceiling GET /bench/ping", lambda number: ceiling_request),
        (
            "POST /frontend/xmlSubscribe.aspx",
            lambda number: http_request(
                "POST", "/frontend/xmlSubscribe.aspx", f"List=1&Email=page{number}@example.com&retCode=1".encode(), form
            ),
        ),
        (
            "POST /Console/List/1/Recipient",
            lambda number: http_request(
                "POST", f"{API}/List/1/Recipient", json.dumps({"Email": f"rest{number}@example.com"}).encode(), bearer
            ),
        ),
        ("GET /Console/List/1/Recipients/Subscribed", lambda number: subscribed_request),
    ]


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(seconds, clients):
    with tempfile.TemporaryDirectory(prefix="mailup-sim-bench-http-") as folder:
        environment = bench_environment(Path(folder))
        demo = prepare_database(environment)

        port = free_port()
        server = start_gunicorn(environment, port)
        try:
            token = fetch_token(port, demo)
            report(port, token, seconds, clients, environment)
        finally:
            server.terminate()
            server.wait(timeout=30)


def report(port, token, seconds, clients, environment):
    database = "PostgreSQL" if environment.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
    print(f"database: {database}, clients: {clients}, seconds per endpoint: {seconds}")
    print(f"{'endpoint':44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} {'errors':>6}")
    ceiling = None
    for name, build_request in endpoints(token):
        latencies, failures = asyncio.run(drive(port, build_request, seconds, clients))
        rate = len(latencies) / seconds
        ceiling = ceiling or rate or float("nan")
        p50 = percentile(latencies, 0.50) * 1000
        p99 = percentile(latencies, 0.99) * 1000
        print(f"{name:44} {rate:8.0f} {p50:8.1f} {p99:8.1f} {rate / ceiling:6.2f} {len(failures):6d}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10, int(sys.argv[2]) if len(sys.argv) > 2 else 50)
