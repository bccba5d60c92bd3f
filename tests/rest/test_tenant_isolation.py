"""Every ConsoleService and transactional SMS route, called by console 1234 with the ids of console 5678, changes nothing there."""

import base64
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import Import
from lists import rest_urls as lists_rest_urls
from lists.demo import DEMO_CONSOLE_PASSWORD
from lists.models import Account, Group, GroupMembership, List, Recipient, Subscription, SubscriptionEvent
from sending import rest_urls as sending_rest_urls
from sending import services as sending_services
from sending.models import Attachment, Image, Message, Sending, SinkSms, SmsMessage, SmsSending, SmtpUser, Tag, Template

OTHER_LIST_ID = 9


@pytest.fixture
def other_console(demo):
    """Console 5678 with list 9 (a number the demo console lacks), one group and one subscribed recipient."""
    account = Account.objects.create(console_id=5678, name="Other S.r.l.")
    mailing_list = List.objects.create(
        account=account,
        list_id=OTHER_LIST_ID,
        name="Other news",
        sender_name="Other",
        sender_email="n@other.example",
        sms_list_secret="56780000-0000-4000-8000-000000000009",
    )
    group = Group.objects.create(list=mailing_list, name="Other group")
    recipient = Recipient.objects.create(
        account=account, email="stranger@other.example", mobile_prefix="0039", mobile_number="3330000009", fields={"1": "Stranger"}
    )
    Subscription.objects.create(recipient=recipient, list=mailing_list, status="subscribed", source="API")
    Subscription.objects.create(recipient=recipient, list=mailing_list, channel="sms", status="subscribed", source="API")
    GroupMembership.objects.create(group=group, recipient=recipient)
    job = Import.objects.create(account=account, list=mailing_list, kind=Import.Kind.REST)
    message = sending_services.create_message(mailing_list, "Other news", html="<p>Hi</p>", tags=["other"])
    sending_services.add_attachment(message, "other.pdf", b"%PDF other", slot=1)
    sending = Sending.objects.create(message=message, list=mailing_list, status=Sending.Status.CANCELLED)
    template = Template.objects.create(account=account, title="Other template", html="<p>T</p>")
    sms = SmsMessage.objects.create(list=mailing_list, subject="Other SMS", text="Other SMS")
    # One SMS sending in each REST SMS queue: due, scheduled for later, paused.
    for status, days in (("scheduled", -1), ("scheduled", 2), ("paused", None)):
        scheduled_at = timezone.now() + timedelta(days=days) if days else None
        SmsSending.objects.create(message=sms, list=mailing_list, status=status, scheduled_at=scheduled_at)
    Image.objects.create(account=account, name="other.png", content_type="image/png", data=b"png")
    return {
        "account": account,
        "list_id": OTHER_LIST_ID,
        "group_id": group.pk,
        "recipient_id": recipient.pk,
        "import_id": job.pk,
        "message_id": message.pk,
        "sending_id": sending.pk,
        "tag_id": Tag.objects.get(list=mailing_list).pk,
        "template_id": template.pk,
        "sms_message_id": sms.pk,
        "flag": "true",
        "slot": 1,
    }


def snapshot(account):
    return {
        "subscriptions": list(Subscription.objects.filter(list__account=account).values_list("pk", "status")),
        "memberships": list(GroupMembership.objects.filter(group__list__account=account).values_list("pk")),
        "groups": list(Group.objects.filter(list__account=account).values_list("pk", "name")),
        "recipients": list(Recipient.objects.filter(account=account).values_list("pk", "email", "fields")),
        "events": SubscriptionEvent.objects.filter(account=account).count(),
        "messages": list(Message.objects.filter(list__account=account).values_list("pk", "subject", "tags")),
        "sendings": list(Sending.objects.filter(list__account=account).values_list("pk", "status")),
        "tags": list(Tag.objects.filter(list__account=account).values_list("pk", "name", "enabled")),
        "sms": list(SmsMessage.objects.filter(list__account=account).values_list("pk", "text")),
        "sms_sendings": list(
            SmsSending.objects.filter(list__account=account).values_list("pk", "status", "scheduled_at", "sent")
        ),
        "images": Image.objects.filter(account=account).count(),
        "attachments": list(
            Attachment.objects.filter(message__list__account=account).values_list("pk", "slot", "filename", "size")
        ),
        "smtp_users": SmtpUser.objects.filter(account=account).count(),
        "list_secrets": list(List.objects.filter(account=account).values_list("pk", "sms_list_secret")),
        "sink_sms": SinkSms.objects.filter(account_console_id=account.console_id).count(),
    }


def routes_with_ids():
    for pattern in [*lists_rest_urls.urlpatterns, *sending_rest_urls.urlpatterns]:
        route = str(pattern.pattern)
        if "<" in route:
            yield route, sorted(pattern.callback.handlers)


def foreign_path(route, ids):
    """Fill a route's ids with the other console's; SMS routes name SMS messages, not e-mail ones."""
    if route.startswith("console/sms/"):
        ids = {**ids, "message_id": ids["sms_message_id"]}
    path = re.sub(r"<(?:id|int|str):(\w+)>", lambda match: str(ids[match.group(1)]), route)
    return path.removeprefix("console")


def test_every_route_with_foreign_ids(api, other_console):
    before = snapshot(other_console["account"])
    body = {"Email": "intruder@example.com", "Name": "Intruder", "Notes": "", "Fields": [{"Id": 1, "Value": "x"}]}

    walked = 0
    for route, methods in routes_with_ids():
        path = foreign_path(route, other_console)
        for method in methods:
            response = api.call(method.upper(), path, json=body)
            assert response.status_code in (401, 403, 404), f"{method.upper()} {path}: {response.status_code}"
            walked += 1

    assert walked >= 50
    assert snapshot(other_console["account"]) == before


def test_detail_update_with_foreign_id(api, other_console):
    before = snapshot(other_console["account"])
    response = api.put("/Recipient/Detail", json={"idRecipient": other_console["recipient_id"], "Fields": []})
    assert response.status_code == 404
    assert snapshot(other_console["account"]) == before


@pytest.mark.parametrize(
    "path",
    [
        "/List",
        "/User/Lists",
        "/Recipient/DynamicFields",
        "/Sms/Sendings/Immediate",
        "/Sms/Sendings/Deferred",
        "/Sms/Sendings/Undefined",
    ],
)
def test_collections_show_own_console_only(api, other_console, path):
    text = api.get(path + "?pageSize=100").text
    assert "Other" not in text
    assert "stranger" not in text


def test_transactional_sms_routes_with_foreign_ids(http, other_console):
    """The ListSecret calls of console 1234 and SMS sends with 1234's credentials cannot reach list 9 of console 5678."""
    before = snapshot(other_console["account"])
    demo_basic = "Basic " + base64.b64encode(f"m1234:{DEMO_CONSOLE_PASSWORD}".encode()).decode()
    demo_secret = http.post("/api/v2.0/lists/1/listsecret", headers={"Authorization": demo_basic}).json()["ListSecret"]
    demo_guid = str(List.objects.get(account__console_id=1234, list_id=1).guid)
    sms = {"Content": "x", "ListGuid": demo_guid, "ListSecret": demo_secret, "Recipient": "+393330000009", "Sender": "X"}

    for method in ("GET", "POST", "DELETE"):
        response = http.request(method, f"/api/v2.0/lists/{OTHER_LIST_ID}/listsecret", headers={"Authorization": demo_basic})
        assert response.status_code in (401, 403, 404), f"{method} listsecret: {response.status_code}"
    for path in (f"/api/v2.0/sms/5678/{OTHER_LIST_ID}", f"/api/v2.0/sms/1234/{OTHER_LIST_ID}"):
        response = http.post(path, json=sms)
        assert response.status_code in (401, 403, 404), f"POST {path}: {response.status_code}"

    assert snapshot(other_console["account"]) == before
