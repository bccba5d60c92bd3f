"""Request shapes of PHP, Ruby and Node clients on the list, message and sending routes, sent as raw HTTP."""

import json
import time
from datetime import timedelta

from django.utils import timezone

from lists.models import Group, List
from sending.models import Sending
from tests.sending.campaigns import newsletter, subscribe

PHP_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
RUBY_HEADERS = {
    "User-Agent": "mailup-ruby-1.2.0",
    "Content-Type": "application/json; charset=utf-8",
    "Accept": "application/json",
}
NODE_HEADERS = {"Accept": "application/x-www-form-urlencoded", "Content-Type": "application/x-www-form-urlencoded"}


def test_php_wrapper_lists_with_quoted_orderby(api):
    # caereservices/mailup and LucianoVandi/mailup-php: orderby="Id+asc" with quotes, PageSize=100.
    response = api.get('/List?orderby="Id+asc"&PageSize=100', headers=PHP_HEADERS)
    assert response.status_code == 200
    assert [item["IdList"] for item in response.json()["Items"]] == [1, 2]


def test_php_wrapper_creates_list(api):
    body = {"Name": "Da PHP", "OwnerEmail": "php@demo.example", "NLSenderName": "PHP", "UseDefaultSettings": True}
    response = api.post("/User/Lists", data=json.dumps(body), headers=PHP_HEADERS)
    assert response.status_code == 200
    assert List.objects.filter(name="Da PHP", list_id=response.json()).exists()


def test_php_wrapper_group_send_with_empty_body(api, sink):
    group = Group.objects.get(list__list_id=1, name="Clienti")
    subscribe("anna@example.com", group_ids=[group.pk])
    message = newsletter()

    # The official samples post with an empty body and Content-length: 0.
    headers = {**PHP_HEADERS, "Content-Length": "0"}
    response = api.post(f"/Group/{group.pk}/Email/{message.pk}/Send", data=b"", headers=headers)
    assert response.status_code == 200
    assert response.json()["Sent"] == 1


def test_php_sample_tag_as_raw_text(api):
    response = api.post("/List/1/Tag", data=b"test tag", headers=PHP_HEADERS)
    assert response.status_code == 200
    assert response.json()["Name"] == "test tag"


def test_ruby_creates_message_and_reads_archive(api, sink):
    subscribe("anna@example.com")
    body = {"Subject": "Dal gem", "Content": "<p>Ciao</p>", "Embed": False, "IsConfirmation": False, "Fields": []}
    created = api.post("/List/1/Email", data=json.dumps(body), headers=RUBY_HEADERS).json()
    message_id = created["idMessage"]

    sending_id = api.post(f"/List/1/Email/{message_id}/Send", data=b"", headers=RUBY_HEADERS).json()["Id"]
    sink.wait_for(1, sending_id=sending_id)
    history = api.get(f"/List/1/Email/{message_id}/SendHistory", headers=RUBY_HEADERS).json()
    assert [item["Id"] for item in history["Items"]] == [sending_id]

    wait_until_done(sending_id)
    archived = api.get("/List/1/Archived/Emails", headers=RUBY_HEADERS).json()
    assert [item["idMessage"] for item in archived["Items"]] == [message_id]
    assert archived["Items"][0]["LastSendDate"].endswith("Z")


def wait_until_done(sending_id, timeout=10):
    deadline = time.monotonic() + timeout
    while Sending.objects.get(pk=sending_id).status != Sending.Status.DONE:
        assert time.monotonic() < deadline, f"sending {sending_id} did not finish within {timeout} s"
        time.sleep(0.05)


def test_ruby_updates_user_list(api):
    body = {"IdList": 2, "Name": "Offerte", "OwnerEmail": "offers@demo.example"}
    response = api.put("/User/List/2", data=json.dumps(body), headers=RUBY_HEADERS)
    assert response.status_code == 200
    assert response.content.strip().startswith(b"{")
    assert List.objects.get(account__console_id=1234, list_id=2).name == "Offerte"


def test_ruby_void_calls_have_empty_body(api):
    # mailup-ruby reads an empty body as true, so void calls must send none.
    message = newsletter()
    sending = Sending.objects.create(message=message, list=message.list, status=Sending.Status.PAUSED)
    response = api.post(f"/Email/Sendings/{sending.pk}/Immediate", data=b"", headers=RUBY_HEADERS)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"


def test_pymailup_deferred_with_paging_parameters(api):
    # thundersystems/pymailup adds PageNumber and PageSize to every call.
    message = newsletter()
    sending = Sending.objects.create(message=message, list=message.list, status=Sending.Status.PAUSED)
    when = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")
    response = api.post(f"/Email/Sendings/{sending.pk}/Deferred?PageNumber=0&PageSize=50", json={"Date": when})
    assert response.status_code == 200
    assert Sending.objects.get(pk=sending.pk).status == Sending.Status.SCHEDULED


def test_node_message_list_with_form_accept(api):
    newsletter()
    response = api.get("/List/1/Emails", headers=NODE_HEADERS)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["TotalElementsCount"] == 1


def test_node_single_send_with_form_content_type(api, sink):
    subscribe("node@example.com")
    message = newsletter()
    body = json.dumps({"idMessage": message.pk, "Email": "node@example.com"})
    response = api.post("/Email/Send", data=body, headers=NODE_HEADERS)
    assert response.json()["Sent"] == 1


def test_fazland_null_body_on_message_get(api):
    message = newsletter()
    response = api.get(f"/List/1/Email/{message.pk}", data=b"null")
    assert response.status_code == 200
    assert response.json()["idMessage"] == message.pk
