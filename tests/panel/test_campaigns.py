from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from lists import services as lists_services
from lists.models import Source
from sending import services as sending_services
from sending.models import Delivery, Message, Sending

pytestmark = pytest.mark.django_db

HTML = "<html><head><style>p { color: #c00 }</style></head><body><p>Ciao [nome]</p><a href='[unsubscribe]'>esci</a></body></html>"


def subscribe(account, email, group_ids=()):
    mailing_list = account.lists.get(list_id=1)
    request = lists_services.SubscribeRequest(
        account=account,
        lists=[mailing_list],
        contact=lists_services.Contact(email=email),
        source=Source.API,
        confirm=False,
        group_ids=list(group_ids),
    )
    lists_services.subscribe(request)


def compose(client, **overrides):
    form = {"list": "1", "subject": "Novità di dicembre", "preheader": "Solo per te", "html": HTML, "inline_css": "on"}
    form.update(overrides)
    return client.post("/console/messages/new", form)


def test_compose_inlines_css_and_generates_text(editor, demo_account):
    response = compose(editor)

    message = Message.objects.get(subject="Novità di dicembre")
    assert response.url == f"/console/messages/{message.pk}"
    assert 'style="color: #c00;"' in message.html
    assert "Ciao [nome]" in message.text
    assert message.preheader == "Solo per te"


@pytest.mark.parametrize("field", ["subject", "preheader"])
def test_compose_line_break_rejected(editor, demo_account, field):
    response = compose(editor, **{field: "Novità\r\nBcc: x@example.com"})

    assert response.status_code == 200
    assert "on one line" in response.content.decode() or "una sola riga" in response.content.decode()
    assert not Message.objects.exists()


def test_compose_page_offers_merge_tags(editor):
    page = editor.get("/console/messages/new").content.decode()

    assert 'value="[unsubscribe]"' in page
    assert 'value="[nome]"' in page


def test_checklist_flags_missing_unsubscribe_link(editor, demo_account):
    compose(editor, html="<p>No way out</p>")
    message = Message.objects.get()

    page = editor.get(f"/console/messages/{message.pk}", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "unsubscribe link" in page
    assert '<span class="badge bad">no</span> The HTML contains an unsubscribe link' in page


def test_target_count_follows_groups(editor, demo_account):
    clienti, prospect = demo_account.lists.get(list_id=1).groups.order_by("pk")
    subscribe(demo_account, "anna@example.com", [clienti.pk])
    subscribe(demo_account, "bruno@example.com", [prospect.pk])
    subscribe(demo_account, "carla@example.com", [clienti.pk, prospect.pk])
    compose(editor)
    message = Message.objects.get()
    url = f"/console/messages/{message.pk}/count"

    assert editor.get(url).json() == {"count": 3}
    assert editor.get(f"{url}?groups={clienti.pk}").json() == {"count": 2}
    assert editor.get(f"{url}?groups={clienti.pk}&excluded_groups={prospect.pk}").json() == {"count": 1}


def test_target_count_rejects_other_list_group(editor, demo_account):
    compose(editor)
    message = Message.objects.get()
    vip = demo_account.lists.get(list_id=2).groups.get()

    response = editor.get(f"/console/messages/{message.pk}/count?groups={vip.pk}")

    assert response.status_code == 400


def test_schedule_sending_for_later(editor, demo_account):
    compose(editor)
    message = Message.objects.get()

    response = editor.post(f"/console/messages/{message.pk}/send", {"scheduled_at": "2099-01-01T09:00"})

    sending = Sending.objects.get()
    assert response.url == f"/console/sendings/{sending.pk}"
    assert sending.status == Sending.Status.SCHEDULED


def test_schedule_too_late_rejected(editor, demo_account):
    compose(editor)
    message = Message.objects.get()

    response = editor.post(f"/console/messages/{message.pk}/send", {"scheduled_at": "9999-12-31T23:30"})

    assert response.url == f"/console/messages/{message.pk}"
    assert not Sending.objects.exists()


def test_test_send_reaches_only_subscribed_addresses(editor, demo_account):
    subscribe(demo_account, "anna@example.com")
    compose(editor)
    message = Message.objects.get()

    editor.post(f"/console/messages/{message.pk}/test", {"addresses": "anna@example.com, nobody@example.com"})

    sending = Sending.objects.get()
    assert list(sending.recipients.values_list("email", flat=True)) == ["anna@example.com"]


def test_pause_resume_stop_sending(editor, demo_account):
    compose(editor)
    sending = sending_services.queue_sending(Message.objects.get(), scheduled_at=None)
    Sending.objects.filter(pk=sending.pk).update(status=Sending.Status.SENDING)
    url = f"/console/sendings/{sending.pk}/action"

    editor.post(url, {"action": "pause"})
    paused = Sending.objects.get(pk=sending.pk).status
    editor.post(url, {"action": "resume"})
    resumed = Sending.objects.get(pk=sending.pk).status
    answer = editor.post(url, {"action": "stop"}, follow=True)
    stopped = Sending.objects.get(pk=sending.pk).status

    assert paused == Sending.Status.PAUSED
    assert resumed == Sending.Status.QUEUED
    assert stopped == Sending.Status.CANCELLED
    # The panel speaks Italian by default; a refused action would end with its error instead.
    assert [str(note) for note in answer.context["messages"]][-1] == "Invio aggiornato."


def test_viewer_cannot_send(viewer, editor, demo_account):
    compose(editor)
    message = Message.objects.get()

    response = viewer.post(f"/console/messages/{message.pk}/send", {})

    assert response.status_code == 403
    assert not Sending.objects.exists()


def test_sending_page_and_csv_export(viewer, editor, demo_account):
    subscribe(demo_account, "anna@example.com")
    compose(editor)
    sending = sending_services.queue_sending(Message.objects.get(), scheduled_at=None)
    recipient = demo_account.recipients.get(email="anna@example.com")
    Delivery.objects.create(sending=sending, recipient=recipient, to_email=recipient.email, status="delivered", source_ip="127.0.0.10")

    page = viewer.get(f"/console/sendings/{sending.pk}", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    export = b"".join(viewer.get(f"/console/sendings/{sending.pk}/deliveries.csv").streaming_content).decode()

    assert "<svg" in page
    assert "127.0.0.10" in page
    assert "anna@example.com,delivered" in export


@pytest.mark.parametrize("language", ["it", "en"])
def test_hour_chart_labels_are_localized(viewer, editor, demo_account, language):
    subscribe(demo_account, "anna@example.com")
    subscribe(demo_account, "bruno@example.com")
    compose(editor)
    sending = sending_services.queue_sending(Message.objects.get(), scheduled_at=None)
    for email, minute in [("anna@example.com", 5), ("bruno@example.com", 40)]:
        recipient = demo_account.recipients.get(email=email)
        delivered_at = datetime(2026, 12, 5, 14, minute, tzinfo=ZoneInfo("Europe/Rome"))
        Delivery.objects.create(
            sending=sending, recipient=recipient, to_email=email, status="delivered", delivered_at=delivered_at
        )

    page = viewer.get(f"/console/sendings/{sending.pk}", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    chart = page[page.index('id="hour-chart-title"') :].split("</svg>")[0]

    assert ">05/12/2026 14:00</text>" in chart
    assert ">2</text>" in chart
    assert "2026-12-05" not in chart


def test_list_statistics_and_csv(viewer, editor, demo_account):
    subscribe(demo_account, "anna@example.com")
    compose(editor)
    sending_services.queue_sending(Message.objects.get(), scheduled_at=None)

    page = viewer.get("/console/lists/1/statistics").content.decode()
    export = b"".join(viewer.get("/console/lists/1/statistics.csv").streaming_content).decode()

    assert "<svg" in page
    assert "Novità di dicembre" in page
    assert export.startswith("sending,subject,status")
