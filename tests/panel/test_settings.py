"""Settings pages: administrators change them through the services, other roles only read them."""

import csv
import io
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from oauth2_provider.models import get_application_model

from integrations.models import FtpAccount, PostOperation, Webhook, WebhookDelivery
from lists.models import AccountUser, AllowedAddress, Recipient, Subscription
from sending import services as sending_services
from sending.models import DkimKey, IpPool, IspRule, SmtpUser, WarmupSchedule
from tests.panel.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def frontend_ips(account):
    return set(AllowedAddress.objects.filter(web_service__account=account).values_list("ip", flat=True))


# --- FrontEnd allow-list ------------------------------------------------------------


def test_admin_allows_and_removes_frontend_address(admin, demo_account):
    admin.post("/console/settings/frontend/add", {"ip": " 10.1.2.3 "})
    assert "10.1.2.3" in frontend_ips(demo_account)

    address = AllowedAddress.objects.get(ip="10.1.2.3")
    admin.post(f"/console/settings/frontend/{address.pk}/remove")
    assert "10.1.2.3" not in frontend_ips(demo_account)


def test_invalid_frontend_address_is_not_saved(admin, demo_account):
    before = frontend_ips(demo_account)

    response = admin.post("/console/settings/frontend/add", {"ip": "10.1.2"}, follow=True)

    assert frontend_ips(demo_account) == before
    assert "is not an IPv4 or IPv6 address" in response.content.decode()


def test_admin_switches_frontend_restriction_off(admin, demo_account):
    admin.post("/console/settings/frontend/restriction", {})
    demo_account.refresh_from_db()

    assert demo_account.frontend_ip_restricted is False


def test_editor_cannot_change_frontend_list(editor, demo_account):
    response = editor.post("/console/settings/frontend/add", {"ip": "10.9.9.9"})

    assert response.status_code == 403
    assert "10.9.9.9" not in frontend_ips(demo_account)


def test_viewer_reads_frontend_list_without_forms(viewer):
    response = viewer.get("/console/settings/frontend")
    body = response.content.decode()

    assert response.status_code == 200
    assert "127.0.0.1" in body or "No address allowed yet." in body
    assert "/console/settings/frontend/add" not in body


# --- Console users ----------------------------------------------------------------


def test_admin_adds_user_who_can_log_in(admin, demo_account, client):
    admin.post("/console/settings/users/add", {"username": "anna", "password": PASSWORD, "role": "editor"})

    member = AccountUser.objects.get(user__username="anna")
    assert member.account == demo_account
    assert member.role == "editor"
    assert client.login(username="anna", password=PASSWORD)


def test_weak_password_is_rejected_on_the_field(admin):
    response = admin.post("/console/settings/users/add", {"username": "anna", "password": "1234", "role": "viewer"})

    assert response.status_code == 200
    assert not get_user_model().objects.filter(username="anna").exists()
    assert response.context["form"].errors["password"]


def test_taken_username_is_rejected(admin):
    response = admin.post("/console/settings/users/add", {"username": "m1234", "password": PASSWORD, "role": "viewer"})

    assert "is already taken" in response.content.decode()


def test_admin_changes_role_and_removes_user(admin, viewer, demo_account):
    member = AccountUser.objects.get(user__username="viewer1234")

    admin.post(f"/console/settings/users/{member.pk}/role", {"role": "editor"})
    member.refresh_from_db()
    assert member.role == "editor"

    admin.post(f"/console/settings/users/{member.pk}/remove")
    assert not get_user_model().objects.filter(username="viewer1234").exists()


def test_owner_of_oauth_client_is_not_removed(admin, viewer, demo_account):
    member = AccountUser.objects.get(user__username="viewer1234")
    get_application_model().objects.create(
        name="Viewer's CRM", user=member.user, client_type="confidential", authorization_grant_type="password"
    )

    response = admin.post(f"/console/settings/users/{member.pk}/remove", follow=True)

    assert AccountUser.objects.filter(pk=member.pk).exists()
    assert "owns 1 OAuth clients" in response.content.decode()


def test_last_admin_keeps_admin_role(admin, demo_account):
    member = demo_account.members.get(user__username="m1234")

    response = admin.post(f"/console/settings/users/{member.pk}/role", {"role": "viewer"}, follow=True)
    admin.post(f"/console/settings/users/{member.pk}/remove")

    member.refresh_from_db()
    assert member.role == "admin"
    assert "at least one administrator" in response.content.decode()


def test_admin_changes_web_service_password(admin, demo_account):
    admin.post("/console/settings/users/web-service-password", {"password": "a-new-ws-password"})
    demo_account.refresh_from_db()

    assert demo_account.check_ws_password("a-new-ws-password")


def test_short_web_service_password_is_rejected(admin, demo_account):
    response = admin.post("/console/settings/users/web-service-password", {"password": "short"}, follow=True)
    demo_account.refresh_from_db()

    assert demo_account.check_ws_password("demo-ws-1234")
    assert "at least 10 characters" in response.content.decode()


# --- OAuth clients and SSO -------------------------------------------------------------


def test_admin_creates_client_and_sees_secret_once(admin):
    response = admin.post("/console/settings/oauth/add", {"name": "My CRM"})
    secret = response.context["secret"]
    application = get_application_model().objects.get(name="My CRM")

    assert secret in response.content.decode()
    assert application.user.username == "m1234"
    assert secret not in admin.get("/console/settings/oauth").content.decode()


def test_admin_switches_sso_on_and_off(admin):
    application = get_application_model().objects.get(user__username="m1234")

    admin.post(f"/console/settings/oauth/{application.pk}/sso", {"enabled": "on"})
    assert application.sso.enabled is True

    admin.post(f"/console/settings/oauth/{application.pk}/sso", {})
    application.sso.refresh_from_db()
    assert application.sso.enabled is False


def test_unowned_client_is_not_listed(admin):
    model = get_application_model()
    model.objects.create(name="Shared client", client_type="confidential", authorization_grant_type="password")

    assert "Shared client" not in admin.get("/console/settings/oauth").content.decode()


# --- SMTP+ users -------------------------------------------------------------------------


def test_admin_creates_smtp_user_and_sees_secret_once(admin, demo_account):
    response = admin.post("/console/settings/smtp/add", {"list": "2"})
    smtp_user = response.context["smtp_user"]
    secret = response.context["secret"]

    assert smtp_user.list.list_id == 2
    assert smtp_user.check_password(secret)
    assert secret in response.content.decode()
    assert secret not in admin.get("/console/settings/smtp").content.decode()


def test_smtp_user_of_unknown_list_is_not_created(admin, demo_account):
    before = SmtpUser.objects.count()

    admin.post("/console/settings/smtp/add", {"list": "99"})

    assert SmtpUser.objects.count() == before


def test_viewer_cannot_create_smtp_user(viewer):
    assert viewer.post("/console/settings/smtp/add", {"list": "1"}).status_code == 403


# --- FTP --------------------------------------------------------------------------


def test_admin_sets_export_time_and_full_import(admin, demo_account):
    admin.post("/console/settings/ftp/save", {"export_time": "04:30", "full_import": "on"})
    ftp_account = FtpAccount.objects.get(account=demo_account)

    assert ftp_account.export_time.strftime("%H:%M") == "04:30"
    assert ftp_account.full_import is True


def test_invalid_export_time_changes_nothing(admin, demo_account):
    admin.post("/console/settings/ftp/save", {"export_time": "25:00"})

    assert FtpAccount.objects.get(account=demo_account).export_time.strftime("%H:%M") == "02:00"


def test_admin_changes_ftp_password(admin, demo_account):
    admin.post("/console/settings/ftp/password", {"password": "a-new-ftp-password"})

    assert FtpAccount.objects.get(account=demo_account).check_password("a-new-ftp-password")


def test_ftp_page_shows_login_name(viewer):
    assert "ftp1234" in viewer.get("/console/settings/ftp").content.decode()


# --- DKIM and DNS -------------------------------------------------------------------


def test_dkim_page_shows_records_after_keys_exist(admin, demo_account):
    admin.post("/console/settings/dkim/create")
    response = admin.get("/console/settings/dkim")
    records = response.context["records"]
    domain = demo_account.lists.first().sender_email.rpartition("@")[2]
    rsa = DkimKey.objects.get(account=demo_account, algorithm="rsa-sha256")

    dkim = [record for record in records if record["name"] == f"{rsa.selector}._domainkey.{domain}"]
    assert dkim and dkim[0]["published"] is True
    assert dkim[0]["value"].startswith("v=DKIM1; k=rsa; p=")
    assert any(record["name"] == f"_dmarc.{domain}" for record in records)
    assert any(record["value"].startswith("v=spf1 ip4:127.0.0.") for record in records)


def test_viewer_cannot_create_dkim_keys(viewer, demo_account):
    DkimKey.objects.filter(account=demo_account).delete()

    assert viewer.post("/console/settings/dkim/create").status_code == 403
    assert not DkimKey.objects.filter(account=demo_account).exists()


# --- Webhooks and post-operations ------------------------------------------------------


def test_admin_creates_webhook_from_form(admin, demo_account):
    response = admin.post(
        "/console/settings/webhooks/new",
        {"event": "Subscribe", "sources": ["API", "Console"], "lists": ["1"], "method": "POST",
         "url": "http://127.0.0.1:9/hook", "parameters": "email=[email]\nlist=[IdList]", "active": "on"},
    )  # fmt: skip
    webhook = Webhook.objects.get(account=demo_account)

    assert response.status_code == 302
    assert webhook.parameters == [["email", "[email]"], ["list", "[IdList]"]]
    assert list(webhook.lists.values_list("list_id", flat=True)) == [1]


def test_webhook_edit_keeps_saved_key(admin, demo_account):
    webhook = Webhook.objects.create(
        account=demo_account, event="Subscribe", sources=["API"], url="http://127.0.0.1:9/a", encryption_key="k1"
    )

    admin.post(
        f"/console/settings/webhooks/{webhook.pk}",
        {"event": "Unsubscribe", "sources": ["API"], "method": "GET", "url": "http://127.0.0.1:9/b", "active": "on"},
    )
    webhook.refresh_from_db()

    assert webhook.event == "Unsubscribe"
    assert webhook.encryption_key == "k1"


def test_post_operation_needs_a_target_list(admin, demo_account):
    response = admin.post("/console/settings/post-operations/new", {"event": "Subscribe", "sources": ["API"]})

    assert response.status_code == 200
    assert not PostOperation.objects.filter(account=demo_account).exists()
    assert "subscribe_to" in response.context["form"].errors


def test_admin_creates_post_operation(admin, demo_account):
    admin.post(
        "/console/settings/post-operations/new",
        {"event": "Subscribe", "sources": ["API"], "subscribe_to": ["2"], "active": "on"},
    )
    post_operation = PostOperation.objects.get(account=demo_account)

    assert list(post_operation.subscribe_to.values_list("list_id", flat=True)) == [2]


def test_admin_replays_failed_webhook_call(admin, demo_account, django_capture_on_commit_callbacks):
    webhook = Webhook.objects.create(account=demo_account, event="Subscribe", sources=["API"], url="http://127.0.0.1:9/")
    delivery = WebhookDelivery.objects.create(webhook=webhook, status="failed", attempts=5, next_attempt_at=webhook.created_at)

    with django_capture_on_commit_callbacks():
        admin.post(f"/console/webhooks/log/{delivery.pk}/replay")
    delivery.refresh_from_db()

    assert delivery.status == "pending"
    assert delivery.attempts == 0


def test_delivered_webhook_call_is_not_replayed(admin, demo_account):
    webhook = Webhook.objects.create(account=demo_account, event="Subscribe", sources=["API"], url="http://127.0.0.1:9/")
    delivery = WebhookDelivery.objects.create(webhook=webhook, status="delivered", next_attempt_at=webhook.created_at)

    response = admin.post(f"/console/webhooks/log/{delivery.pk}/replay", follow=True)
    delivery.refresh_from_db()

    assert delivery.status == "delivered"
    assert "Si può ripetere solo una chiamata webhook fallita." in response.content.decode()


# --- Relay ------------------------------------------------------------------------------


def test_staff_admin_creates_pool_and_schedule(admin, demo_account):
    get_user_model().objects.filter(username="m1234").update(is_staff=True)

    admin.post("/console/settings/relay/pools", {"name": "fresh", "addresses": "127.0.0.40\n127.0.0.41"})
    admin.post("/console/settings/relay/warmup", {"name": "slow", "hourly_limits": "10, 20, 40"})

    assert sorted(IpPool.objects.get(name="fresh").addresses.values_list("address", flat=True)) == ["127.0.0.40", "127.0.0.41"]
    assert WarmupSchedule.objects.get(name="slow").hourly_limits == [10, 20, 40]


@pytest.mark.parametrize(
    "language, label, typed",
    [("it", "(GG/MM/AAAA)", "05/12/2026"), ("en", "(YYYY-MM-DD)", "2026-12-05")],
)
def test_warmup_date_reads_format_of_label(admin, demo_account, language, label, typed):
    get_user_model().objects.filter(username="m1234").update(is_staff=True)
    pool = sending_services.create_ip_pool("fresh", ["127.0.0.40"])
    schedule = sending_services.create_warmup_schedule("slow", [10, 20])
    page = admin.get("/console/settings/relay", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    rule = {"name": "warm", "pool": pool.pk, "priority": 0, "warmup": schedule.pk, "warmup_started_on": typed}

    response = admin.post("/console/settings/relay/rules", rule, HTTP_ACCEPT_LANGUAGE=language)

    assert label in page
    assert response.status_code == 302
    assert IspRule.objects.get(name="warm").warmup_started_on == date(2026, 12, 5)


def test_pool_outside_loopback_is_rejected(admin):
    get_user_model().objects.filter(username="m1234").update(is_staff=True)

    response = admin.post("/console/settings/relay/pools", {"name": "outside", "addresses": "192.0.2.1"})

    assert response.status_code == 200
    assert not IpPool.objects.filter(name="outside").exists()
    assert "127.0.0.0/8" in response.content.decode()


def test_admin_without_staff_cannot_change_relay(admin):
    response = admin.post("/console/settings/relay/pools", {"name": "fresh", "addresses": "127.0.0.40"})

    assert response.status_code == 403
    assert not IpPool.objects.filter(name="fresh").exists()


# --- Recipient export ----------------------------------------------------------------------


def test_recipient_csv_exports_filtered_list(viewer, demo_account):
    mailing_list = demo_account.lists.get(list_id=1)
    for email, status in (("in@example.com", "subscribed"), ("out@example.com", "unsubscribed")):
        recipient = Recipient.objects.create(account=demo_account, email=email, fields={"1": "Anna"})
        Subscription.objects.create(recipient=recipient, list=mailing_list, status=status, source="API")

    response = viewer.get("/console/lists/1/recipients.csv?status=subscribed")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert rows[0][:2] == ["email", "status"]
    emails = [row[0] for row in rows[1:]]
    assert "in@example.com" in emails
    assert "out@example.com" not in emails
    assert rows[emails.index("in@example.com") + 1][5] == "Anna"


def test_recipient_csv_keeps_formulas_as_text(viewer, demo_account):
    mailing_list = demo_account.lists.get(list_id=1)
    recipient = Recipient.objects.create(account=demo_account, email="formula@example.com", fields={"1": "=HYPERLINK(\"x\")"})
    Subscription.objects.create(recipient=recipient, list=mailing_list, status="subscribed", source="API")

    response = viewer.get("/console/lists/1/recipients.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))

    [row] = [row for row in rows[1:] if row[0] == "formula@example.com"]
    assert row[5] == "'=HYPERLINK(\"x\")"
