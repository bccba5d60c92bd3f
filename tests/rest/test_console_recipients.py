"""ConsoleService recipient endpoints over real HTTP, checked against the database."""

import json

import pytest

from lists.models import GroupMembership, Recipient, Subscription, SubscriptionEvent
from lists.services import REST_EVENT_DETAILS
from tests.rest.conftest import assert_envelope

Status = Subscription.Status


def subscription(email, list_id=1):
    return Subscription.objects.get(recipient__email=email, list__list_id=list_id, list__account__console_id=1234)


def group_id(demo, name):
    return next(group["id"] for lists in demo["lists"] for group in lists["groups"] if group["name"] == name)


def add(api, path, body, query=""):
    response = api.post(path + query, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    recipient_id = response.json()
    assert isinstance(recipient_id, int)
    return recipient_id


def test_subscribe_returns_bare_id(api):
    body = {"Email": "Mario@Example.com", "Name": "Mario", "Fields": [{"Id": 1, "Value": "Mario"}]}
    recipient_id = add(api, "/List/1/Recipient", body)

    recipient = Recipient.objects.get(pk=recipient_id)
    assert recipient.email == "mario@example.com"
    assert recipient.fields == {"1": "Mario"}
    assert subscription("mario@example.com").status == Status.SUBSCRIBED


def test_name_kept_and_listed(api):
    recipient_id = add(api, "/List/1/Recipient", {"Email": "mario@example.com", "Name": "  Mario Rossi "})
    # mailupy sends Name empty with every update, so an empty Name keeps the stored one.
    add(api, "/List/1/Recipient", {"Email": "mario@example.com", "Name": ""})
    api.put("/Recipient/Detail", json={"Email": "mario@example.com", "Name": ""})

    assert Recipient.objects.get(pk=recipient_id).name == "Mario Rossi"
    [item] = api.get("/List/1/Recipients/Subscribed").json()["Items"]
    assert item["Name"] == "Mario Rossi"
    response = api.put("/Recipient/Detail", json={"idRecipient": recipient_id, "Name": "Maria Rossi"})
    assert response.json()["Name"] == "Maria Rossi"


@pytest.mark.parametrize("name", ["x" * 201, "a\x00b", "a\nb", 7, ["a"]])
def test_bad_name_is_400_and_changes_nothing(api, name):
    if isinstance(name, str):
        name = name.encode().decode("unicode_escape")

    response = api.post("/List/1/Recipient", json={"Email": "bad@example.com", "Name": name})

    envelope = assert_envelope(response, 400, "BadRequest")
    assert "Name" in envelope["ErrorDescription"]
    assert not Recipient.objects.filter(email="bad@example.com").exists()


@pytest.mark.parametrize("escape", ["\\u0085", "\\u009f", "\\u2028", "\\u2029"])
def test_name_with_unicode_line_break_is_400(api, escape):
    raw = '{"Email": "nel@example.com", "Name": "a%sb"}' % escape

    response = api.post("/List/1/Recipient", data=raw.encode())

    envelope = assert_envelope(response, 400, "BadRequest")
    assert "Name" in envelope["ErrorDescription"]
    assert not Recipient.objects.filter(email="nel@example.com").exists()


def test_confirm_email_makes_pending(api, sink):
    add(api, "/List/1/Recipient", {"Email": "pending@example.com"}, "?ConfirmEmail=True")

    assert subscription("pending@example.com").status == Status.PENDING
    [request] = sink.wait_for(1)
    assert request.rcpt_to == ["pending@example.com"]


def test_subscribe_unicode_escaped_body(api):
    # mailupy sends json.dumps output, with \uXXXX escapes.
    raw = json.dumps({"Email": "citta@example.com", "Fields": [{"Id": 4, "Value": "Forlì"}]})
    response = api.post("/List/1/Recipient", data=raw.encode())
    assert response.status_code == 200
    assert Recipient.objects.get(pk=response.json()).fields == {"4": "Forlì"}


def test_resubscribe_keeps_status(api):
    first = add(api, "/List/1/Recipient", {"Email": "again@example.com"})
    api.delete(f"/List/1/Unsubscribe/{first}")

    second = add(api, "/List/1/Recipient", {"Email": "again@example.com", "Fields": [{"Id": 2, "Value": "Rossi"}]})
    assert second == first
    assert subscription("again@example.com").status == Status.UNSUBSCRIBED
    assert Recipient.objects.get(pk=first).fields == {"2": "Rossi"}


def test_group_subscribe_with_email_only(api, demo):
    # npm mailup posts {"Email": …} alone, with ConfirmEmail=true in the query.
    clienti = group_id(demo, "Clienti")
    recipient_id = add(api, f"/Group/{clienti}/Recipient", {"Email": "group@example.com"}, "?ConfirmEmail=false")

    assert subscription("group@example.com").status == Status.SUBSCRIBED
    assert GroupMembership.objects.filter(group_id=clienti, recipient_id=recipient_id).exists()


def test_subscribe_mobile_with_plus_prefix(api):
    body = {"Email": "mobile@example.com", "MobilePrefix": "+39", "MobileNumber": "3331234567"}
    recipient = Recipient.objects.get(pk=add(api, "/List/1/Recipient", body))
    assert (recipient.mobile_prefix, recipient.mobile_number) == ("0039", "3331234567")


def test_subscribe_rejects_bad_input(api):
    assert_envelope(api.post("/List/1/Recipient", json={"Email": "not-an-address"}), 400, "BadRequest")
    assert_envelope(api.post("/List/1/Recipient", json={"Name": "nobody"}), 400, "BadRequest")
    assert_envelope(api.post("/List/1/Recipient", json={"Email": "a@b.it", "Fields": [{"Id": 40}]}), 400, "BadRequest")
    assert_envelope(api.post("/List/1/Recipient", json=["a@b.it"]), 400, "BadRequest")
    assert_envelope(api.post("/List/1/Recipient?ConfirmEmail=maybe", json={"Email": "a@b.it"}), 400, "BadRequest")
    assert not Recipient.objects.exists()


@pytest.mark.parametrize("value", [["a"], {"a": 1}, True], ids=["array", "object", "boolean"])
def test_non_text_field_value_is_400(api, value):
    body = {"Email": "a@example.com", "Fields": [{"Id": 3, "Value": value}]}

    envelope = assert_envelope(api.post("/List/1/Recipient", json=body), 400, "BadRequest")

    assert "Fields Id 3" in envelope["ErrorDescription"]
    assert not Recipient.objects.exists()


def test_number_field_value_is_stored_as_text(api):
    body = {"Email": "a@example.com", "Fields": [{"Id": 3, "Value": 42}, {"Id": 4, "Value": 1.5}, {"Id": 5, "Value": None}]}

    recipient = Recipient.objects.get(pk=add(api, "/List/1/Recipient", body))

    assert recipient.fields == {"3": "42", "4": "1.5"}


def test_detail_update_rejects_array_value(api):
    recipient_id = add(api, "/List/1/Recipient", {"Email": "a@example.com", "Fields": [{"Id": 1, "Value": "Anna"}]})

    body = {"idRecipient": recipient_id, "Fields": [{"Id": 1, "Value": ["Bea"]}]}
    envelope = assert_envelope(api.put("/Recipient/Detail", json=body), 400, "BadRequest")

    assert "Fields Id 1" in envelope["ErrorDescription"]
    assert Recipient.objects.get(pk=recipient_id).fields == {"1": "Anna"}


def test_listings_by_status(api, sink):
    subscribed = add(api, "/List/1/Recipient", {"Email": "in@example.com"})
    add(api, "/List/1/Recipient", {"Email": "wait@example.com"}, "?ConfirmEmail=true")
    unsubscribed = add(api, "/List/1/Recipient", {"Email": "out@example.com"})
    api.delete(f"/List/1/Unsubscribe/{unsubscribed}")

    def emails(kind):
        response = api.get(f"/List/1/Recipients/{kind}")
        assert response.status_code == 200
        return [item["Email"] for item in response.json()["Items"]]

    assert emails("Subscribed") == ["in@example.com"]
    assert emails("Pending") == ["wait@example.com"]
    assert emails("Unsubscribed") == ["out@example.com"]

    item = api.get("/List/1/Recipients/Subscribed").json()["Items"][0]
    assert item["idRecipient"] == subscribed
    assert len(item["Fields"]) == 39
    assert item["Fields"][0] == {"Description": "nome", "Id": 1, "Value": ""}


def test_email_optins_records(api):
    recipient_id = add(api, "/List/1/Recipient", {"Email": "optin@example.com"})
    api.delete(f"/List/1/Unsubscribe/{recipient_id}")

    [record] = api.get("/List/1/Recipients/EmailOptins").json()["Items"]
    assert record["Email"] == "optin@example.com"
    assert record["Status"] == "OPTOUT"
    assert record["Optout_Type"] == "0"
    assert record["idRecipient"] == recipient_id
    assert record["Optout_Date"]


def test_update_detail_by_email(api):
    # mailupy sends Name, Email and Fields, without idRecipient.
    recipient_id = add(api, "/List/1/Recipient", {"Email": "detail@example.com"})
    body = {"Name": "D", "Email": "DETAIL@example.com", "Fields": [{"Id": 1, "Value": "Dora"}]}

    response = api.put("/Recipient/Detail", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["idRecipient"] == recipient_id
    assert response.json()["Fields"][0]["Value"] == "Dora"


def test_update_detail_by_id_changes_email(api):
    recipient_id = add(api, "/List/1/Recipient", {"Email": "old@example.com"})
    response = api.put("/Recipient/Detail", json={"idRecipient": recipient_id, "Email": "new@example.com"})
    assert response.status_code == 200
    assert Recipient.objects.get(pk=recipient_id).email == "new@example.com"


def test_update_detail_unknown_is_404(api):
    assert_envelope(api.put("/Recipient/Detail", json={"Email": "ghost@example.com"}), 404, "NotFound")
    assert_envelope(api.put("/Recipient/Detail", json={"idRecipient": 999999}), 404, "NotFound")


def test_unsubscribe_returns_empty_200(api):
    recipient_id = add(api, "/List/1/Recipient", {"Email": "bye@example.com"})

    response = api.delete(f"/List/1/Unsubscribe/{recipient_id}", headers={"Content-Length": "0"})
    assert response.status_code == 200
    assert response.content == b""
    assert subscription("bye@example.com").status == Status.UNSUBSCRIBED
    assert subscription("bye@example.com").optout_reason == "0"


def test_unsubscribe_unknown_recipient_is_404(api):
    assert_envelope(api.delete("/List/1/Unsubscribe/424242"), 404, "NotFound")


def test_group_unsubscribe_removes_membership_only(api, demo):
    clienti = group_id(demo, "Clienti")
    recipient_id = add(api, f"/Group/{clienti}/Recipient", {"Email": "member@example.com"})

    response = api.delete(f"/Group/{clienti}/Unsubscribe/{recipient_id}")
    assert response.status_code == 200
    assert response.content == b""
    assert not GroupMembership.objects.filter(recipient_id=recipient_id).exists()
    assert subscription("member@example.com").status == Status.SUBSCRIBED


def test_remove_from_list(api, demo):
    clienti = group_id(demo, "Clienti")
    recipient_id = add(api, f"/Group/{clienti}/Recipient", {"Email": "remove@example.com"})

    response = api.delete(f"/List/1/Recipient/{recipient_id}")
    assert response.status_code == 200
    assert response.content == b""
    assert not Subscription.objects.filter(recipient_id=recipient_id).exists()
    assert not GroupMembership.objects.filter(recipient_id=recipient_id).exists()
    assert Recipient.objects.filter(pk=recipient_id).exists()


def test_rest_events_are_marked(api):
    recipient_id = add(api, "/List/1/Recipient", {"Email": "marked@example.com"})
    api.delete(f"/List/1/Unsubscribe/{recipient_id}")

    events = SubscriptionEvent.objects.filter(recipient_id=recipient_id)
    assert [event.kind for event in events] == ["subscribe", "unsubscribe"]
    for event in events:
        assert event.source == "API"
        assert event.details.items() >= REST_EVENT_DETAILS.items()


def test_other_console_recipient_is_404(api, django_user_model):
    from lists.models import Account

    other = Account.objects.create(console_id=5678, name="Other S.r.l.")
    stranger = Recipient.objects.create(account=other, email="stranger@example.com")

    assert_envelope(api.delete(f"/List/1/Unsubscribe/{stranger.pk}"), 404, "NotFound")
    assert_envelope(api.put("/Recipient/Detail", json={"idRecipient": stranger.pk}), 404, "NotFound")


def test_group_recipients_listing(api, demo):
    clienti = group_id(demo, "Clienti")
    member = add(api, f"/Group/{clienti}/Recipient", {"Email": "in-group@example.com"})
    add(api, "/List/1/Recipient", {"Email": "not-in-group@example.com"})

    body = api.get(f"/Group/{clienti}/Recipients").json()
    assert [item["idRecipient"] for item in body["Items"]] == [member]
    assert body["TotalElementsCount"] == 1


def test_remove_from_all_lists(api, demo):
    recipient_id = add(api, "/List/1/Recipient", {"Email": "everywhere@example.com"})
    add(api, "/List/2/Recipient", {"Email": "everywhere@example.com"})

    response = api.delete(f"/Recipients/{recipient_id}")
    assert response.status_code == 200
    assert response.content == b""
    assert not Subscription.objects.filter(recipient_id=recipient_id).exists()
    assert_envelope(api.delete("/Recipients/999999"), 404, "NotFound")


def test_force_subscribe_known_recipient(api):
    recipient_id = add(api, "/List/1/Recipient", {"Email": "force@example.com"})
    api.delete(f"/List/1/Unsubscribe/{recipient_id}")

    response = api.post(f"/List/1/Subscribe/{recipient_id}")
    assert response.status_code == 200
    assert response.content == b""
    assert subscription("force@example.com").status == Status.SUBSCRIBED

    response = api.post(f"/List/2/Subscribe/{recipient_id}")
    assert response.status_code == 200
    assert subscription("force@example.com", list_id=2).status == Status.SUBSCRIBED


def test_force_subscribe_after_bounce_is_400(api):
    recipient_id = add(api, "/List/1/Recipient", {"Email": "bounced@example.com"})
    Subscription.objects.filter(recipient_id=recipient_id).update(status=Status.UNSUBSCRIBED, optout_reason="80")

    assert_envelope(api.post(f"/List/1/Subscribe/{recipient_id}"), 400, "BadRequest")
    assert subscription("bounced@example.com").status == Status.UNSUBSCRIBED


def test_add_to_group_and_list_groups(api, demo):
    prospect = group_id(demo, "Prospect")
    recipient_id = add(api, "/List/1/Recipient", {"Email": "grouped@example.com"})

    response = api.post(f"/Group/{prospect}/Subscribe/{recipient_id}")
    assert response.status_code == 200
    assert response.content == b""

    body = api.get(f"/List/1/Recipient/{recipient_id}/Groups").json()
    assert [item["idGroup"] for item in body["Items"]] == [prospect]
    assert body["Items"][0]["Name"] == "Prospect"
