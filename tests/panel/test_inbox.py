from email.message import EmailMessage

import pytest
from django.utils import timezone

from integrations.models import Webhook, WebhookAttempt, WebhookDelivery
from sending.models import SinkMessage

pytestmark = pytest.mark.django_db


def capture(console_id, to, subject, html="<p>Ciao <b>Anna</b></p>"):
    """Store a message in the sink as if the SMTP sink had accepted it."""
    message = EmailMessage()
    message["From"] = "Demo <newsletter@demo.example>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Ciao Anna")
    message.add_alternative(html, subtype="html")
    raw = message.as_bytes()
    return SinkMessage.objects.create(
        peer_ip="127.0.0.10",
        peer_port=40000,
        helo="relay.localhost",
        mail_from="bounce@bounces.mailup-sim.localhost",
        rcpt_to=[to],
        rcpt_search=to,
        subject=subject,
        from_header=message["From"],
        to_header=to,
        account_console_id=console_id,
        size=len(raw),
        raw=raw,
        dkim_result="pass",
        dkim_domain="demo.example",
    )


def test_inbox_lists_only_own_messages(viewer, demo_account, other_account):
    capture(1234, "anna@example.com", "Offerta di dicembre")
    capture(5678, "zeno@example.com", "Other console mail")

    page = viewer.get("/console/inbox").content.decode()

    assert "Offerta di dicembre" in page
    assert "Other console mail" not in page


def test_inbox_search_by_recipient(viewer, demo_account):
    capture(1234, "anna@example.com", "Per Anna")
    capture(1234, "bruno@example.com", "Per Bruno")

    page = viewer.get("/console/inbox?q=bruno").content.decode()

    assert "Per Bruno" in page
    assert "Per Anna" not in page


def test_inbox_search_with_nul_matches_nothing(viewer, demo_account):
    # PostgreSQL rejects NUL in a text parameter, so this was a 500 there.
    capture(1234, "anna@example.com", "Per Anna")

    response = viewer.get("/console/inbox", {"q": "anna\x00"})

    assert response.status_code == 200
    assert "Per Anna" not in response.content.decode()


@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "-1", "99999999999999999999999"])
def test_inbox_sending_filter_ignores_malformed_ids(viewer, demo_account, value):
    capture(1234, "anna@example.com", "Per Anna")

    response = viewer.get("/console/inbox", {"sending": value})

    assert response.status_code == 200
    assert "Per Anna" in response.content.decode()


def test_message_page_sandboxes_html(viewer, demo_account):
    message = capture(1234, "anna@example.com", "Sandbox", html="<p onclick=x>Ciao</p><script>alert(1)</script>")

    page = viewer.get(f"/console/inbox/{message.pk}").content.decode()

    assert 'sandbox=""' in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("tab,expected", [("text", "Ciao Anna"), ("headers", "newsletter@demo.example"), ("raw", "Content-Type: multipart/alternative")])
def test_message_tabs(viewer, demo_account, tab, expected):
    message = capture(1234, "anna@example.com", "Tabs")

    page = viewer.get(f"/console/inbox/{message.pk}?tab={tab}").content.decode()

    assert expected in page


def test_raw_download_is_exact_source(viewer, demo_account):
    message = capture(1234, "anna@example.com", "Raw")

    response = viewer.get(f"/console/inbox/{message.pk}/raw")

    assert response.content == bytes(message.raw)


def test_other_console_message_is_404(outsider, demo_account):
    message = capture(1234, "anna@example.com", "Private")

    assert outsider.get(f"/console/inbox/{message.pk}").status_code == 404
    assert outsider.get(f"/console/inbox/{message.pk}/raw").status_code == 404


def test_reset_removes_only_own_data(admin, viewer, demo_account, other_account):
    capture(1234, "anna@example.com", "Mine")
    theirs = capture(5678, "zeno@example.com", "Theirs")

    denied = viewer.post("/console/inbox/reset")
    admin.post("/console/inbox/reset")

    assert denied.status_code == 403
    assert list(SinkMessage.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_webhook_log_shows_attempts(viewer, demo_account):
    webhook = Webhook.objects.create(
        account=demo_account, event="Subscribe", sources=["API"], url="http://127.0.0.1:9/hook", parameters=[]
    )
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, parameters="email=anna%40example.com", status="failed", attempts=1, next_attempt_at=timezone.now()
    )
    WebhookAttempt.objects.create(
        delivery=delivery, started_at=timezone.now(), url=webhook.url, method="GET", error="Connection refused", duration_ms=3
    )

    page = viewer.get("/console/webhooks/log").content.decode()

    assert "http://127.0.0.1:9/hook" in page
    assert "Connection refused" in page
