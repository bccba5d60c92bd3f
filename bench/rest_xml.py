"""Time one big REST recipient page in JSON and in XML.

Run with `.venv/bin/python bench/rest_xml.py [recipients]` (default 3000).
The script works in a fresh temporary SQLite database. It fills list 1 of
the demo console with subscribed recipients. Three of their 39 fields are
set (one with `&` and `<`, one with an accented letter), and every other
recipient has a mobile number, so the XML has text to escape and null
elements.
It then requests the whole list as one page through Django's test client,
seven times with `Accept: application/json` and seven times with
`Accept: application/xml`, and prints the median wall and CPU time of
each and the ratio of XML to JSON. It also times the generic converter
(rest_xml.to_xml of the decoded JSON page), which serves every response
that a listing does not write as XML itself.
"""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch_database import demo_access_token, run_in_scratch_database, start_django  # noqa: E402

start_django(REST_RATE_LIMIT_PER_SECOND="0")

RUNS = 7
PAGE_PATH = "/API/v1.1/Rest/ConsoleService.svc/Console/List/1/Recipients/Subscribed"


def fill(count):
    from lists.demo import seed_demo
    from lists.models import Account, Recipient, Subscription

    seed_demo()
    account = Account.objects.get(console_id=1234)
    mailing_list = account.lists.get(list_id=1)
    recipients = Recipient.objects.bulk_create(
        Recipient(
            account=account,
            email=f"user{number}@example.com",
            fields={"1": f"Name{number}", "2": f"Rossi & Figli <{number}>", "5": "Città"},
            mobile_prefix="+39" if number % 2 else "",
            mobile_number=f"333{number:07d}" if number % 2 else None,
        )
        for number in range(count)
    )
    Subscription.objects.bulk_create(
        Subscription(recipient=recipient, list=mailing_list, status="subscribed", source="Import") for recipient in recipients
    )


def timed(action):
    """Run `action` RUNS times and return its last result with the median wall and CPU seconds."""
    walls, cpus = [], []
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return result, statistics.median(walls), statistics.median(cpus)


def run(count):
    import json

    from django.test import Client

    from mailup_sim.rest_xml import to_xml

    fill(count)
    client = Client()
    token = demo_access_token(client)
    path = f"{PAGE_PATH}?pageSize={count}"

    def get(accept):
        return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_ACCEPT=accept)

    as_json, json_wall, json_cpu = timed(lambda: get("application/json"))
    as_xml, xml_wall, xml_cpu = timed(lambda: get("application/xml"))
    converted, converter_wall, converter_cpu = timed(lambda: to_xml(json.loads(as_json.content)))
    assert as_xml.content == converted, "the listing's XML differs from the converted JSON page"

    print(f"recipients: {count}, JSON {len(as_json.content):,} bytes, XML {len(as_xml.content):,} bytes")
    print(f"{'what':<38} {'wall ms':>8} {'CPU ms':>8} {'XML/JSON (CPU)':>15}")
    print(f"{'GET page, JSON':<38} {json_wall * 1000:8.1f} {json_cpu * 1000:8.1f}")
    print(f"{'GET page, XML':<38} {xml_wall * 1000:8.1f} {xml_cpu * 1000:8.1f} {xml_cpu / json_cpu:15.2f}")
    print(f"{'to_xml(json.loads(JSON page)) only':<38} {converter_wall * 1000:8.1f} {converter_cpu * 1000:8.1f}")


if __name__ == "__main__":
    run_in_scratch_database(run, int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
