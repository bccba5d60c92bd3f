"""Open and click tracking over real HTTP: rewritten links, the pixel, signed redirects and recorded events."""

import re

import lxml.html
import pytest

from lists.models import SubscriptionEvent
from sending import services
from sending.models import Delivery, DeliveryEvent, TrackedLink
from sending.sink import parse_message
from tests.sending.campaigns import newsletter, subscribe

SHOP = "https://shop.example/offerte?cat=1&amp;utm=nl"
HTML = (
    "<html><body><p>Ciao [nome]</p>"
    f'<p><a href="{SHOP}">Offerte</a> <a href="http://[track]/https://blog.example/post">Blog</a></p>'
    '<p><a href="https://shop.example/carrello?e=[email]">Carrello</a> <a href="mailto:info@demo.example">Scrivi</a></p>'
    '<p><a href="http://[unsubscribe]/">Cancellati</a></p></body></html>'
)
CLICK_URL = re.compile(r"^http://c1234\.localhost:8000/track/click/(\d+)/([0-9a-f]{32})/(\d+)$")
OPEN_URL = re.compile(r"^http://c1234\.localhost:8000/track/open/(\d+)/([0-9a-f]{32})\.gif$")


@pytest.fixture
def received(demo, sink):
    """Anna's copy of a tracked newsletter, parsed, with her delivery."""
    subscribe("anna@example.com", fields={1: "Anna"})
    sending = services.queue_sending(newsletter(html=HTML))
    [stored] = sink.wait_for(1, sending_id=sending.pk)
    parts = parse_message(bytes(stored.raw))
    return parts, Delivery.objects.get(sending=sending)


def links_of(parts):
    return lxml.html.fromstring(parts["html"]).xpath("//a/@href")


def test_links_become_click_redirects(received):
    parts, delivery = received
    shop, blog, cart, mailto, unsubscribe = links_of(parts)

    for link in (shop, blog, cart):
        assert CLICK_URL.match(link), link
        assert CLICK_URL.match(link).group(1) == str(delivery.pk)
    assert mailto == "mailto:info@demo.example"
    assert "/frontend/optout.aspx?" in unsubscribe
    assert list(TrackedLink.objects.order_by("number").values_list("url", flat=True)) == [
        "https://shop.example/offerte?cat=1&utm=nl",
        "https://blog.example/post",
        "https://shop.example/carrello?e=[email]",
    ]


def test_text_part_links_are_tracked(received):
    parts, _delivery = received
    text_urls = re.findall(r"\((http[^)\s]+)\)", parts["text"])

    assert len(text_urls) >= 3
    assert all(CLICK_URL.match(url) or "optout.aspx" in url for url in text_urls)


def test_open_pixel_records_open(received, http):
    parts, delivery = received
    [pixel] = [src for src in lxml.html.fromstring(parts["html"]).xpath("//img/@src") if "/track/open/" in src]
    assert OPEN_URL.match(pixel)

    response = http.open_link(pixel, headers={"User-Agent": "Thunderbird/128"})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    [event] = DeliveryEvent.objects.filter(delivery=delivery)
    assert event.kind == DeliveryEvent.Kind.OPEN
    assert event.ip == "127.0.0.1"
    assert event.user_agent == "Thunderbird/128"


def test_click_redirects_and_records(received, http):
    parts, delivery = received
    shop, _blog, cart, _mailto, _unsubscribe = links_of(parts)

    first = http.open_link(shop, allow_redirects=False, headers={"User-Agent": "Firefox/133"})
    second = http.open_link(cart, allow_redirects=False)

    assert first.status_code == 302
    assert first.headers["Location"] == "https://shop.example/offerte?cat=1&utm=nl"
    assert second.headers["Location"] == "https://shop.example/carrello?e=anna@example.com"
    clicks = DeliveryEvent.objects.filter(delivery=delivery, kind=DeliveryEvent.Kind.CLICK).order_by("id")
    assert [click.url for click in clicks] == [first.headers["Location"], second.headers["Location"]]
    assert [click.link.number for click in clicks] == [1, 3]
    assert clicks[0].user_agent == "Firefox/133"


def test_opens_and_clicks_are_recipient_events(received, http):
    parts, delivery = received
    http.open_link(links_of(parts)[0], allow_redirects=False)
    pixel = [src for src in lxml.html.fromstring(parts["html"]).xpath("//img/@src") if "/track/open/" in src][0]
    http.open_link(pixel)

    events = SubscriptionEvent.objects.filter(recipient=delivery.recipient, kind__in=["open", "click"]).order_by("id")
    assert [event.kind for event in events] == ["click", "open"]
    assert {event.message_id for event in events} == {delivery.sending.message_id}
    assert events[0].details["url"] == "https://shop.example/offerte?cat=1&utm=nl"
    assert events[0].source == "Recipient"


def test_forged_or_unknown_links_redirect_nowhere(received, http):
    parts, delivery = received
    shop = links_of(parts)[0]
    _, signature, number = CLICK_URL.match(shop).groups()
    base = "http://c1234.localhost:8000/track"
    tampered = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    forged = [
        f"{base}/click/{delivery.pk}/{tampered}/{number}",
        f"{base}/click/{delivery.pk + 1}/{signature}/{number}",
        f"{base}/click/{delivery.pk}/{signature}/99",
        f"{base}/click/{delivery.pk}/{signature.upper()}/{number}",
        f"{base}/click/{delivery.pk}/{signature}/{number}?url=https://evil.example/",
        f"{base}/open/{delivery.pk + 1}/{signature}.gif",
        f"{base}/open/{delivery.pk}/{tampered}.gif",
        f"{base}/click/{delivery.pk}/{'0' * 32}/{number}",
    ]

    for url in forged:
        response = http.open_link(url, allow_redirects=False)
        if url.endswith("?url=https://evil.example/"):
            # The query is ignored: the signed link still leads to the shop only.
            assert response.headers["Location"] == "https://shop.example/offerte?cat=1&utm=nl"
            continue
        assert response.status_code == 404, url
        assert "Location" not in response.headers
    assert DeliveryEvent.objects.filter(delivery=delivery).count() == 1


def test_changed_link_number_stays_in_message(received, http):
    parts, delivery = received
    _, signature, _number = CLICK_URL.match(links_of(parts)[0]).groups()

    response = http.open_link(
        f"http://c1234.localhost:8000/track/click/{delivery.pk}/{signature}/2", allow_redirects=False
    )

    assert response.headers["Location"] == "https://blog.example/post"


def test_each_delivery_fills_own_token(demo, sink):
    for address in ("anna@example.com", "bruno@example.com", "carla@example.com"):
        subscribe(address, fields={1: address.split("@")[0]})
    sending = services.queue_sending(newsletter(html=HTML))

    stored = sink.wait_for(3, sending_id=sending.pk)

    for message in stored:
        parts = parse_message(bytes(message.raw))
        delivery = Delivery.objects.get(sending=sending, to_email=message.rcpt_to[0])
        shop, blog, cart, _mailto, _unsubscribe = links_of(parts)
        [pixel] = [src for src in lxml.html.fromstring(parts["html"]).xpath("//img/@src") if "/track/open/" in src]
        for link in (shop, blog, cart):
            assert CLICK_URL.match(link).group(1) == str(delivery.pk)
        assert OPEN_URL.match(pixel).group(1) == str(delivery.pk)
        assert "mailupsim_tracking_token" not in parts["html"]
        assert "mailupsim_tracking_token" not in parts["text"]
    assert TrackedLink.objects.filter(message=sending.message).count() == 3


def test_link_to_deleted_delivery_is_invalid(received, http):
    parts, delivery = received
    shop = links_of(parts)[0]
    Delivery.objects.filter(pk=delivery.pk).delete()

    assert http.open_link(shop, allow_redirects=False).status_code == 404


def test_head_request_records_nothing(received, http):
    parts, delivery = received

    response = http.open_link(links_of(parts)[0], method="HEAD", allow_redirects=False)

    assert response.status_code == 200
    assert not DeliveryEvent.objects.filter(delivery=delivery).exists()


def test_tracking_off_leaves_links_alone(demo, sink):
    subscribe("anna@example.com", fields={1: "Anna"})
    sending = services.queue_sending(newsletter(html=HTML, tracking=False))

    [stored] = sink.wait_for(1, sending_id=sending.pk)
    parts = parse_message(bytes(stored.raw))
    shop, blog, cart, _mailto, _unsubscribe = links_of(parts)
    assert shop == "https://shop.example/offerte?cat=1&utm=nl"
    assert blog == "https://blog.example/post"
    assert cart == "https://shop.example/carrello?e=anna@example.com"
    assert "/track/" not in parts["html"]
    assert "/track/" not in parts["text"]
    assert not TrackedLink.objects.exists()


def test_merged_link_must_stay_http(demo, sink, http):
    subscribe("anna@example.com", fields={5: "javascript:alert(1)//"})
    message = newsletter(html='<a href="https://[campo5]">x</a><a href="https://ok.example/">y</a>')
    sending = services.queue_sending(message)
    [stored] = sink.wait_for(1, sending_id=sending.pk)
    hostile, _ok = links_of(parse_message(bytes(stored.raw)))

    response = http.open_link(hostile, allow_redirects=False)

    assert response.headers.get("Location", "").startswith("https://")
