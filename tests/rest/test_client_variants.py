"""Request shapes of REST clients that cannot run here, sent as raw HTTP."""

import json

from lists.models import Recipient, Subscription
from tests.rest.conftest import assert_envelope


def test_pymailup_paging_on_every_method(api):
    # thundersystems/pymailup adds PageNumber and PageSize to POST, PUT and DELETE too.
    paging = "?PageNumber=0&PageSize=50"
    created = api.post("/List/1/Recipient" + paging + "&ConfirmEmail=False", json={"Email": "py@example.com"})
    assert created.status_code == 200
    recipient_id = created.json()

    updated = api.put("/Recipient/Detail" + paging, json={"idRecipient": recipient_id, "Fields": []})
    assert updated.status_code == 200
    deleted = api.delete(f"/List/1/Unsubscribe/{recipient_id}" + paging)
    assert deleted.status_code == 200


def test_fazland_null_body_on_delete(api):
    recipient_id = api.post("/List/1/Recipient", json={"Email": "null@example.com"}).json()
    response = api.delete(f"/List/1/Unsubscribe/{recipient_id}", data=b"null")
    assert response.status_code == 200
    assert Subscription.objects.get(recipient_id=recipient_id).status == "unsubscribed"


def test_official_sample_headers(api):
    # The official samples send Accept and Content-Type JSON, and Content-length: 0 on GET.
    headers = {"Accept": "application/json", "Content-Type": "application/json", "Content-Length": "0"}
    response = api.get("/List/1/Recipients/Subscribed?pageSize=5&pageNum=0", headers=headers)
    assert response.status_code == 200
    assert response.json()["PageSize"] == 5


def test_mailup_ruby_headers(api):
    headers = {"User-Agent": "mailup-ruby-1.2.0", "Content-Type": "application/json; charset=utf-8"}
    response = api.post("/List/1/Recipient", data=json.dumps({"Email": "ruby@example.com"}), headers=headers)
    assert response.status_code == 200
    assert Recipient.objects.filter(email="ruby@example.com").exists()


def test_node_form_content_type_with_json_body(api, demo):
    # npm mailup posts {"Email": …} to a group with ConfirmEmail=true and asks
    # for application/x-www-form-urlencoded answers.
    group_id = demo["lists"][0]["groups"][0]["id"]
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/x-www-form-urlencoded"}
    body = json.dumps({"Email": "node@example.com"})

    response = api.post(f"/Group/{group_id}/Recipient?ConfirmEmail=true", data=body, headers=headers)
    assert response.status_code == 200
    assert isinstance(response.json(), int)
    assert Subscription.objects.get(recipient__email="node@example.com").status == "pending"


def test_confirm_email_numeric_values(api):
    assert api.post("/List/1/Recipient?confirmemail=0", json={"Email": "zero@example.com"}).status_code == 200
    assert Subscription.objects.get(recipient__email="zero@example.com").status == "subscribed"


def test_empty_xml_recipient_is_400(api):
    response = api.post("/List/1/Recipient", data=b"<Recipient/>", headers={"Content-Type": "application/xml"})
    assert "needs an Email" in assert_envelope(response, 400, "BadRequest")["ErrorDescription"]


def test_ids_as_bare_numbers(api):
    response = api.post("/List/1/Recipient", json={"Email": "bare@example.com"})
    assert response.text.strip().isdigit()
