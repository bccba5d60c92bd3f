"""POST …/Recipients imports an array in the background and returns an import id; GET Import/{id} reports it."""

import pytest
from django.db import transaction

from integrations.models import Import
from lists import services
from lists.models import GroupMembership, Recipient, Source, Subscription, SubscriptionEvent
from sending import services as sending_services
from sending.models import Sending, SystemMail
from tests.personas import demo_list
from tests.rest.conftest import assert_envelope

Status = Subscription.Status


def status_of(email, list_id=1):
    return Subscription.objects.get(recipient__email=email, list=demo_list(list_id), channel="email").status


def bounce(email):
    mailing_list = demo_list()
    contact = services.Contact(email=email)
    request = services.SubscribeRequest(
        account=mailing_list.account, lists=[mailing_list], contact=contact, source=Source.API, confirm=False
    )
    services.subscribe(request)
    services.unsubscribe(mailing_list.account, mailing_list, contact, Source.BOUNCE, "80")


def test_list_import_returns_id_and_status(api):
    recipients = [
        {"Name": "", "Email": "anna@example.com", "Fields": [{"Id": 1, "Value": "Anna"}]},
        {"Email": "bruno@example.com"},
        {"Email": "not-an-address"},
    ]
    response = api.post("/List/1/Recipients", json=recipients)

    assert response.status_code == 200
    import_id = response.json()
    assert isinstance(import_id, int)
    status = api.get(f"/Import/{import_id}").json()
    assert status == {
        "idImport": import_id,
        "Completed": True,
        "CreatedRecipients": 2,
        "ImportedRecipients": 2,
        "NotValidRecipients": 1,
        "UpdatedRecipients": 0,
        "ValidRecipients": 2,
    }
    assert Recipient.objects.get(email="anna@example.com").fields == {"1": "Anna"}
    assert status_of("bruno@example.com") == Status.SUBSCRIBED


def test_existing_recipient_counts_as_updated(api):
    api.post("/List/1/Recipients", json=[{"Email": "anna@example.com"}])

    import_id = api.post("/List/1/Recipients", json=[{"Email": "anna@example.com"}]).json()

    status = api.get(f"/Import/{import_id}").json()
    assert status["CreatedRecipients"] == 0
    assert status["UpdatedRecipients"] == 1


def test_group_import_adds_to_group(api):
    group = demo_list().groups.first()
    response = api.post(f"/Group/{group.pk}/Recipients", json=[{"Email": "anna@example.com"}])

    assert response.status_code == 200
    assert GroupMembership.objects.filter(group=group, recipient__email="anna@example.com").exists()


def test_remove_from_prev_groups(api):
    first, second = demo_list().groups.all()[:2]
    api.post(f"/Group/{first.pk}/Recipients", json=[{"Email": "anna@example.com"}])

    api.post(f"/Group/{second.pk}/Recipients?removeFromPrevGroups=true", json=[{"Email": "anna@example.com"}])

    groups = set(GroupMembership.objects.filter(recipient__email="anna@example.com").values_list("group_id", flat=True))
    assert groups == {second.pk}


def test_as_optout_unsubscribes_existing(api):
    api.post("/List/1/Recipients", json=[{"Email": "anna@example.com"}])

    api.post("/List/1/Recipients?importType=asOptout", json=[{"Email": "anna@example.com"}])

    assert status_of("anna@example.com") == Status.UNSUBSCRIBED


def test_as_optin_never_reverses_bounce(api):
    bounce("bounced@example.com")

    import_id = api.post("/List/1/Recipients?importType=asOptin", json=[{"Email": "bounced@example.com"}]).json()

    assert api.get(f"/Import/{import_id}").json()["NotValidRecipients"] == 1
    assert status_of("bounced@example.com") == Status.UNSUBSCRIBED
    assert "reason 80" in Import.objects.get(pk=import_id).rejections[0][2]


def test_confirm_email_makes_new_pending(api, sink):
    import_id = api.post("/List/1/Recipients?ConfirmEmail=true", json=[{"Email": "anna@example.com"}]).json()

    assert status_of("anna@example.com") == Status.PENDING
    # The requests wait in the import's sending until the client starts it.
    assert SystemMail.objects.get().status == SystemMail.Status.HELD
    sending_id = api.get(f"/Import/{import_id}/Sending").json()
    assert api.post(f"/Email/Sendings/{sending_id}/Immediate").status_code == 200
    [request] = sink.wait_for(1)
    assert request.rcpt_to == ["anna@example.com"]


def test_import_sending_waits_in_undefined_queue(api):
    import_id = api.post("/List/1/Recipients?ConfirmEmail=true", json=[{"Email": "anna@example.com"}]).json()

    sending_id = api.get(f"/import/{import_id}/SENDING").json()
    queue = api.get("/Email/Sendings/Undefined").json()["Items"]
    assert [item["Id"] for item in queue] == [sending_id]
    assert Sending.objects.get(pk=sending_id).kind == Sending.Kind.CONFIRMATION


def test_started_import_sending_is_done(api, sink):
    import_id = api.post("/List/1/Recipients?ConfirmEmail=true", json=[{"Email": "anna@example.com"}]).json()
    sending_id = api.get(f"/Import/{import_id}/Sending").json()
    api.post(f"/Email/Sendings/{sending_id}/Immediate")
    sink.wait_for(1)

    assert Sending.objects.get(pk=sending_id).status == Sending.Status.DONE
    assert_envelope(api.post(f"/Email/Sendings/{sending_id}/Immediate"), 400, "BadRequest")


def test_import_without_confirmation_has_no_sending(api):
    import_id = api.post("/List/1/Recipients", json=[{"Email": "anna@example.com"}]).json()

    assert_envelope(api.get(f"/Import/{import_id}/Sending"), 404, "NotFound")
    assert not Sending.objects.exists()


def test_unknown_import_sending_is_404(api):
    assert_envelope(api.get("/Import/999999/Sending"), 404, "NotFound")


def test_clear_missing_or_empty_fields(api):
    api.post("/List/1/Recipients", json=[{"Email": "anna@example.com", "Fields": [{"Id": 1, "Value": "Anna"}]}])

    api.post("/List/1/Recipients", json=[{"Email": "anna@example.com", "Fields": [{"Id": 2, "Value": ""}]}])
    kept = Recipient.objects.get(email="anna@example.com").fields
    api.post("/List/1/Recipients?clearMissingOrEmptyFields=true", json=[{"Email": "anna@example.com"}])
    cleared = Recipient.objects.get(email="anna@example.com").fields

    assert kept == {"1": "Anna"}
    assert cleared["1"] == ""


def test_bulk_import_fires_no_webhook_events_as_api(api):
    api.post("/List/1/Recipients", json=[{"Email": "anna@example.com"}])

    sources = set(SubscriptionEvent.objects.values_list("source", flat=True))
    details = SubscriptionEvent.objects.get().details
    assert sources == {Source.IMPORT}
    assert details["interface"] == "bulk_import"


def test_imports_are_paged(api):
    api.post("/List/1/Recipients", json=[{"Email": "anna@example.com"}])
    api.post("/List/1/Recipients", json=[{"Email": "bruno@example.com"}])

    page = api.get("/Imports?pageSize=1").json()

    assert page["TotalElementsCount"] == 2
    assert len(page["Items"]) == 1


@pytest.mark.parametrize(
    "body",
    [b"{}", b'"text"', b"[1, 2", b"[]", b"\xff\xfe"],
    ids=["object", "string", "truncated", "empty", "not-utf8"],
)
def test_bad_body_is_400_and_changes_nothing(api, body):
    response = api.post("/List/1/Recipients", data=body)

    assert_envelope(response, 400, "BadRequest")
    assert not Import.objects.exists()
    assert not Recipient.objects.exists()


def test_bad_items_are_not_valid(api):
    items = [{"Email": 12}, "text", {"Email": "a@example.com", "Fields": [{"Id": 99, "Value": "x"}]}, {"Name": "x"}]

    import_id = api.post("/List/1/Recipients", json=items).json()

    status = api.get(f"/Import/{import_id}").json()
    assert status["NotValidRecipients"] == 4
    assert not Recipient.objects.exists()


def test_non_text_field_value_is_not_valid(api):
    items = [
        {"Email": "anna@example.com", "Fields": [{"Id": 1, "Value": ["a"]}]},
        {"Email": "bruno@example.com", "Fields": [{"Id": 2, "Value": {"a": 1}}]},
        {"Email": "carla@example.com", "Fields": [{"Id": 3, "Value": 7}]},
    ]

    import_id = api.post("/List/1/Recipients", json=items).json()

    status = api.get(f"/Import/{import_id}").json()
    assert status["NotValidRecipients"] == 2
    assert status["CreatedRecipients"] == 1
    rejections = Import.objects.get(pk=import_id).rejections
    assert "Fields Id 1" in rejections[0][2]
    assert "Fields Id 2" in rejections[1][2]
    assert list(Recipient.objects.values_list("email", flat=True)) == ["carla@example.com"]
    assert Recipient.objects.get().fields == {"3": "7"}


def test_unknown_import_type_is_400(api):
    response = api.post("/List/1/Recipients?importType=maybe", json=[{"Email": "a@example.com"}])

    assert_envelope(response, 400, "BadRequest")


def test_other_console_import_is_404(api, demo):
    from lists.models import Account, List

    other = Account.objects.create(console_id=5678, name="Other")
    other_list = List.objects.create(account=other, list_id=1, name="x", sender_name="x", sender_email="x@example.com")
    job = Import.objects.create(account=other, list=other_list, kind=Import.Kind.REST)

    assert_envelope(api.get(f"/Import/{job.pk}"), 404, "NotFound")


def test_sms_import_subscribes_mobile_only(api):
    items = [{"Email": "anna@example.com", "MobilePrefix": "+39", "MobileNumber": "3331234567"}, {"Email": "b@example.com"}]

    import_id = api.post("/Sms/List/1/Recipients", json=items).json()

    status = api.get(f"/Import/{import_id}").json()
    assert status["CreatedRecipients"] == 1
    assert status["NotValidRecipients"] == 1
    channels = list(Subscription.objects.values_list("channel", flat=True))
    assert channels == ["sms"]


def test_request_after_start_is_queued(demo, sink):
    mailing_list = demo_list()
    sending = sending_services.create_confirmation_sending(mailing_list)
    sending_services.release_confirmations(sending)
    recipient = Recipient.objects.create(account=mailing_list.account, email="late@example.com")

    with transaction.atomic():
        locked = sending_services.lock_confirmation_sending(sending.pk)
        mail = sending_services.queue_confirmation_request(recipient, mailing_list, "token", sending=locked)

    assert mail.status == SystemMail.Status.QUEUED
    assert Sending.objects.get(pk=sending.pk).status == Sending.Status.DONE
    [request] = sink.wait_for(1)
    assert request.rcpt_to == ["late@example.com"]


def test_import_sending_waits_for_deferred_date(api):
    import_id = api.post("/List/1/Recipients?ConfirmEmail=true", json=[{"Email": "anna@example.com"}]).json()
    sending_id = api.get(f"/Import/{import_id}/Sending").json()

    response = api.post(f"/Email/Sendings/{sending_id}/Deferred", json={"Date": "2030-01-01 08:00:00"})

    assert response.status_code == 200
    assert Sending.objects.get(pk=sending_id).status == Sending.Status.SCHEDULED
    assert SystemMail.objects.get().status == SystemMail.Status.HELD


def test_stopped_confirmation_sending_withdraws_held_requests(api):
    import_id = api.post("/List/1/Recipients?ConfirmEmail=true", json=[{"Email": "anna@example.com"}]).json()
    sending = Sending.objects.get(pk=api.get(f"/Import/{import_id}/Sending").json())

    assert sending_services.stop_sending(sending) is True

    request = SystemMail.objects.get()
    assert request.status == SystemMail.Status.FAILED
    assert request.last_error == sending_services.STOPPED_ERROR
    assert sending_services.stop_sending(sending) is False


def test_released_request_link_is_valid_from_the_release(api):
    from django.core import signing

    import_id = api.post("/List/1/Recipients?ConfirmEmail=true", json=[{"Email": "anna@example.com"}]).json()
    sending = Sending.objects.get(pk=api.get(f"/Import/{import_id}/Sending").json())
    request = SystemMail.objects.get()
    ids = services.read_confirmation_token(request.context["token"])
    # As if the sending had waited past the list's link validity.
    expired = signing.dumps({"s": ids, "e": 1}, salt=services.CONFIRMATION_SALT, compress=True)
    SystemMail.objects.filter(pk=request.pk).update(context={"token": expired})

    with transaction.atomic():
        sending_services.release_confirmations(sending_services.lock_confirmation_sending(sending.pk))

    request.refresh_from_db()
    assert services.read_confirmation_token(request.context["token"]) == ids


def test_body_with_byte_order_mark_and_leading_space(api):
    body = b"\xef\xbb\xbf" + b" " * 5000 + b'[{"Email": "anna@example.com"}]'

    response = api.post("/List/1/Recipients", data=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 200, response.text
    assert api.get(f"/Import/{response.json()}").json()["ImportedRecipients"] == 1
