"""Every panel URL, opened by a viewer of another console: no page shows or changes console 1234's data.

The walk reads the URL patterns, so a view added later is covered without
editing this file. Ids in the paths are console 1234's real objects, and
list ids use list 2, which console 5678 does not have.
"""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from lists.models import Group, Recipient, Subscription
from sending import services as sending_services
from sending.models import Message, SinkMessage
from tests.panel.conftest import client_for, make_member
from integrations.models import ImportFile, PostOperation, Webhook, WebhookDelivery
from lists.models import AccountUser, AllowedAddress
from oauth2_provider.models import get_application_model

pytestmark = pytest.mark.django_db

# Pages that only show the visitor's own console or the login form.
OWN_CONSOLE_PAGES = {"login", "logout", "dashboard", "list_index", "list_create", "message_index", "message_create",
                     "sending_index", "inbox_index", "sms_inbox", "webhook_log", "reset_test_data", "settings_index",
                     "frontend_settings", "frontend_address_add", "frontend_restriction", "user_settings", "user_add", "web_service_password",
                     "oauth_settings", "oauth_client_add", "smtp_settings", "smtp_user_add", "ftp_settings", "ftp_settings_save", "ftp_password",
                     "dkim_settings", "dkim_keys_create", "rule_index", "webhook_create", "post_operation_create",
                     "relay_settings", "ip_pool_create", "warmup_create", "isp_rule_create"}  # fmt: skip


def panel_patterns():
    resolver = get_resolver()
    [panel] = [entry for entry in resolver.url_patterns if isinstance(entry, URLResolver) and entry.namespace == "panel"]
    return [entry for entry in panel.url_patterns if isinstance(entry, URLPattern)]


@pytest.fixture
def demo_objects(demo_account):
    """One object of each kind in console 1234, keyed by the URL parameter that names it."""
    mailing_list = demo_account.lists.get(list_id=2)
    recipient = Recipient.objects.create(account=demo_account, email="private@example.com")
    Subscription.objects.create(recipient=recipient, list=mailing_list, status="subscribed", source="API")
    message = sending_services.create_message(mailing_list, "Private subject", html="<p>private</p>")
    sending = sending_services.queue_sending(message, scheduled_at=None)
    sink_message = SinkMessage.objects.create(
        peer_ip="127.0.0.10", peer_port=1, rcpt_to=["private@example.com"], subject="Private subject",
        account_console_id=1234, size=1, raw=b"x",
    )  # fmt: skip
    upload = ImportFile.objects.create(account=demo_account, list=mailing_list, name="private.csv", path="/x", sha256="0" * 64, size=1)
    webhook = Webhook.objects.create(account=demo_account, event="Subscribe", sources=["API"], url="http://127.0.0.1:9/private")
    delivery = WebhookDelivery.objects.create(webhook=webhook, status="failed", next_attempt_at=sending.created_at)
    post_operation = PostOperation.objects.create(account=demo_account, event="Subscribe", sources=["API"])
    post_operation.subscribe_to.set([mailing_list])
    saved_filter = sending_services.save_filter(mailing_list, "Private filter", [{"field": "email", "operator": "is_not_empty"}])
    sms = sending_services.create_sms_message(mailing_list, "Private SMS text", subject="Private SMS")
    return {
        "list_id": mailing_list.list_id,
        "group_id": Group.objects.get(list=mailing_list).pk,
        "recipient_id": recipient.pk,
        "message_id": message.pk,
        "sending_id": sending.pk,
        "import_id": upload.pk,
        "address_id": AllowedAddress.objects.filter(web_service__account=demo_account).first().pk,
        "member_id": demo_account.members.get(user__username="m1234").pk,
        "client_pk": get_application_model().objects.get(user__username="m1234").pk,
        "webhook_id": webhook.pk,
        "delivery_id": delivery.pk,
        "post_operation_id": post_operation.pk,
        "filter_id": saved_filter.pk,
        "_sink_id": sink_message.pk,
        "_sms_id": sms.pk,
    }


def fill(pattern, objects):
    route = str(pattern.pattern)
    for name, value in objects.items():
        route = route.replace(f"<int:{name}>", str(value))
    if "inbox/<int:message_id>" in str(pattern.pattern):
        route = str(pattern.pattern).replace("<int:message_id>", str(objects["_sink_id"]))
    if str(pattern.pattern).startswith("sms/<int:message_id>"):
        route = str(pattern.pattern).replace("<int:message_id>", str(objects["_sms_id"]))
    return "/console/" + route


def test_walk_finds_every_view():
    names = {pattern.name for pattern in panel_patterns()}

    assert {"list_detail", "recipient_detail", "inbox_detail", "sending_detail", "import_detail"} <= names


def walk_object_pages(client, objects, allowed_statuses):
    """GET and POST every page that names an object of console 1234; return those that answered or leaked."""
    leaked = []
    for pattern in panel_patterns():
        if pattern.name in OWN_CONSOLE_PAGES:
            continue
        url = fill(pattern, objects)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            body = response.content.decode(errors="replace") if not response.streaming else ""
            if response.status_code not in allowed_statuses or "private" in body.lower():
                leaked.append(f"{method.upper()} {url} -> {response.status_code}")
    return leaked


def test_other_console_viewer_reaches_nothing(outsider, demo_objects):
    leaked = walk_object_pages(outsider, demo_objects, (403, 404, 405))

    assert not leaked, f"Another console's viewer reached: {leaked}"


def test_other_console_admin_reaches_nothing(other_account, demo_objects):
    admin = client_for(make_member(other_account, "admin5678", AccountUser.Role.ADMIN))

    leaked = walk_object_pages(admin, demo_objects, (404, 405))

    assert not leaked, f"Another console's administrator reached: {leaked}"
    assert Webhook.objects.filter(pk=demo_objects["webhook_id"]).exists()
    assert AllowedAddress.objects.filter(pk=demo_objects["address_id"]).exists()
    assert get_application_model().objects.filter(pk=demo_objects["client_pk"]).exists()
    assert WebhookDelivery.objects.get(pk=demo_objects["delivery_id"]).status == "failed"


def test_own_console_pages_hide_other_console(outsider, demo_objects):
    for pattern in panel_patterns():
        if pattern.name not in OWN_CONSOLE_PAGES or pattern.name in ("logout", "reset_test_data"):
            continue
        response = outsider.get(fill(pattern, demo_objects))
        body = response.content.decode(errors="replace")

        assert "Private subject" not in body, pattern.name
        assert "private@example.com" not in body, pattern.name


def test_post_without_csrf_token_is_rejected(demo_account, demo_objects):
    client = Client(enforce_csrf_checks=True)
    client.force_login(demo_account.members.get(user__username="m1234").user)
    posts = [pattern for pattern in panel_patterns() if pattern.name not in ("login",)]

    statuses = {pattern.name: client.post(fill(pattern, demo_objects)).status_code for pattern in posts}

    accepted = {name: status for name, status in statuses.items() if status not in (403, 405)}
    assert not accepted, f"POST without a CSRF token was not rejected: {accepted}"


def test_viewer_posts_are_forbidden(viewer, demo_objects):
    read_only = {"login", "logout", "target_count", "import_status"}
    changed = []
    for pattern in panel_patterns():
        if pattern.name in read_only:
            continue
        status = viewer.post(fill(pattern, demo_objects)).status_code
        if status not in (403, 405):
            changed.append(f"{pattern.name} -> {status}")

    assert not changed, f"A viewer could POST to: {changed}"
    assert Message.objects.count() == 1
