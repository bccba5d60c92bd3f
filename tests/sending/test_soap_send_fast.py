"""SendNewsletterFast through zeep to a list of 1,000 subscribers, checked in the sink."""

from email import message_from_bytes, policy
from urllib.parse import parse_qs, urlsplit

import lxml.html
from django.conf import settings

from lists import services as lists_services
from lists.models import Subscription
from sending.sink import parse_message
from tests.personas import demo_list
from tests.sending.soap_clients import client, login, options, parse
from tests.support import Http

SUBSCRIBERS = 1_000
PAGE = (
    "<html><body><p>Ciao [email], ecco le offerte.</p>"
    '<p><a href="http://[unsubscribe]/">Cancellati</a></p></body></html>'
)


def subscribe_many(count):
    rows = [
        lists_services.ImportRow(contact=lists_services.Contact(email=f"reader{number:04d}@example.com"))
        for number in range(count)
    ]
    results = lists_services.import_rows(demo_list(), rows)
    assert {result.outcome for result in results} == {"created"}


def unsubscribe_link(stored):
    html = parse_message(bytes(stored.raw))["html"]
    return lxml.html.fromstring(html).xpath("//a/@href")[0]


def test_send_newsletter_fast_reaches_every_subscriber(demo, sink, server_url):
    subscribe_many(SUBSCRIBERS)
    send = client(server_url, "MailupSend")
    key = login(send)

    result = parse(send.SendNewsletterFast(key, 1, "Offerte di dicembre", "HTML", PAGE, options(note="mille")))

    assert result.tag == "SendNewsletterFastResult"
    assert [child.tag for child in result] == ["errorCode", "errorDescription", "newsletterID", "deliveryID"]
    assert result.findtext("errorCode") == "0"
    sending_id = int(result.findtext("deliveryID"))
    received = sink.wait_for(SUBSCRIBERS, timeout=300, sending_id=sending_id)

    assert len(received) == SUBSCRIBERS
    assert len({message.rcpt_to[0] for message in received}) == SUBSCRIBERS
    assert {message.dkim_result for message in received} == {"pass"}
    assert {message.peer_ip for message in received} <= set(settings.SENDING_SOURCE_IPS)
    assert len({message.peer_ip for message in received}) > 1

    for stored in received:
        link = urlsplit(unsubscribe_link(stored))
        query = {name: values[0] for name, values in parse_qs(link.query).items()}
        header = message_from_bytes(bytes(stored.raw), policy=policy.default)["List-Unsubscribe"]
        assert link.path == "/frontend/optout.aspx"
        assert lists_services.check_optout_hash(int(query["id"]), 1, int(query["idNL"]), query["HASH"])
        assert query["idNL"] == result.findtext("newsletterID")
        assert header.startswith(f"<{urlsplit(unsubscribe_link(stored)).geturl()}>")


def test_send_newsletter_fast_unsubscribe_links_work(demo, sink, server_url):
    subscribe_many(3)
    send = client(server_url, "MailupSend")
    key = login(send)

    result = parse(send.SendNewsletterFast(key, 1, "Offerte", "HTML", PAGE, None))
    received = sink.wait_for(3, sending_id=int(result.findtext("deliveryID")))
    http = Http(server_url)

    for stored in received:
        response = http.open_link(unsubscribe_link(stored), method="POST", data={"source": "page"})
        assert response.status_code == 200

    statuses = Subscription.objects.filter(list=demo_list()).values_list("status", flat=True)
    assert set(statuses) == {Subscription.Status.UNSUBSCRIBED}
