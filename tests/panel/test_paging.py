"""Every panel table whose rows grow with use shows one page of rows and a link to the next page.

The page size is set to 1 so that two rows of each kind make two pages.
"""

import re

import pytest
from django.utils import timezone
from oauth2_provider.models import get_application_model

from integrations import sso
from integrations.models import ImportFile, PostOperation, PostOperationRun, UnsubscribeExport, Webhook, WebhookDelivery
from lists import account_settings, services
from lists.models import Group, Source
from panel import paging
from sending import services as sending_services
from sending.models import Delivery, SinkMessage
from sending.transactional import create_smtp_user
from tests.panel.conftest import make_member
from tests.panel.test_recipients import subscribe

pytestmark = pytest.mark.django_db

# Each page and the prefix of its `after` parameter.
PAGED_TABLES = [
    ("/console/lists", ""),
    ("/console/lists/1", ""),
    ("/console/lists/1/recipients", ""),
    ("/console/lists/1/filters", ""),
    ("/console/lists/1/import", ""),
    ("/console/messages", ""),
    ("/console/messages/{message_id}", ""),
    ("/console/sendings", ""),
    ("/console/recipients/{recipient_id}", "events_"),
    ("/console/recipients/{recipient_id}", "deliveries_"),
    ("/console/inbox", ""),
    ("/console/webhooks/log", ""),
    ("/console/settings/frontend", ""),
    ("/console/settings/users", ""),
    ("/console/settings/oauth", ""),
    ("/console/settings/smtp", ""),
    ("/console/settings/ftp", ""),
    ("/console/settings/ftp", "exports_"),
    ("/console/settings/rules", "webhooks_"),
    ("/console/settings/rules", "post_operations_"),
    ("/console/settings/rules", "runs_"),
]


@pytest.fixture
def two_of_each(demo_account):
    """At least two rows for every table in PAGED_TABLES, all in console 1234."""
    first_list = demo_account.lists.get(list_id=1)
    Group.objects.create(list=first_list, name="Second group")
    for number in range(2):
        sending_services.save_filter(first_list, f"Filter {number}", [{"field": "email", "operator": "is_not_empty"}])
        ImportFile.objects.create(account=demo_account, list=first_list, name=f"upload{number}.csv", path="/x", sha256=f"{number}" * 64, size=1)
        UnsubscribeExport.objects.create(list=first_list, until=timezone.now(), trigger="manual", file_name=f"export{number}.csv")
        SinkMessage.objects.create(
            peer_ip="127.0.0.10", peer_port=1, rcpt_to=[f"inbox{number}@example.com"], subject=f"Inbox {number}",
            account_console_id=1234, size=1, raw=b"x",
        )  # fmt: skip
        webhook = Webhook.objects.create(account=demo_account, event="Subscribe", sources=["API"], url=f"http://127.0.0.1:9/hook{number}")
        WebhookDelivery.objects.create(webhook=webhook, status="failed", next_attempt_at=timezone.now())
        post_operation = PostOperation.objects.create(account=demo_account, event="Subscribe", sources=["API"])
        PostOperationRun.objects.create(post_operation=post_operation)
        account_settings.allow_frontend_address(demo_account, f"127.0.0.{200 + number}")
    create_smtp_user(first_list)
    make_member(demo_account, "second-member", "viewer")
    owner = demo_account.members.get(user__username="m1234").user
    if get_application_model().objects.filter(user=owner).count() < 2:
        sso.create_oauth_client(demo_account, owner, "Second client")

    recipient = subscribe(demo_account, "paged@example.com")
    subscribe(demo_account, "other@example.com")
    services.unsubscribe(demo_account, first_list, services.Contact(email="paged@example.com"), Source.API)
    message = sending_services.create_message(first_list, "Paged subject", html="<p>paged</p>")
    sending_services.create_message(first_list, "Second subject", html="<p>second</p>")
    for _ in range(2):
        sending = sending_services.queue_sending(message, scheduled_at=None)
        Delivery.objects.create(sending=sending, recipient=recipient, to_email=recipient.email)
    return {"message_id": message.pk, "recipient_id": recipient.pk}


@pytest.mark.parametrize("url, prefix", PAGED_TABLES)
def test_table_pages(admin, two_of_each, monkeypatch, url, prefix):
    monkeypatch.setattr(paging, "PAGE_SIZE", 1)
    url = url.format(**two_of_each)

    first = admin.get(url)
    link = re.search(rf'href="\?(?:[^"]*&amp;)?{prefix}after=(\d+)" rel="next"', first.content.decode())
    second = admin.get(url, {f"{prefix}after": link.group(1)}) if link else None

    assert first.status_code == 200
    assert link, f"{url} shows no next-page link for {prefix}after"
    assert second.status_code == 200
    assert f"{prefix}before=" in second.content.decode()


MALFORMED_POSITIONS = ["-1", "0", "abc", "1e3", " 7", "²", "①", "99999999999999999999", "999999999999999999", "9223372036854775808"]


@pytest.mark.parametrize("url, prefix", PAGED_TABLES)
def test_malformed_positions_show_a_page(viewer, two_of_each, monkeypatch, url, prefix):
    monkeypatch.setattr(paging, "PAGE_SIZE", 1)
    url = url.format(**two_of_each)
    # A viewer may not open every page, because the import page is for
    # editors. A malformed position must not change the status code.
    expected = viewer.get(url).status_code

    for value in MALFORMED_POSITIONS:
        for name in (f"{prefix}after", f"{prefix}before"):
            response = viewer.get(url, {name: value})
            assert response.status_code == expected, (name, value)
    repeated = viewer.get(f"{url}?{prefix}after=1&{prefix}after=x&{prefix}before=2&{prefix}before=%C2%B2")
    assert repeated.status_code == expected
