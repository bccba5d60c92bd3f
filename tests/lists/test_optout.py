"""optout.aspx over real HTTP: a confirmation page on GET, an unsubscription on any POST, 400 for a bad link."""

import re

import pytest

from lists import services
from lists.models import Subscription, SubscriptionEvent
from sending.sink import parse_message
from tests.lists.pages import change_query, demo_list, events, open_link, paragraphs, recipient, status

Status = Subscription.Status
MESSAGE_ID = 77


@pytest.fixture
def member(demo, http):
    """anna@example.com, subscribed to lists 1 and 2."""
    response = http.get(
        "/frontend/xmlSubscribe.aspx",
        params={"List": "1,2", "Email": "anna@example.com", "Confirm": "0", "retCode": "1"},
    )
    assert response.text == "0"
    return recipient("anna@example.com")


def link(person, list_id=1, message_id=MESSAGE_ID):
    return services.optout_url(person, demo_list(list_id), message_id)


def test_get_shows_confirmation_page(member, http):
    response = http.open_link(link(member))

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert 'name="source" value="page"' in response.text
    assert re.search(r'<form method="post"', response.text)
    assert status("anna@example.com") == Status.SUBSCRIBED


def test_page_in_list_language(member, http):
    italian = open_link(http, link(member, list_id=1))
    english = open_link(http, link(member, list_id=2))

    assert paragraphs(italian.text)[1] == "it"
    assert paragraphs(english.text)[1] == "en"


def test_page_button_records_reason_2(member, http):
    url = link(member)
    page = http.open_link(url)
    form = re.search(r"<form([^>]*)>(.*?)</form>", page.text, re.DOTALL)
    assert 'method="post"' in form.group(1)
    assert "action=" not in form.group(1)
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2)))
    assert hidden == {"source": "page"}

    response = http.open_link(url, method="POST", data=hidden)

    assert response.status_code == 200
    row = Subscription.objects.get(recipient=member, list__list_id=1)
    assert row.status == Status.UNSUBSCRIBED
    assert row.optout_reason == "2"
    assert row.optout_message_id == MESSAGE_ID
    [event] = events("anna@example.com", kind=SubscriptionEvent.Kind.UNSUBSCRIBE)
    assert (event.source, event.reason, event.message_id) == ("Recipient", "2", MESSAGE_ID)
    assert status("anna@example.com", list_id=2) == Status.SUBSCRIBED


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("List-Unsubscribe=One-Click", "application/x-www-form-urlencoded"),
        ("", None),
        ("unsubscribe me", "text/plain"),
        ("source=other", "application/x-www-form-urlencoded"),
    ],
)
def test_one_click_post_records_reason_32(member, http, body, content_type):
    response = open_link(http, link(member), "POST", body, content_type)

    assert response.status_code == 200
    texts, _language = paragraphs(response.text)
    assert len(texts) == 1
    row = Subscription.objects.get(recipient=member, list__list_id=1)
    assert (row.status, row.optout_reason) == (Status.UNSUBSCRIBED, "32")
    [event] = events("anna@example.com", kind=SubscriptionEvent.Kind.UNSUBSCRIBE)
    assert (event.source, event.reason, event.message_id) == ("Recipient", "32", MESSAGE_ID)


def test_resubscribe_as_pending_clears_optout(member, http):
    http.open_link(link(member), method="POST", data={"source": "page"})

    response = http.get(
        "/frontend/xmlSubscribe.aspx",
        params={"List": "1", "Email": "anna@example.com", "Confirm": "1", "retCode": "1"},
    )

    assert response.text == "0"
    row = Subscription.objects.get(recipient=member, list__list_id=1)
    assert row.status == Status.PENDING
    assert row.optout_at is None
    assert row.optout_reason == ""
    assert row.optout_message_id is None


def test_second_post_changes_nothing(member, http):
    http.open_link(link(member), method="POST", data={"source": "page"})
    response = http.open_link(link(member), method="POST", data="List-Unsubscribe=One-Click")

    assert response.status_code == 200
    assert Subscription.objects.get(recipient=member, list__list_id=1).optout_reason == "2"
    assert len(events("anna@example.com", kind=SubscriptionEvent.Kind.UNSUBSCRIBE)) == 1


def test_link_without_message_works(member, http):
    response = http.open_link(link(member, message_id=0), method="POST", data="List-Unsubscribe=One-Click")

    assert response.status_code == 200
    row = Subscription.objects.get(recipient=member, list__list_id=1)
    assert (row.status, row.optout_message_id) == (Status.UNSUBSCRIBED, None)


def test_doubled_slash_reaches_page(member, raw):
    url = link(member)
    target = "//frontend/optout.aspx?" + url.split("?", 1)[1]

    response = raw.request("POST", target, body=b"List-Unsubscribe=One-Click", headers={
        "Content-Type": "application/x-www-form-urlencoded",
    })
    assert response.status == 200
    assert status("anna@example.com") == Status.UNSUBSCRIBED


def test_mixed_case_path_and_names(member, http):
    query = link(member).split("?", 1)[1].replace("idList", "IDLIST").replace("HASH", "hash")
    response = http.post(f"/FrontEnd/OptOut.aspx?{query}", data="List-Unsubscribe=One-Click")

    assert response.status_code == 200
    assert status("anna@example.com") == Status.UNSUBSCRIBED


@pytest.mark.parametrize(
    "change",
    [
        ("HASH", "0" * 40),
        ("HASH", ""),
        ("id", "999"),
        ("idList", "2"),
        ("idNL", "78"),
        ("id", "abc"),
        ("idList", "99999999999999999999999"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bad_link_returns_400(member, http, change, method):
    url = change_query(link(member), **dict([change]))
    response = http.open_link(url, method=method, data="List-Unsubscribe=One-Click")

    assert response.status_code == 400
    texts, _language = paragraphs(response.text)
    assert len(texts) == 1
    assert status("anna@example.com") == Status.SUBSCRIBED


@pytest.mark.parametrize("name", ["HASH", "id", "idList"])
def test_link_missing_parameter_returns_400(member, http, name):
    url = change_query(link(member), **{name: None})
    response = http.open_link(url, method="POST", data="List-Unsubscribe=One-Click")

    assert response.status_code == 400
    assert status("anna@example.com") == Status.SUBSCRIBED


def test_link_of_other_account_returns_400(member, http, other_account):
    url = link(member).replace("c1234.localhost", "c5678.localhost")
    response = http.open_link(url, method="POST", data="List-Unsubscribe=One-Click")

    assert response.status_code == 400
    assert status("anna@example.com") == Status.SUBSCRIBED


def test_broken_multipart_body_still_unsubscribes(member, http):
    response = open_link(http, link(member), "POST", b"--x\r\nbroken", "multipart/form-data")

    assert response.status_code == 200
    assert status("anna@example.com") == Status.UNSUBSCRIBED


def test_oversized_body_still_unsubscribes(member, http, settings):
    body = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = open_link(http, link(member), "POST", body, "application/x-www-form-urlencoded")

    assert response.status_code == 200
    row = Subscription.objects.get(recipient=member, list__list_id=1)
    assert (row.status, row.optout_reason) == (Status.UNSUBSCRIBED, "32")


def test_welcome_mail_list_unsubscribe_header(demo, http, mail_sink):
    http.get("/frontend/xmlSubscribe.aspx", params={"List": "1", "Email": "new@example.com", "retCode": "1"})
    [request] = mail_sink.wait_for(1)
    confirm = re.search(r"https?://\S+/frontend/confirm\.aspx\?code=\S+", parse_message(bytes(request.raw))["text"])
    http.open_link(confirm.group(0))

    welcome = mail_sink.wait_for(2)[1]
    headers = dict(parse_message(bytes(welcome.raw))["headers"])
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = re.match(r"<([^>]+)>", headers["List-Unsubscribe"]).group(1)
    response = http.open_link(url, method="POST", data="List-Unsubscribe=One-Click")

    assert response.status_code == 200
    row = Subscription.objects.get(recipient__email="new@example.com")
    assert (row.status, row.optout_reason) == (Status.UNSUBSCRIBED, "32")
