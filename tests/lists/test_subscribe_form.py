"""subscribe.aspx over real HTTP: the HTML form handler returns a redirect to any caller."""

import re

import pytest

from lists.models import Subscription, SubscriptionEvent
from sending.sink import parse_message
from tests.lists.pages import (
    demo_list,
    events,
    group_id,
    group_names,
    paragraphs,
    recipient,
    row_counts,
    status,
    system_mails,
)

PAGE = "/frontend/subscribe.aspx"
CONFIRM_LINK = re.compile(r"https?://\S+/frontend/confirm\.aspx\?code=\S+")
Status = Subscription.Status


def submit(client, **data):
    """POST the form as a browser does and return the redirect target."""
    response = client.post(PAGE, data=data, allow_redirects=False)
    assert response.status_code == 302
    return response.headers["Location"]


def test_form_post_redirects_to_result_page(demo, http):
    location = submit(http, email="form@example.com", list="1")

    assert location == "/frontend/subscriberesult.aspx?result=0p"
    assert status("form@example.com") == Status.PENDING
    [event] = events("form@example.com")
    assert event.source == "Recipient"


def test_result_page_shows_pending_message(demo, http):
    response = http.post(PAGE, data={"email": "follow@example.com", "list": "1"}, headers={"Accept-Language": "en"})
    assert response.status_code == 200
    texts, language = paragraphs(response.text)
    assert texts == ["Thank you! We sent you an e-mail: open it and click the link to confirm your subscription."]
    assert language == "en"


def test_unregistered_caller_may_subscribe(demo, outsider):
    location = submit(outsider, email="visitor@example.com", list="1")

    assert location.endswith("result=0p")
    assert status("visitor@example.com") == Status.PENDING


def test_get_form_works(demo, outsider):
    response = outsider.get(PAGE, params={"email": "getter@example.com", "list": "1"}, allow_redirects=False)
    assert response.status_code == 302
    assert status("getter@example.com") == Status.PENDING


def test_list_result_page_receives_code(demo, http):
    newsletter = demo_list(1)
    newsletter.subscribe_result_url = "https://shop.example/thanks?from=mailup"
    newsletter.save()

    assert submit(http, email="shop@example.com", list="1") == "https://shop.example/thanks?from=mailup&result=0"
    assert submit(http, email="broken", list="1") == "https://shop.example/thanks?from=mailup&result=2"


@pytest.mark.parametrize("lists", [["1", "2"], ["1,2"]])
def test_several_lists_one_confirmation(demo, http, mail_sink, lists):
    location = submit(http, email="several@example.com", list=lists)
    assert location.endswith("result=0p")

    [mail] = system_mails(to_email="several@example.com")
    assert mail.list.list_id == 1
    [message] = mail_sink.wait_for(1)
    link = CONFIRM_LINK.search(parse_message(bytes(message.raw))["text"]).group(0)
    assert http.open_link(link).status_code == 200
    assert status("several@example.com", list_id=1) == Status.SUBSCRIBED
    assert status("several@example.com", list_id=2) == Status.SUBSCRIBED


def test_fields_by_campo_name(demo, http):
    submit(http, email="campo@example.com", list="1", campo1="Anna", Campo4="Roma", campo40="ignored", nome="ignored")
    assert recipient("campo@example.com").fields == {"1": "Anna", "4": "Roma"}


def test_groups_added(demo, http):
    submit(http, email="group@example.com", list="1", group=f"{group_id('Prospect')},{group_id('VIP')}")
    assert group_names("group@example.com") == ["Prospect"]


def test_confirm_0_subscribes_at_once(demo, http):
    assert submit(http, email="now@example.com", list="1", Confirm="0").endswith("result=0")
    assert status("now@example.com") == Status.SUBSCRIBED


def test_already_subscribed_result_3(demo, http):
    submit(http, email="twice@example.com", list="1", Confirm="0")
    assert submit(http, email="twice@example.com", list="1").endswith("result=3")


def test_dynamic_sender(demo, http, mail_sink):
    submit(http, email="dyn@example.com", list="1", Dynsndmail="promo@brand.example", dynsndname="Brand")

    [message] = mail_sink.wait_for(1)
    headers = dict(parse_message(bytes(message.raw))["headers"])
    assert headers["From"] == "Brand <promo@brand.example>"
    assert headers["Sender"] == "Demo Newsletter <newsletter@demo.example>"


@pytest.mark.parametrize(
    "data, result",
    [
        ({"email": "bad address", "list": "1"}, "2"),
        ({"email": "x@example.com"}, "1"),
        ({"email": "x@example.com", "list": "9"}, "1"),
        ({"email": "x@example.com", "list": "one"}, "1"),
        ({"list": "1"}, "1"),
        ({"email": "x@example.com", "list": "1", "campo1": "a--b"}, "1"),
    ],
)
def test_rejected_form_redirects_with_code(demo, http, data, result):
    assert submit(http, **data) == f"/frontend/subscriberesult.aspx?result={result}"
    assert row_counts()["recipients"] == 0


def test_bounced_address_result_1(demo, http):
    submit(http, email="bounced@example.com", list="1", Confirm="0")
    Subscription.objects.update(status=Status.UNSUBSCRIBED, optout_reason="80")

    assert submit(http, email="bounced@example.com", list="1").endswith("result=1")
    assert status("bounced@example.com") == Status.UNSUBSCRIBED


@pytest.mark.parametrize("result", ["", "abc", "7", "99999999999999999999999", "%00", "-1011"])
def test_result_page_never_fails(demo, raw, result):
    response = raw.get(f"/frontend/subscriberesult.aspx?result={result}")
    assert response.status == 200
    texts, _language = paragraphs(response.text)
    assert len(texts) == 1


def test_confirmation_event_source_recipient(demo, http, mail_sink):
    submit(http, email="confirmer@example.com", list="1")
    [message] = mail_sink.wait_for(1)
    link = CONFIRM_LINK.search(parse_message(bytes(message.raw))["text"]).group(0)

    http.open_link(link)
    [confirm] = events("confirmer@example.com", kind=SubscriptionEvent.Kind.CONFIRM)
    assert confirm.source == "Recipient"
