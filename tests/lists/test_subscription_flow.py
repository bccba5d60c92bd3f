"""The newcomer's walk-through over real HTTP and SMTP: subscribe, confirm, check, unsubscribe."""

import re
import time

from sending.sink import parse_message

LIST_GUID = "0b6f4f5e-3c1a-4d2b-9e8f-1a2b3c4d5e01"
CONFIRM_LINK = re.compile(r"https?://\S+/frontend/confirm\.aspx\?code=\S+")


def confirm_link(message):
    return CONFIRM_LINK.search(parse_message(bytes(message.raw))["text"]).group(0)


def check(http, email):
    response = http.get(f"/frontend/xmlChkSubscriber.aspx?ListGuid={LIST_GUID}&List=1&Email={email}")
    return response.text


def test_double_optin_round_trip(demo, sink, http):
    response = http.get("/frontend/xmlSubscribe.aspx?List=1&Email=anna.rossi@example.com&retCode=1")
    assert response.status_code == 200
    assert response.text == "0"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert check(http, "anna.rossi@example.com") == "4"

    [request] = sink.wait_for(1)
    assert request.rcpt_to == ["anna.rossi@example.com"]
    assert request.peer_ip == "127.0.0.1"
    assert "Newsletter" in request.subject
    link = confirm_link(request)
    assert link.startswith("http://c1234.localhost")

    confirmed = http.open_link(link)
    assert confirmed.status_code == 200
    assert check(http, "anna.rossi@example.com") == "2"
    welcome = sink.wait_for(2)[1]
    assert welcome.rcpt_to == ["anna.rossi@example.com"]

    response = http.get(f"/frontend/xmlUnSubscribe.aspx?ListGuid={LIST_GUID}&List=1&Email=anna.rossi@example.com")
    assert response.text == "0"
    assert check(http, "anna.rossi@example.com") == "3"


def test_confirmation_request_in_list_language(demo, sink, http):
    http.get("/frontend/xmlSubscribe.aspx?List=1&Email=it@example.com&retCode=1")
    http.get("/frontend/xmlSubscribe.aspx?List=2&Email=en@example.com&retCode=1")

    italian, english = sink.wait_for(2)
    assert "Conferma" in italian.subject
    assert "confirm" in english.subject.lower()


def test_confirmation_link_tampered_is_rejected(demo, sink, http):
    http.get("/frontend/xmlSubscribe.aspx?List=1&Email=tamper@example.com&retCode=1")
    [request] = sink.wait_for(1)
    link = confirm_link(request)

    response = http.open_link(link[:-3] + "xyz")
    assert response.status_code == 400
    assert check(http, "tamper@example.com") == "4"


def test_confirmation_link_expired_is_rejected(demo, sink, http, monkeypatch):
    http.get("/frontend/xmlSubscribe.aspx?List=1&Email=late@example.com&retCode=1")
    [request] = sink.wait_for(1)
    link = confirm_link(request)

    later = time.time() + 73 * 3600
    monkeypatch.setattr("lists.services.time.time", lambda: later)
    response = http.open_link(link)
    assert response.status_code == 400
    assert check(http, "late@example.com") == "4"


def test_confirm_without_double_optin_sends_nothing(demo, sink, http):
    response = http.get("/frontend/xmlSubscribe.aspx?List=1&Email=direct@example.com&Confirm=0&retCode=1")
    assert response.text == "0"
    assert check(http, "direct@example.com") == "2"
    assert sink.wait_for(1, timeout=1) == []
