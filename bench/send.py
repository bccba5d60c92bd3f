"""Measure a newsletter sending through the whole pipeline against a bare sign-and-send loop.

Run with `.venv/bin/python bench/send.py [--recipients 20000]`. The script
works in a fresh temporary directory (SQLite database and Celery broker
file) unless --use-env keeps DATABASE_URL and CELERY_BROKER_URL. It starts
the SMTP sink and a Celery worker as child processes on 127.0.0.1, then:

1. baseline: for each recipient, formats one fixed message, signs it with
   the account's DKIM keys (RSA-2048 through OpenSSL, and Ed25519) and
   sends it with smtplib over one connection to the same sink;
2. pipeline: queues one sending of a newsletter to all recipients; the
   worker fans it out, renders, signs and relays it over the four default
   source addresses, and the sink verifies and stores every message.

Each rate counts until the sink has stored the last message. It prints
both rates and their ratio, and the largest resident memory of any worker
process, sampled every second while the pipeline runs. --max-seconds stops
the pipeline early (for long memory runs) and reports the rate so far.
"""

import argparse
import os
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000, help="Number of recipients (default 20000).")
    parser.add_argument("--concurrency", type=int, default=2, help="Worker processes (default 2, one per core).")
    parser.add_argument("--max-seconds", type=float, default=None, help="Stop the pipeline after this many seconds.")
    parser.add_argument("--skip-baseline", action="store_true", help="Measure only the pipeline.")
    parser.add_argument("--use-env", action="store_true", help="Keep DATABASE_URL and CELERY_BROKER_URL.")
    return parser.parse_args()


ARGS = parse_args()
if not ARGS.use_env:
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
os.environ.setdefault("MAILUP_SIM_VAR_DIR", tempfile.mkdtemp(prefix="mailup-sim-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailup_sim.settings")
os.environ["LOG_LEVEL"] = "WARNING"
os.environ["SINK_SMTP_PORT"] = str(
    (lambda probe: (probe.bind(("127.0.0.1", 0)), probe.getsockname()[1], probe.close())[1])(socket.socket())
)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from lists.demo import seed_demo  # noqa: E402
from lists.models import List, Recipient, Subscription  # noqa: E402
from mailup_sim.management.commands.serve import declare_queues  # noqa: E402
from sending import dkim_signing, services  # noqa: E402
from sending.models import SinkMessage  # noqa: E402

NEWSLETTER_HTML = (
    "<html><body>\n<h1>Ciao [nome]</h1>\n"
    + "<p>Le novità di dicembre: <a href='http://[track]/https://shop.example/offerte'>offerte</a>, "
    "spedizione gratuita e un regalo per te.</p>\n" * 20
    + "<p><a href='http://[unsubscribe]/'>Cancellati</a></p>\n</body></html>\n"
)
BENCH_DOMAIN = "bench.example"


def main():
    call_command("migrate", verbosity=0)
    seed_demo()
    mailing_list = List.objects.get(account__console_id=1234, list_id=1)
    recipients = create_recipients(mailing_list, ARGS.recipients)
    print(f"{len(recipients)} recipients at @{BENCH_DOMAIN}, var dir {settings.VAR_DIR}")
    # Before the worker starts, as serve does: the SQLite broker otherwise
    # creates the queue's row when the worker and this process first use it.
    declare_queues()

    sink = start_child(["manage.py", "run_sink"], "sink")
    worker = start_child(
        ["-m", "celery", "-A", "mailup_sim", "worker", "--concurrency", str(ARGS.concurrency), "--pool", "prefork",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        "worker",
    )  # fmt: skip
    try:
        wait_for_port(settings.SINK_SMTP_PORT)
        baseline = None if ARGS.skip_baseline else run_baseline(mailing_list, recipients)
        pipeline, memory = run_pipeline(mailing_list, worker)
    finally:
        for child in (worker, sink):
            stop_child(child)

    report(baseline, pipeline, memory)


def create_recipients(mailing_list, count):
    account = mailing_list.account
    recipients = Recipient.objects.bulk_create(
        [
            Recipient(account=account, email=f"user{number}@{BENCH_DOMAIN}", fields={"1": f"Nome{number}"})
            for number in range(count)
        ],
        batch_size=2000,
    )
    Subscription.objects.bulk_create(
        [
            Subscription(recipient=recipient, list=mailing_list, channel="email", status=Subscription.Status.SUBSCRIBED)
            for recipient in recipients
        ],
        batch_size=2000,
    )
    return [(recipient.pk, recipient.email) for recipient in recipients]


def start_child(arguments, name):
    log = open(Path(settings.VAR_DIR) / f"{name}.log", "w")
    return subprocess.Popen(
        [sys.executable, *arguments], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_child(child):
    """Stop a child process group with SIGTERM, or SIGKILL when it is still running after a minute."""
    os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        # A worker finishing a long backlog of batches may not stop in time.
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=60)


def wait_for_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"The sink did not start listening on port {port} within {timeout} s.")


# --- Baseline ---------------------------------------------------------------------


BASELINE_TEMPLATE = (
    "From: Demo Newsletter <newsletter@demo.example>\r\nTo: {email}\r\nSubject: Novita di dicembre\r\n"
    "Date: {date}\r\nMessage-ID: <b{number}@bench.example>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}\r\n'
)


def run_baseline(mailing_list, recipients):
    """Sign and send one message per recipient in this process; return messages per second."""
    keys = dkim_signing.account_keys(mailing_list.account)
    html = NEWSLETTER_HTML.replace("[nome]", "{name}").replace("\n", "\r\n")
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", settings.SINK_SMTP_PORT, source_address=("127.0.0.1", 0)) as client:
        for number, (_pk, email) in enumerate(recipients):
            body = html.format(name=f"Nome{number}")
            raw = BASELINE_TEMPLATE.format(email=email, date=format_datetime_now(), number=number, html=body)
            signed = dkim_signing.sign(raw.encode("utf-8"), "demo.example", keys)
            client.sendmail("bounce@bench.example", [email], signed)
    elapsed = time.perf_counter() - started
    return len(recipients) / elapsed


def format_datetime_now():
    from django.utils import timezone

    return format_datetime(timezone.now())


# --- Pipeline -------------------------------------------------------------------------


def run_pipeline(mailing_list, worker):
    """Queue one sending and wait until the sink stored every message; return (rate, worker memory samples)."""
    message = services.create_message(mailing_list, "Novità di dicembre per [nome]", NEWSLETTER_HTML)
    samples = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample_memory, args=(worker.pid, samples, stop), daemon=True)
    sampler.start()

    started = time.perf_counter()
    sending = services.queue_sending(message)
    stored = wait_for_sink(sending.pk, ARGS.recipients, started)
    elapsed = time.perf_counter() - started
    stop.set()
    sampler.join()
    return stored / elapsed, samples


def wait_for_sink(sending_id, expected, started):
    """Poll the sink's table until `expected` messages of the sending are stored or time runs out."""
    last_report = started
    while True:
        stored = SinkMessage.objects.filter(sending_id=sending_id).count()
        now = time.perf_counter()
        if stored >= expected:
            return stored
        if ARGS.max_seconds and now - started > ARGS.max_seconds:
            print(f"stopped after {ARGS.max_seconds} s with {stored} of {expected} messages stored")
            return stored
        if now - last_report > 10:
            print(f"  {stored} stored after {now - started:.0f} s")
            last_report = now
        time.sleep(0.5)


def sample_memory(root_pid, samples, stop):
    """Append (seconds, {pid: resident MB}) for the worker and its child processes every second."""
    started = time.perf_counter()
    while not stop.wait(1.0):
        pids = [root_pid, *child_pids(root_pid)]
        samples.append((time.perf_counter() - started, {pid: resident_mb(pid) for pid in pids}))


def child_pids(pid):
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(item) for item in (task / "children").read_text().split()]
        except OSError:
            pass
    return children


def resident_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- Report -----------------------------------------------------------------------------


def report(baseline, pipeline, memory):
    cores = os.cpu_count()
    print(f"machine: {cores} cores, load average {os.getloadavg()[0]:.1f} at the end")
    if baseline is not None:
        print(f"baseline (format, sign, smtplib, one process): {baseline:.0f} messages/s")
    print(f"pipeline (fan-out, render, sign, relay over 4 IPs, {ARGS.concurrency} worker processes): {pipeline:.0f} messages/s")
    if baseline:
        print(f"ratio pipeline/baseline: {pipeline / baseline:.2f}")
    if memory:
        peaks = {}
        for _seconds, by_pid in memory:
            for pid, megabytes in by_pid.items():
                peaks[pid] = max(peaks.get(pid, 0.0), megabytes)
        first = max(memory[0][1].values())
        last = max(memory[-1][1].values())
        print(f"worker memory: largest process {max(peaks.values()):.0f} MB resident; first sample {first:.0f} MB, last {last:.0f} MB over {memory[-1][0]:.0f} s")


if __name__ == "__main__":
    main()
